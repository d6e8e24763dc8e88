// AES-GCM (NIST SP 800-38D) from libcrypto: the authenticated encryption that seals card data at rest in the
// journal. The sealed form is nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes) — the layout of swift-crypto's
// `AES.GCM.SealedBox.combined`, which the journal used before, so values sealed then still open (tested).
import COpenSSL

/// AES-GCM authenticated encryption that seals card data at rest as nonce ‖ ciphertext ‖ tag.
public enum AESGCM {
    /// Length in bytes of the random nonce at the front of a sealed value.
    public static let nonceSize = 12
    /// Length in bytes of the authentication tag at the end of a sealed value.
    public static let tagSize = 16

    /// Seals `plaintext` under `key` (16, 24 or 32 bytes), authenticating `aad` as well. The nonce is 96 random
    /// bits from libcrypto's CSPRNG unless given (tests with published vectors); SP 800-38D §8.2.2 bounds one key
    /// to 2^32 random-nonce invocations, far beyond a terminal's journal.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], authenticating aad: [UInt8] = [], nonce: [UInt8]? = nil)
        throws -> [UInt8]
    {
        let iv = nonce ?? secureRandomBytes(nonceSize)
        guard iv.count == nonceSize else { throw CryptoError.invalidDataLength(iv.count) }
        let ctx = try context(key: key, iv: iv, encrypt: true)
        defer { EVP_CIPHER_CTX_free(ctx) }
        try feedAAD(ctx, aad)
        var out = iv + [UInt8](repeating: 0, count: plaintext.count + tagSize)
        var n: Int32 = 0
        let ok = out.withUnsafeMutableBufferPointer { dst -> Bool in
            let body = dst.baseAddress! + nonceSize
            if !plaintext.isEmpty {
                guard
                    plaintext.withUnsafeBufferPointer({
                        EVP_EncryptUpdate(ctx, body, &n, $0.baseAddress, Int32($0.count))
                    }) == 1,
                    Int(n) == plaintext.count
                else { return false }
            }
            guard EVP_EncryptFinal_ex(ctx, body + plaintext.count, &n) == 1, n == 0 else { return false }
            return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, Int32(tagSize), body + plaintext.count) == 1
        }
        guard ok else { throw CryptoError.openssl("AES-GCM seal failed") }
        return out
    }

    /// Opens a sealed value; a wrong key, a changed byte or different `aad` is `CryptoError.authenticationFailed`.
    public static func open(_ sealed: [UInt8], key: [UInt8], authenticating aad: [UInt8] = []) throws -> [UInt8] {
        guard sealed.count >= nonceSize + tagSize else { throw CryptoError.invalidDataLength(sealed.count) }
        let iv = Array(sealed.prefix(nonceSize))
        let body = Array(sealed[nonceSize..<(sealed.count - tagSize)])
        var tag = Array(sealed.suffix(tagSize))
        let ctx = try context(key: key, iv: iv, encrypt: false)
        defer { EVP_CIPHER_CTX_free(ctx) }
        try feedAAD(ctx, aad)
        var out = [UInt8](repeating: 0, count: body.count + 16)
        var n: Int32 = 0
        if !body.isEmpty {
            let ok = body.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer {
                    EVP_DecryptUpdate(ctx, $0.baseAddress, &n, src.baseAddress, Int32(src.count))
                }
            }
            guard ok == 1, Int(n) == body.count else { throw CryptoError.openssl("AES-GCM open failed") }
        }
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, Int32(tagSize), &tag) == 1 else {
            throw CryptoError.openssl("AES-GCM tag")
        }
        // The tag is compared in EVP_DecryptFinal_ex (constant time inside libcrypto); nothing is returned unless it matches.
        let final = out.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(ctx, $0.baseAddress! + body.count, &n) }
        guard final == 1 else {
            out.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = 0 } }
            throw CryptoError.authenticationFailed
        }
        return Array(out.prefix(body.count))
    }

    private static func context(key: [UInt8], iv: [UInt8], encrypt: Bool) throws -> OpaquePointer {
        let cipher: OpaquePointer?
        switch key.count {
        case 16: cipher = EVP_aes_128_gcm()
        case 24: cipher = EVP_aes_192_gcm()
        case 32: cipher = EVP_aes_256_gcm()
        default: throw CryptoError.invalidKeyLength(key.count)
        }
        guard let cipher, let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.openssl("AES-GCM unavailable") }
        // 12 bytes is GCM's default IV length (SP 800-38D §5.2.1.1), so the key and IV go in with the cipher.
        guard EVP_CipherInit_ex(ctx, cipher, nil, key, iv, encrypt ? 1 : 0) == 1 else {
            EVP_CIPHER_CTX_free(ctx)
            throw CryptoError.openssl("AES-GCM init failed")
        }
        return ctx
    }

    private static func feedAAD(_ ctx: OpaquePointer, _ aad: [UInt8]) throws {
        guard !aad.isEmpty else { return }
        var n: Int32 = 0
        guard aad.withUnsafeBufferPointer({ EVP_CipherUpdate(ctx, nil, &n, $0.baseAddress, Int32($0.count)) }) == 1
        else {
            throw CryptoError.openssl("AES-GCM associated data")
        }
    }
}
