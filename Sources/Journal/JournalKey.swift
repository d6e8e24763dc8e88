// The key that seals card data at rest (PAN, track 2, DE 55 inside stored messages): AES-256-GCM. It comes from
// a systemd credential ($CREDENTIALS_DIRECTORY/<name>, LoadCredential=) or from a file only its owner can read;
// a key file readable by group or others is refused. The cipher is libcrypto's (EMVCrypto.AESGCM), the same
// library the kernels use; the sealed layout is unchanged from the swift-crypto version, so old journals open.
import Foundation
import Glibc
import EMVCrypto

public struct JournalKey: Sendable {
    private let raw: [UInt8]

    public enum KeyError: Error, CustomStringConvertible, Equatable {
        case unreadable(String)
        case wrongSize(String, Int)
        case tooOpen(String, String)
        public var description: String {
            switch self {
            case .unreadable(let p): return "journal key \(p) cannot be read"
            case .wrongSize(let p, let n): return "journal key \(p) has \(n) bytes; 32 are required"
            case .tooOpen(let p, let mode): return "journal key \(p) has mode \(mode); it must be 0600 or 0400 (chmod 600 \(p))"
            }
        }
    }

    public init(bytes: [UInt8]) throws {
        guard bytes.count == 32 else { throw KeyError.wrongSize("(memory)", bytes.count) }
        raw = bytes
    }

    /// A systemd credential when `$CREDENTIALS_DIRECTORY/credential` exists, else the file at `path`.
    /// `createIfMissing` writes a fresh random key with mode 0600 (first start of a new terminal).
    public static func load(path: String, credential: String = "journal.key", createIfMissing: Bool = false) throws -> JournalKey {
        if let dir = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"] {
            let p = dir + "/" + credential
            if FileManager.default.fileExists(atPath: p) { return try read(p, checkMode: false) }
        }
        if !FileManager.default.fileExists(atPath: path) {
            guard createIfMissing else { throw KeyError.unreadable(path) }
            var rng = SystemRandomNumberGenerator()          // the kernel's CSPRNG
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else { throw KeyError.unreadable(path) }
            defer { close(fd) }
            guard write(fd, bytes, 32) == 32, fsync(fd) == 0 else { throw KeyError.unreadable(path) }
            return try JournalKey(bytes: bytes)
        }
        return try read(path, checkMode: true)
    }

    static func read(_ path: String, checkMode: Bool) throws -> JournalKey {
        if checkMode {
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: path), let perm = attrs[.posixPermissions] as? Int else {
                throw KeyError.unreadable(path)
            }
            if perm & 0o077 != 0 { throw KeyError.tooOpen(path, String(perm, radix: 8)) }
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw KeyError.unreadable(path) }
        guard data.count == 32 else { throw KeyError.wrongSize(path, data.count) }
        return try JournalKey(bytes: Array(data))
    }

    /// AES-256-GCM: nonce ‖ ciphertext ‖ tag. `context` (e.g. the row id) is authenticated, so a sealed value
    /// cannot be moved to another row unnoticed.
    func seal(_ plaintext: [UInt8], context: String) throws -> [UInt8] {
        try AESGCM.seal(plaintext, key: raw, authenticating: Array(context.utf8))
    }

    func open(_ sealed: [UInt8], context: String) throws -> [UInt8] {
        try AESGCM.open(sealed, key: raw, authenticating: Array(context.utf8))
    }
}
