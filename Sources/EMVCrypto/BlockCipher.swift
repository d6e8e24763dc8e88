// DES, triple DES and AES in ECB and CBC without padding (EMV Book 2 Annex A1.1, B1), via libcrypto.
// Single DES is run as DES-EDE3 with K‖K‖K, which is the same function and stays inside OpenSSL 3's default
// provider (single DES lives in the legacy provider, which a hardened host may not load).
import COpenSSL

/// DES, triple DES and AES block encryption without padding; data must be a whole number of blocks or the call throws.
public enum BlockCipher {
    /// Block cipher mode: ECB, or CBC chained from the `iv` argument.
    public enum Mode: Sendable { case ecb, cbc }

    /// Triple DES with a 16-byte (K1‖K2) or 24-byte key; an 8-byte key gives single DES.
    public static func tdes(
        _ mode: Mode, encrypt: Bool, key: [UInt8], iv: [UInt8] = [UInt8](repeating: 0, count: 8),
        data: [UInt8]
    ) throws -> [UInt8] {
        let k: [UInt8]
        switch key.count {
        case 8: k = key + key + key
        case 16: k = key + key.prefix(8)
        case 24: k = key
        default: throw CryptoError.invalidKeyLength(key.count)
        }
        guard data.count % 8 == 0 else { throw CryptoError.invalidDataLength(data.count) }
        let cipher = mode == .ecb ? EVP_des_ede3_ecb() : EVP_des_ede3_cbc()
        return try run(cipher, key: k, iv: mode == .cbc ? iv : nil, data: data, encrypt: encrypt)
    }

    /// Single DES (8-byte key).
    public static func des(
        _ mode: Mode, encrypt: Bool, key: [UInt8], iv: [UInt8] = [UInt8](repeating: 0, count: 8),
        data: [UInt8]
    ) throws -> [UInt8] {
        guard key.count == 8 else { throw CryptoError.invalidKeyLength(key.count) }
        return try tdes(mode, encrypt: encrypt, key: key, iv: iv, data: data)
    }

    /// AES-128/192/256.
    public static func aes(
        _ mode: Mode, encrypt: Bool, key: [UInt8], iv: [UInt8] = [UInt8](repeating: 0, count: 16),
        data: [UInt8]
    ) throws -> [UInt8] {
        guard data.count % 16 == 0 else { throw CryptoError.invalidDataLength(data.count) }
        let cipher: OpaquePointer?
        switch (key.count, mode) {
        case (16, .ecb): cipher = EVP_aes_128_ecb()
        case (16, .cbc): cipher = EVP_aes_128_cbc()
        case (24, .ecb): cipher = EVP_aes_192_ecb()
        case (24, .cbc): cipher = EVP_aes_192_cbc()
        case (32, .ecb): cipher = EVP_aes_256_ecb()
        case (32, .cbc): cipher = EVP_aes_256_cbc()
        default: throw CryptoError.invalidKeyLength(key.count)
        }
        return try run(cipher, key: key, iv: mode == .cbc ? iv : nil, data: data, encrypt: encrypt)
    }

    private static func run(_ cipher: OpaquePointer?, key: [UInt8], iv: [UInt8]?, data: [UInt8], encrypt: Bool) throws
        -> [UInt8]
    {
        guard let cipher, let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.openssl("cipher unavailable") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        if let iv, iv.count != Int(EVP_CIPHER_get_iv_length(cipher)) { throw CryptoError.invalidDataLength(iv.count) }
        guard EVP_CipherInit_ex(ctx, cipher, nil, key, iv, encrypt ? 1 : 0) == 1 else {
            throw CryptoError.openssl("cipher init failed")
        }
        EVP_CIPHER_CTX_set_padding(ctx, 0)
        var out = [UInt8](repeating: 0, count: data.count + 32)
        var n: Int32 = 0
        var total = 0
        let ok = data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                guard EVP_CipherUpdate(ctx, dst.baseAddress, &n, src.baseAddress, Int32(src.count)) == 1 else {
                    return false
                }
                total = Int(n)
                guard EVP_CipherFinal_ex(ctx, dst.baseAddress! + total, &n) == 1 else { return false }
                total += Int(n)
                return true
            }
        }
        guard ok else { throw CryptoError.openssl("cipher operation failed") }
        return Array(out.prefix(total))
    }
}

/// Sets odd parity on every byte of a DES key (FIPS 46-3; EMV Book 2 A1.4 "adjusted for odd parity").
public func adjustOddParity(_ key: [UInt8]) -> [UInt8] {
    key.map { b in
        let ones = (b & 0xFE).nonzeroBitCount
        return ones % 2 == 0 ? (b | 0x01) : (b & 0xFE)
    }
}

/// Key check value: the leftmost `count` bytes of the key encrypting a zero block.
public func keyCheckValue(_ key: [UInt8], count: Int = 3) throws -> [UInt8] {
    if key.count == 16 || key.count == 24 || key.count == 8 {
        return Array(
            try BlockCipher.tdes(.ecb, encrypt: true, key: key, data: [UInt8](repeating: 0, count: 8)).prefix(count))
    }
    return Array(
        try BlockCipher.aes(.ecb, encrypt: true, key: key, data: [UInt8](repeating: 0, count: 16)).prefix(count))
}
