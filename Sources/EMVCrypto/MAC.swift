// Message authentication codes used by EMV: ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC", EMV Book 2
// Annex A1.2.1) with padding methods 1 and 2, and CMAC (NIST SP 800-38B) over AES or triple DES.

/// ISO/IEC 9797-1 padding method applied to data before a MAC or cryptogram is computed.
public enum MACPadding: Sendable {
    /// ISO/IEC 9797-1 padding method 1: zeros up to a block boundary (nothing if already aligned and non-empty).
    case method1
    /// ISO/IEC 9797-1 padding method 2: 80 then zeros up to a block boundary (always adds at least one byte).
    case method2

    /// Returns `data` padded to a multiple of `blockSize` bytes (8 for DES, 16 for AES) with this method.
    public func pad(_ data: [UInt8], blockSize: Int = 8) -> [UInt8] {
        switch self {
        case .method1:
            if !data.isEmpty && data.count % blockSize == 0 { return data }
            return data + [UInt8](repeating: 0, count: blockSize - data.count % blockSize)
        case .method2:
            var d = data + [0x80]
            if d.count % blockSize != 0 { d += [UInt8](repeating: 0, count: blockSize - d.count % blockSize) }
            return d
        }
    }
}

/// EMV message authentication codes: the ISO/IEC 9797-1 retail MAC and CMAC.
public enum MAC {
    /// ISO/IEC 9797-1 MAC algorithm 3 with a double-length DES key K = KL‖KR: CBC-DES under KL over all blocks,
    /// then the final block decrypted under KR and encrypted under KL. Returns the full 8-byte MAC.
    public static func retail(key: [UInt8], data: [UInt8], padding: MACPadding) throws -> [UInt8] {
        guard key.count == 16 else { throw CryptoError.invalidKeyLength(key.count) }
        let kl = Array(key[0..<8])
        let kr = Array(key[8..<16])
        let padded = padding.pad(data)
        let cbc = try BlockCipher.des(.cbc, encrypt: true, key: kl, data: padded)
        let last = Array(cbc.suffix(8))
        let d = try BlockCipher.des(.ecb, encrypt: false, key: kr, data: last)
        return try BlockCipher.des(.ecb, encrypt: true, key: kl, data: d)
    }

    /// CMAC (NIST SP 800-38B) over AES (16/24/32-byte key) or triple DES (16/24-byte key with `tdes: true`).
    public static func cmac(key: [UInt8], data: [UInt8], tdes: Bool = false) throws -> [UInt8] {
        let bs = tdes ? 8 : 16
        let rb: UInt8 = tdes ? 0x1B : 0x87
        func enc(_ b: [UInt8]) throws -> [UInt8] {
            tdes
                ? try BlockCipher.tdes(.ecb, encrypt: true, key: key, data: b)
                : try BlockCipher.aes(.ecb, encrypt: true, key: key, data: b)
        }
        func shift(_ b: [UInt8]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: b.count)
            for i in 0..<b.count { out[i] = b[i] << 1 | (i + 1 < b.count ? b[i + 1] >> 7 : 0) }
            if b[0] & 0x80 != 0 { out[b.count - 1] ^= rb }
            return out
        }
        let l = try enc([UInt8](repeating: 0, count: bs))
        let k1 = shift(l)
        let k2 = shift(k1)
        let n = max(1, (data.count + bs - 1) / bs)
        let complete = !data.isEmpty && data.count % bs == 0
        var last = Array(data[((n - 1) * bs)...])
        if complete {
            last = zip(last, k1).map { $0 ^ $1 }
        } else {
            last = MACPadding.method2.pad(last, blockSize: bs)
            last = zip(last, k2).map { $0 ^ $1 }
        }
        var x = [UInt8](repeating: 0, count: bs)
        for i in 0..<(n - 1) {
            let block = data[(i * bs)..<((i + 1) * bs)]
            x = try enc(zip(x, block).map { $0 ^ $1 })
        }
        return try enc(zip(x, last).map { $0 ^ $1 })
    }
}
