// The key that seals card data at rest (PAN, track 2, DE 55 inside stored messages): AES-256-GCM. It comes from
// a systemd credential ($CREDENTIALS_DIRECTORY/<name>, LoadCredential=) or from a file only its owner can read;
// a key file readable by group or others is refused. The cipher is libcrypto's (EMVCrypto.AESGCM), the same
// library the kernels use. Every sealed value names the key that sealed it (format 2: 0x02, the key's 4-byte id, then
// nonce, ciphertext and tag, the 5-byte header authenticated with the row); values of format 1 (no header, as the
// swift-crypto version wrote them) still open and are re-sealed when a journal is opened for writing.

import EMVCrypto
import Foundation
import Glibc
import TLV

/// The AES-256 key that seals card data in the journal (32 bytes).
public struct JournalKey: Sendable {
    private let raw: [UInt8]

    /// Why a journal key could not be loaded; thrown as `JournalError.key`.
    public enum KeyError: CustomStringConvertible, Equatable, Sendable {
        /// The key file at the path does not exist or cannot be read or created.
        case unreadable(String)
        /// The key is neither 32 raw bytes nor 64 hex digits (path, size in bytes).
        case wrongSize(String, Int)
        /// The key file may be read by group or others (path, the rule's reason).
        case tooOpen(String, String)
        /// The key-file rule refused it (a symbolic link, another owner, not a regular file).
        case refused(String, String)
        /// The error in words, with what to do about it.
        public var description: String {
            switch self {
            case .unreadable(let p): return "journal key \(p) cannot be read"
            case .wrongSize(let p, let n):
                return "journal key \(p) has \(n) bytes; 32 raw bytes or 64 hex digits are required"
            case .tooOpen(let p, _):
                return "journal key \(p) may be read by others; it must be mode 0600 or 0400 (chmod 600 \(p))"
            case .refused(let p, let why): return "journal key \(p) \(why)"
            }
        }
    }

    /// A key from its 32 raw bytes; throws `JournalError.key(.wrongSize)` for any other length.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == 32 else { throw JournalError.key(.wrongSize("(memory)", bytes.count)) }
        raw = bytes
    }

    /// A systemd credential when `$CREDENTIALS_DIRECTORY/credential` exists, else the file at `path`.
    /// `createIfMissing` writes a fresh random key with mode 0600 (first start of a new terminal).
    public static func load(path: String, credential: String = "journal.key", createIfMissing: Bool = false) throws
        -> JournalKey
    {
        if let dir = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"] {
            let p = dir + "/" + credential
            if FileManager.default.fileExists(atPath: p) { return try read(p) }
        }
        if !FileManager.default.fileExists(atPath: path) {
            guard createIfMissing else { throw JournalError.key(.unreadable(path)) }
            var rng = SystemRandomNumberGenerator()  // the kernel's CSPRNG
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else { throw JournalError.key(.unreadable(path)) }
            defer { close(fd) }
            guard write(fd, bytes, 32) == 32, fsync(fd) == 0 else { throw JournalError.key(.unreadable(path)) }
            return try JournalKey(bytes: bytes)
        }
        return try read(path)
    }

    /// Reads a key file under the one key-file rule (EMVCrypto.KeyFile): 32 raw bytes, or 64 hex digits.
    public static func read(_ path: String) throws -> JournalKey {
        let data: [UInt8]
        do { data = try KeyFile.read(path) } catch CryptoError.keyFileRefused(let e) {
            if e.why.contains("mode") { throw JournalError.key(.tooOpen(path, e.why)) }
            if e.why == "does not exist" { throw JournalError.key(.unreadable(path)) }
            throw JournalError.key(.refused(path, e.why))
        }
        if data.count == 32 { return try JournalKey(bytes: data) }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.count == 64, let bytes = Hex.decode(text) { return try JournalKey(bytes: bytes) }
        throw JournalError.key(.wrongSize(path, data.count))
    }

    /// The key's short id (first 4 bytes of its SHA-256, hex): names it in logs and `tapctl journal verify`
    /// without revealing it.
    public var id: String { Digest.sha256(raw).prefix(4).map { String(format: "%02x", $0) }.joined() }

    /// The key's id as bytes (the first 4 bytes of its SHA-256).
    var idBytes: [UInt8] { Array(Digest.sha256(raw).prefix(4)) }

    /// The first byte of a format-2 sealed value.
    static let sealedFormat2: UInt8 = 0x02
    /// Header (format byte + key id), nonce and tag: the shortest format-2 value.
    static let sealedFormat2Overhead = 5 + 12 + 16

    /// The id (hex) of the key that sealed `sealed`, or nil for a format-1 value that does not say.
    public static func keyID(of sealed: [UInt8]) -> String? {
        guard sealed.count >= sealedFormat2Overhead, sealed[0] == sealedFormat2 else { return nil }
        return Hex.encode(Array(sealed[1..<5])).lowercased()
    }

    /// AES-256-GCM, format 2: 0x02 ‖ key id (4) ‖ nonce ‖ ciphertext ‖ tag. The header and `context` (e.g. the row
    /// id) are authenticated, so a sealed value cannot be moved to another row, nor its key id changed, unnoticed.
    func seal(_ plaintext: [UInt8], context: String) throws -> [UInt8] {
        let header = [Self.sealedFormat2] + idBytes
        return header + (try AESGCM.seal(plaintext, key: raw, authenticating: header + Array(context.utf8)))
    }

    /// Opens a value of either format. A format-2 value sealed under another key throws `JournalError.wrongKey`
    /// naming both keys.
    func open(_ sealed: [UInt8], context: String) throws -> [UInt8] {
        let aad = Array(context.utf8)
        guard let sealedBy = Self.keyID(of: sealed) else {
            return try AESGCM.open(sealed, key: raw, authenticating: aad)
        }
        let header = Array(sealed[0..<5])
        if Array(sealed[1..<5]) == idBytes,
            let plain = try? AESGCM.open(Array(sealed[5...]), key: raw, authenticating: header + aad)
        {
            return plain
        }
        // A format-1 value whose random nonce happens to begin with 0x02 (1 in 256) is still format 1.
        if let plain = try? AESGCM.open(sealed, key: raw, authenticating: aad) { return plain }
        if sealedBy != id { throw JournalError.wrongKey(journalKeyID: sealedBy, configuredKeyID: id) }
        throw CryptoError.authenticationFailed
    }

    /// Whether `sealed` is a format-2 value of this key (a format-1 value is re-sealed on open).
    func sealedInCurrentFormat(_ sealed: [UInt8]) -> Bool { Self.keyID(of: sealed) == id }
}
