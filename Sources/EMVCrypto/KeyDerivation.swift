// EMV key derivation (EMV 4.4 Book 2 Annex A1.3 and A1.4).

/// EMV key derivation: ICC master keys from an issuer master key and the PAN, and application session keys.
public enum KeyDerivation {
    /// Book 2 A1.4.1 Option A: Y = the 16 rightmost digits of PAN ‖ PAN Sequence Number (left-padded with 0 when
    /// shorter), packed in 8 bytes; MK = 3DES(IMK)[Y] ‖ 3DES(IMK)[Y ⊕ FF…FF], with odd parity.
    public static func iccMasterKeyOptionA(
        issuerMasterKey imk: [UInt8], pan: String, panSequenceNumber psn: String = "00"
    ) throws -> [UInt8] {
        let x = pan + (psn.isEmpty ? "00" : psn)
        guard x.allSatisfy(\.isASCII), x.allSatisfy(\.isNumber) else {
            throw CryptoError.invalidKey("PAN and PSN must be digits")
        }
        let digits = String(repeating: "0", count: max(0, 16 - x.count)) + String(x.suffix(16))
        return try derive(imk, y: pack(digits))
    }

    /// Book 2 A1.4.2 Option B, for PANs longer than 16 digits (shorter PANs use Option A): SHA-1 over
    /// PAN ‖ PSN (left-padded to an even number of digits), decimalised to 16 digits, then as Option A.
    public static func iccMasterKeyOptionB(
        issuerMasterKey imk: [UInt8], pan: String, panSequenceNumber psn: String = "00"
    ) throws -> [UInt8] {
        guard pan.count > 16 else {
            return try iccMasterKeyOptionA(issuerMasterKey: imk, pan: pan, panSequenceNumber: psn)
        }
        var x = pan + (psn.isEmpty ? "00" : psn)
        guard x.allSatisfy(\.isASCII), x.allSatisfy(\.isNumber) else {
            throw CryptoError.invalidKey("PAN and PSN must be digits")
        }
        if x.count % 2 == 1 { x = "0" + x }
        let hash = Digest.sha1(pack(x))
        var nibbles: [UInt8] = []
        for b in hash {
            nibbles.append(b >> 4)
            nibbles.append(b & 0x0F)
        }
        var y = nibbles.filter { $0 < 10 }
        if y.count < 16 { y += nibbles.filter { $0 >= 10 }.map { $0 - 10 } }
        let digits = String(y.prefix(16).map { Character(Unicode.Scalar(UInt8(ascii: "0") + $0)) })
        return try derive(imk, y: pack(digits))
    }

    /// Book 2 A1.3 common session key: SK = 3DES(MK)[R0 R1 F0 R3…R7] ‖ 3DES(MK)[R0 R1 0F R3…R7].
    public static func commonSessionKey(masterKey mk: [UInt8], diversification r: [UInt8]) throws -> [UInt8] {
        guard r.count == 8 else { throw CryptoError.invalidDataLength(r.count) }
        var left = r
        var right = r
        left[2] = 0xF0
        right[2] = 0x0F
        let zl = try BlockCipher.tdes(.ecb, encrypt: true, key: mk, data: left)
        let zr = try BlockCipher.tdes(.ecb, encrypt: true, key: mk, data: right)
        return adjustOddParity(zl + zr)
    }

    private static func derive(_ imk: [UInt8], y: [UInt8]) throws -> [UInt8] {
        guard imk.count == 16 else { throw CryptoError.invalidKeyLength(imk.count) }
        let zl = try BlockCipher.tdes(.ecb, encrypt: true, key: imk, data: y)
        let zr = try BlockCipher.tdes(.ecb, encrypt: true, key: imk, data: y.map { $0 ^ 0xFF })
        return adjustOddParity(zl + zr)
    }

    /// Packs an even number of decimal digits into BCD.
    static func pack(_ digits: String) -> [UInt8] {
        let n = digits.utf8.map { $0 - UInt8(ascii: "0") }
        return stride(from: 0, to: n.count, by: 2).map { n[$0] << 4 | n[$0 + 1] }
    }
}
