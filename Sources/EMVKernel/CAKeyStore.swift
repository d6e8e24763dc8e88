// The certification authority public keys the terminal trusts (EMV Book 2 §11.2). Keys come from files in a
// documented format (Sources/EMVKernel/CAKeys/*.capk); every checksum is recomputed on load, duplicates of
// (RID, index) are rejected, expiry dates are known, and revoked issuer certificates are listed by
// (RID, index, certificate serial number). Public lists contain wrong checksums and duplicate entries
// (seen in several published key lists), so nothing is trusted as written.

import EMVCrypto
import Foundation
import TLV

public struct CAPublicKey: Sendable, Equatable {
    public let rid: [UInt8]
    public let index: UInt8
    public let key: RSAPublicKey
    /// Last day of use; nil when no date is known.
    public let expiry: EMVDate?
    public let checksum: [UInt8]
    public let label: String
    /// Whether the key came from a test key file.
    public let isTest: Bool

    /// Book 2 v4.4 §5.1 / §11.2: an EMV public key exponent is 3 or 2^16 + 1 (leading zero bytes aside).
    public static func isAllowedExponent(_ e: [UInt8]) -> Bool {
        let v = Array(e.drop(while: { $0 == 0 }))
        return v == [0x03] || v == [0x01, 0x00, 0x01]
    }

    /// Book 2 §11.2.2: SHA-1(RID ‖ index ‖ modulus ‖ exponent).
    public static func checksum(rid: [UInt8], index: UInt8, modulus: [UInt8], exponent: [UInt8]) -> [UInt8] {
        Digest.sha1(parts: [rid, [index], modulus, exponent])
    }
}

/// A CA public key on the SM2 curve (PBOC 3.0 part 17 §5.1: a CA key whose algorithm indicator is 04), the key an
/// SM2 issuer certificate (format 12) is verified with. tapd's key files carry it with "SM2" in the exponent column
/// and the point X ‖ Y in the modulus column; its checksum is SHA-1(RID ‖ index ‖ X ‖ Y), as for RSA keys (no public
/// key list gives a check value for SM2 CA keys, so this is tapd's file convention).
public struct SM2CAPublicKey: Sendable, Equatable {
    public let rid: [UInt8]
    public let index: UInt8
    public let key: NationalAlgorithms.SM2PublicKey
    public let expiry: EMVDate?
    public let checksum: [UInt8]
    public let label: String
    public let isTest: Bool
}

public struct CAKeyID: Hashable, Sendable, CustomStringConvertible {
    public let rid: [UInt8]
    public let index: UInt8
    public init(rid: [UInt8], index: UInt8) {
        self.rid = rid
        self.index = index
    }
    public var description: String { "\(Hex.encode(rid))/\(Hex.encode([index]))" }
}

public struct Revocation: Hashable, Sendable {
    public let key: CAKeyID
    public let serial: [UInt8]
}

public struct CAKeyFileError: Error, Equatable, Sendable, CustomStringConvertible {
    public let source: String
    public let line: Int
    public let message: String
    public var description: String { "\(source):\(line): \(message)" }
}

/// The operator's key file (`terminal.ca_keys`) could not be read.
public struct CAKeyFileUnreadable: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public var description: String { "\(path) cannot be read" }
}

public struct CAKeyStore: Sendable {
    public private(set) var keys: [CAKeyID: CAPublicKey] = [:]
    public private(set) var revocations: Set<Revocation> = []
    /// SM2 CA keys (PBOC 3.0), by the same (RID, index) namespace as the RSA keys: one index is one key.
    public private(set) var sm2Keys: [CAKeyID: SM2CAPublicKey] = [:]

    public init() {}

    /// The SM2 CA key named by RID and index, nil when the index names an RSA key or none.
    public func sm2Key(rid: some Collection<UInt8>, index: UInt8) -> SM2CAPublicKey? {
        sm2Keys[CAKeyID(rid: Array(rid), index: index)]
    }

    /// Whether any key, RSA or SM2, is loaded under (RID, index).
    public func hasKey(rid: some Collection<UInt8>, index: UInt8) -> Bool {
        key(rid: rid, index: index) != nil || sm2Key(rid: rid, index: index) != nil
    }

    public func key(rid: some Collection<UInt8>, index: UInt8) -> CAPublicKey? {
        keys[CAKeyID(rid: Array(rid), index: index)]
    }

    public func isRevoked(rid: [UInt8], index: UInt8, serial: [UInt8]) -> Bool {
        revocations.contains(Revocation(key: CAKeyID(rid: rid, index: index), serial: serial))
    }

    /// Whether any test key is loaded (a production host must have none; diagnostics fail it).
    public var containsTestKeys: Bool {
        keys.values.contains(where: \.isTest) || sm2Keys.values.contains(where: \.isTest)
    }

    /// A short fingerprint of the loaded set, for diagnostics: SHA-256 over the sorted (RID, index, checksum).
    public var fingerprint: String {
        let parts = keys.values.sorted {
            ($0.rid.lexicographicallyPrecedes($1.rid)) || ($0.rid == $1.rid && $0.index < $1.index)
        }
        .map { $0.rid + [$0.index] + $0.checksum }
        let sm2 = sm2Keys.values.sorted { ($0.rid + [$0.index]).lexicographicallyPrecedes($1.rid + [$1.index]) }
            .map { $0.rid + [$0.index] + $0.checksum }
        return Hex.encode(Digest.sha256((parts + sm2).flatMap { $0 }).prefix(8))
    }

    /// Adds the keys of one file. The whole file is rejected at its first bad line, which the error names.
    /// A (RID, index) twice in one file is always an error. A key already loaded from an earlier file is an
    /// error too, unless `replacingLoaded` is set: the operator's own list (`terminal.ca_keys`, usually the
    /// acquirer's key download) is authoritative over the bundled keys — its dates and its moduli win.
    /// Returns the keys that were replaced.
    @discardableResult
    public mutating func load(text: String, source: String, isTest: Bool, replacingLoaded: Bool = false) throws
        -> [CAKeyID]
    {
        var added: [CAKeyID: CAPublicKey] = [:]
        var addedSM2: [CAKeyID: SM2CAPublicKey] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = n + 1
            let t = raw.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("#") { continue }
            func fail(_ m: String) -> CAKeyFileError { CAKeyFileError(source: source, line: line, message: m) }
            let f = t.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard f.count >= 6 else {
                throw fail("expected RID INDEX EXPONENT EXPIRY MODULUS CHECKSUM, found \(f.count) fields")
            }
            guard let rid = [UInt8](hex: f[0]), rid.count == 5 else {
                throw fail("RID must be 5 bytes of hex, found \"\(f[0])\"")
            }
            guard let idx = [UInt8](hex: f[1]), idx.count == 1 else {
                throw fail("INDEX must be 1 byte of hex, found \"\(f[1])\"")
            }
            let isSM2 = f[2].uppercased() == "SM2"
            let exp = isSM2 ? [] : [UInt8](hex: f[2]) ?? []
            guard isSM2 || CAPublicKey.isAllowedExponent(exp) else {
                throw fail("EXPONENT must be 03, 010001 or SM2, found \"\(f[2])\"")
            }
            var expiry: EMVDate? = nil
            if f[3] != "-" {
                guard let d = EMVDate(iso: f[3]) else {
                    throw fail("EXPIRY must be YYYY-MM-DD or -, found \"\(f[3])\"")
                }
                expiry = d
            }
            guard let mod = [UInt8](hex: f[4]), isSM2 ? mod.count == 64 : (mod.count >= 64 && mod.count <= 256) else {
                throw fail(
                    isSM2 ? "an SM2 key is the point X ‖ Y, 64 bytes of hex" : "MODULUS must be 64 to 256 bytes of hex")
            }
            guard let chk = [UInt8](hex: f[5]), chk.count == 20 else { throw fail("CHECKSUM must be 20 bytes of hex") }
            let computed = CAPublicKey.checksum(rid: rid, index: idx[0], modulus: mod, exponent: exp)
            guard computed == chk else {
                throw fail(
                    "checksum mismatch for \(Hex.encode(rid))/\(Hex.encode(idx)): file says \(Hex.encode(chk)), key data gives \(Hex.encode(computed))"
                )
            }
            let id = CAKeyID(rid: rid, index: idx[0])
            if added[id] != nil || addedSM2[id] != nil { throw fail("duplicate key \(id)") }
            if (keys[id] != nil || sm2Keys[id] != nil) && !replacingLoaded {
                throw fail("duplicate key \(id): already loaded from an earlier file")
            }
            if isSM2 {
                let point: NationalAlgorithms.SM2PublicKey
                do { point = try .init(point: mod) } catch { throw fail("unusable key: \(error)") }
                addedSM2[id] = SM2CAPublicKey(
                    rid: rid, index: idx[0], key: point, expiry: expiry, checksum: chk,
                    label: f.dropFirst(6).joined(separator: " "), isTest: isTest)
                continue
            }
            let rsa: RSAPublicKey
            do { rsa = try RSAPublicKey(modulus: mod, exponent: exp) } catch { throw fail("unusable key: \(error)") }
            added[id] = CAPublicKey(
                rid: rid, index: idx[0], key: rsa, expiry: expiry, checksum: chk,
                label: f.dropFirst(6).joined(separator: " "), isTest: isTest)
        }
        let replaced = (Array(added.keys) + Array(addedSM2.keys)).filter { keys[$0] != nil || sm2Keys[$0] != nil }
            .sorted { $0.description < $1.description }
        // A replacement may change a key's algorithm: the old entry of either kind goes.
        for id in replaced {
            keys[id] = nil
            sm2Keys[id] = nil
        }
        keys.merge(added) { _, new in new }
        sm2Keys.merge(addedSM2) { _, new in new }
        return replaced
    }

    /// Adds a revocation list (RID INDEX SERIAL per line).
    public mutating func loadRevocations(text: String, source: String) throws {
        var added: Set<Revocation> = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = raw.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("#") { continue }
            let f = t.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard f.count >= 3, let rid = [UInt8](hex: f[0]), rid.count == 5, let idx = [UInt8](hex: f[1]),
                idx.count == 1,
                let serial = [UInt8](hex: f[2]), serial.count == 3
            else {
                throw CAKeyFileError(
                    source: source, line: n + 1,
                    message: "expected RID (5 bytes) INDEX (1 byte) SERIAL (3 bytes) in hex")
            }
            added.insert(Revocation(key: CAKeyID(rid: rid, index: idx[0]), serial: serial))
        }
        revocations.formUnion(added)
    }

    /// Adds one key directly (replay files, the simulators' test CA); its checksum is computed here.
    public mutating func add(
        rid: [UInt8], index: UInt8, key: RSAPublicKey, expiry: EMVDate? = nil, label: String, isTest: Bool
    ) throws {
        let id = CAKeyID(rid: rid, index: index)
        guard rid.count == 5 else { throw CAKeyFileError(source: label, line: 0, message: "RID must be 5 bytes") }
        guard CAPublicKey.isAllowedExponent(key.exponent) else {
            throw CAKeyFileError(
                source: label, line: 0, message: "exponent \(Hex.encode(key.exponent)) is neither 3 nor 65537")
        }
        guard !hasKey(rid: rid, index: index) else {
            throw CAKeyFileError(source: label, line: 0, message: "duplicate key \(id)")
        }
        keys[id] = CAPublicKey(
            rid: rid, index: index, key: key, expiry: expiry,
            checksum: CAPublicKey.checksum(rid: rid, index: index, modulus: key.modulus, exponent: key.exponent),
            label: label, isTest: isTest)
    }

    /// Adds one SM2 CA key directly (the simulators' SM2 test CA); its checksum is computed here.
    public mutating func addSM2(
        rid: [UInt8], index: UInt8, key: NationalAlgorithms.SM2PublicKey, expiry: EMVDate? = nil, label: String,
        isTest: Bool
    ) throws {
        let id = CAKeyID(rid: rid, index: index)
        guard rid.count == 5 else { throw CAKeyFileError(source: label, line: 0, message: "RID must be 5 bytes") }
        guard !hasKey(rid: rid, index: index) else {
            throw CAKeyFileError(source: label, line: 0, message: "duplicate key \(id)")
        }
        sm2Keys[id] = SM2CAPublicKey(
            rid: rid, index: index, key: key, expiry: expiry,
            checksum: CAPublicKey.checksum(rid: rid, index: index, modulus: key.point, exponent: []), label: label,
            isTest: isTest)
    }

    /// The key files shipped with tapd: production keys always, test keys only when asked for.
    public static func bundled(includeTestKeys: Bool) throws -> CAKeyStore {
        var s = CAKeyStore()
        try s.load(text: try bundledFile("production", "capk"), source: "production.capk", isTest: false)
        if includeTestKeys {
            try s.load(text: try bundledFile("test", "capk"), source: "test.capk", isTest: true)
        }
        try s.loadRevocations(text: try bundledFile("revoked", "crl"), source: "revoked.crl")
        return s
    }

    /// The keys a terminal trusts: the bundled ones (test keys only when asked for), then the operator's own list
    /// (`terminal.ca_keys`, usually the acquirer's key download), whose keys replace bundled keys with the same RID
    /// and index. `read` gives a file's text, nil when it cannot be read: the daemon reads the file system,
    /// `tapctl diagnose` reads through its root. Returns the store and the bundled keys the list replaced.
    public static func terminal(
        includeTestKeys: Bool, operatorFile: String?,
        read: (String) -> String?
    ) throws -> (store: CAKeyStore, replaced: [CAKeyID]) {
        var store = try bundled(includeTestKeys: includeTestKeys)
        guard let path = operatorFile else { return (store, []) }
        guard let text = read(path) else { throw CAKeyFileUnreadable(path: path) }
        let replaced = try store.load(text: text, source: path, isTest: false, replacingLoaded: true)
        return (store, replaced)
    }

    static func bundledFile(_ name: String, _ ext: String) throws -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "CAKeys") else {
            throw CAKeyFileError(
                source: "\(name).\(ext)", line: 0, message: "bundled key file is missing from the installation")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }
}
