// China's national algorithms, which PBOC 3.0 cards may use instead of RSA, SHA-1 and triple DES: SM3 (hash,
// GB/T 32905), SM4 (128-bit block cipher, GB/T 32907) and SM2 (elliptic-curve signatures, GB/T 32918). All three
// come from the system libcrypto (OpenSSL 3's default provider); nothing here implements an algorithm.
import COpenSSL

/// SM3, SM4 and SM2 from libcrypto.
public enum NationalAlgorithms {
    nonisolated(unsafe) private static let sm3MD: OpaquePointer? = EVP_MD_fetch(nil, "SM3", nil)
    nonisolated(unsafe) private static let sm4ECB: OpaquePointer? = EVP_CIPHER_fetch(nil, "SM4-ECB", nil)
    nonisolated(unsafe) private static let sm4CBC: OpaquePointer? = EVP_CIPHER_fetch(nil, "SM4-CBC", nil)

    /// GB/T 32918.2 §5.5: the distinguishing identifier a signer uses when none is agreed, "1234567812345678".
    public static let defaultSignerID: [UInt8] = Array("1234567812345678".utf8)

    /// The 32-byte SM3 hash of `data`.
    public static func sm3(_ data: [UInt8]) throws -> [UInt8] {
        guard let md = sm3MD, let ctx = EVP_MD_CTX_new() else { throw CryptoError.openssl("SM3 unavailable") }
        defer { EVP_MD_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        let ok = data.withUnsafeBytes {
            EVP_DigestInit_ex(ctx, md, nil) == 1 && EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) == 1
                && EVP_DigestFinal_ex(ctx, &out, &len) == 1
        }
        guard ok, len == 32 else { throw CryptoError.openssl("SM3 failed") }
        return out
    }

    /// SM4 in ECB or CBC without padding: a 16-byte key, data a whole number of 16-byte blocks.
    public static func sm4(
        _ mode: BlockCipher.Mode, encrypt: Bool, key: [UInt8], iv: [UInt8] = [UInt8](repeating: 0, count: 16),
        data: [UInt8]
    ) throws -> [UInt8] {
        guard key.count == 16 else { throw CryptoError.invalidKeyLength(key.count) }
        guard data.count % 16 == 0 else { throw CryptoError.invalidDataLength(data.count) }
        guard let cipher = mode == .ecb ? sm4ECB : sm4CBC, let ctx = EVP_CIPHER_CTX_new() else {
            throw CryptoError.openssl("SM4 unavailable")
        }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: data.count + 16)
        var n1: Int32 = 0
        var n2: Int32 = 0
        let ok = key.withUnsafeBufferPointer { k in
            iv.withUnsafeBufferPointer { v in
                data.withUnsafeBufferPointer { d in
                    EVP_CipherInit_ex(
                        ctx, cipher, nil, k.baseAddress, mode == .cbc ? v.baseAddress : nil, encrypt ? 1 : 0)
                        == 1 && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1
                        && EVP_CipherUpdate(ctx, &out, &n1, d.baseAddress, Int32(d.count)) == 1
                }
            }
        }
        guard ok else { throw CryptoError.openssl("SM4 failed") }
        let finished = out.withUnsafeMutableBufferPointer { EVP_CipherFinal_ex(ctx, $0.baseAddress! + Int(n1), &n2) }
        guard finished == 1 else { throw CryptoError.openssl("SM4 failed") }
        return Array(out.prefix(Int(n1 + n2)))
    }

    /// ISO/IEC 9797-1 MAC algorithm 1 with SM4 as the block cipher (a CBC-MAC over 16-byte blocks, IV zero): the
    /// last cipher block, 16 bytes. PBOC 3.0 cryptograms and MACs under SM4 use this with padding method 2.
    public static func sm4MAC(key: [UInt8], data: [UInt8], padding: MACPadding) throws -> [UInt8] {
        let cbc = try sm4(.cbc, encrypt: true, key: key, data: padding.pad(data, blockSize: 16))
        return Array(cbc.suffix(16))
    }

    /// An SM2 public key: the curve point X ‖ Y, 64 bytes.
    public struct SM2PublicKey: Sendable, Equatable {
        /// X ‖ Y, 32 bytes each.
        public let point: [UInt8]
        /// A key from X ‖ Y; throws unless 64 bytes (whether it is on the curve is checked when it is used).
        public init(point: [UInt8]) throws {
            guard point.count == 64 else { throw CryptoError.invalidKey("an SM2 public key is 64 bytes (X ‖ Y)") }
            self.point = point
        }
    }

    /// An SM2 key pair (test keys of the simulators; a terminal only ever holds public keys).
    public struct SM2KeyPair: Sendable {
        /// The public half.
        public let publicKey: SM2PublicKey
        let privateKey: [UInt8]

        /// A fresh key pair on the SM2 curve.
        public static func generate() throws -> SM2KeyPair {
            var pub = [UInt8](repeating: 0, count: 64)
            var priv = [UInt8](repeating: 0, count: 32)
            guard tapd_sm2_generate(&pub, &priv) == 1 else { throw CryptoError.openssl("SM2 key generation failed") }
            return try SM2KeyPair(publicKey: try SM2PublicKey(point: pub), privateKey: priv)
        }

        /// A key pair from X ‖ Y and d (exported test keys).
        public init(publicKey: SM2PublicKey, privateKey: [UInt8]) throws {
            guard privateKey.count == 32 else { throw CryptoError.invalidKeyLength(privateKey.count) }
            self.publicKey = publicKey
            self.privateKey = privateKey
        }

        /// The private key d, for exporting a TEST key pair to a fixture file shared between processes.
        public var privateKeyForTestFixtures: [UInt8] { privateKey }

        /// GB/T 32918.2 signature r ‖ s (64 bytes) of `message` with the signer identifier `id`.
        public func sign(_ message: [UInt8], id: [UInt8] = NationalAlgorithms.defaultSignerID) throws -> [UInt8] {
            var sig = [UInt8](repeating: 0, count: 64)
            let ok = tapd_sm2_sign(publicKey.point, privateKey, message, message.count, id, id.count, &sig)
            guard ok == 1 else { throw CryptoError.openssl("SM2 signing failed") }
            return sig
        }
    }

    /// Whether `signature` (r ‖ s) is a valid GB/T 32918.2 signature of `message` by `key` with identifier `id`.
    /// Throws when the key is not a point of the curve or the signature is not 64 bytes.
    public static func sm2Verify(
        _ signature: [UInt8], of message: [UInt8], key: SM2PublicKey, id: [UInt8] = defaultSignerID
    ) throws -> Bool {
        guard signature.count == 64 else { throw CryptoError.invalidDataLength(signature.count) }
        switch tapd_sm2_verify(key.point, message, message.count, id, id.count, signature) {
        case 1: return true
        case 0: return false
        default: throw CryptoError.invalidKey("the SM2 public key is not a point of the curve")
        }
    }
}
