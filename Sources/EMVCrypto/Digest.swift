// SHA-1 (EMV Book 2 Annex B3.1, the ODA and CAPK checksum hash) and SHA-256, from libcrypto.
import COpenSSL

/// SHA-1 and SHA-256 hashes from libcrypto.
public enum Digest {
    /// Fetched once: implicit fetches on every call cost more than hashing a certificate.
    nonisolated(unsafe) private static let sha1MD: OpaquePointer? = EVP_MD_fetch(nil, "SHA1", nil)
    nonisolated(unsafe) private static let sha256MD: OpaquePointer? = EVP_MD_fetch(nil, "SHA256", nil)

    /// The 20-byte SHA-1 hash of `data`.
    public static func sha1(_ data: [UInt8]) -> [UInt8] { digest(sha1MD, 20, [data]) }
    /// HMAC-SHA-256 (RFC 2104) of `data` under `key`, from libcrypto: a keyed hash nobody without the key can
    /// recompute (a card's identity for a freeze: PCI DSS 3.5.1.1).
    public static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        _ = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                HMAC(
                    EVP_sha256(), k.baseAddress, Int32(key.count), d.bindMemory(to: UInt8.self).baseAddress, d.count,
                    &out, &length)
            }
        }
        return Array(out.prefix(Int(length)))
    }

    /// The 32-byte SHA-256 hash of `data`.
    public static func sha256(_ data: [UInt8]) -> [UInt8] { digest(sha256MD, 32, [data]) }

    /// SHA-1 over several pieces without concatenating them first.
    public static func sha1<S: Sequence>(parts: S) -> [UInt8] where S.Element == [UInt8] {
        digest(sha1MD, 20, parts)
    }

    /// Incremental SHA-1 for hashing data that arrives in pieces (CDA transaction data hash).
    public final class SHA1Context {
        private let ctx: OpaquePointer
        /// Starts an empty SHA-1 computation.
        public init() {
            ctx = EVP_MD_CTX_new()
            EVP_DigestInit_ex(ctx, Digest.sha1MD, nil)
        }
        deinit { EVP_MD_CTX_free(ctx) }
        /// Feeds the next piece of data into the hash.
        public func update(_ data: some Collection<UInt8>) {
            let a = Array(data)
            a.withUnsafeBytes { _ = EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) }
        }
        /// The 20-byte SHA-1 of everything fed so far; call it once, after the last `update`.
        public func finish() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 20)
            var len: UInt32 = 0
            EVP_DigestFinal_ex(ctx, &out, &len)
            return out
        }
    }

    private static func digest<S: Sequence>(_ md: OpaquePointer?, _ size: Int, _ parts: S) -> [UInt8]
    where S.Element == [UInt8] {
        guard let md, let ctx = EVP_MD_CTX_new() else { fatalError("libcrypto: cannot create a digest context") }
        defer { EVP_MD_CTX_free(ctx) }
        EVP_DigestInit_ex(ctx, md, nil)
        for p in parts { p.withUnsafeBytes { _ = EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) } }
        var out = [UInt8](repeating: 0, count: size)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &out, &len)
        return out
    }
}
