// The key derivation and cryptograms of PBOC 3.0 cards (UnionPay): JR/T 0025.7-2013 §11.1 for triple DES and
// JR/T 0025.17-2013 §6–§8 for SM4. The card key is Book 2's Option A; the session key is PBOC's own (not Book 2's
// common session key): the ATC, and the ATC complemented, each in the last two bytes of a zero block.

extension KeyDerivation {
    /// JR/T 0025.7 §11.1.3: SK = 3DES(MK)[00…00 ‖ ATC] ‖ 3DES(MK)[00…00 ‖ (ATC ⊕ FFFF)], as enciphered (DES
    /// ignores the parity bits; the published worked examples leave them as they come).
    public static func pbocSessionKey(masterKey mk: [UInt8], atc: [UInt8]) throws -> [UInt8] {
        guard atc.count == 2 else { throw CryptoError.invalidDataLength(atc.count) }
        let zero = [UInt8](repeating: 0, count: 6)
        let l = try BlockCipher.tdes(.ecb, encrypt: true, key: mk, data: zero + atc)
        let r = try BlockCipher.tdes(.ecb, encrypt: true, key: mk, data: zero + atc.map { $0 ^ 0xFF })
        return l + r
    }

    /// JR/T 0025.17 §8.1.4: the SM4 card key, one SM4 block over Y ‖ (Y ⊕ FF…FF), Y as in Option A (the 16
    /// rightmost digits of PAN ‖ PAN sequence number).
    public static func sm4ICCMasterKey(issuerMasterKey imk: [UInt8], pan: String, panSequenceNumber psn: String = "00")
        throws -> [UInt8]
    {
        let x = pan + (psn.isEmpty ? "00" : psn)
        guard x.allSatisfy(\.isASCII), x.allSatisfy(\.isNumber) else {
            throw CryptoError.invalidKey("PAN and PSN must be digits")
        }
        let y = pack(String(repeating: "0", count: max(0, 16 - x.count)) + String(x.suffix(16)))
        return try NationalAlgorithms.sm4(.ecb, encrypt: true, key: imk, data: y + y.map { $0 ^ 0xFF })
    }

    /// JR/T 0025.17 §8.1.3: the SM4 session key, one SM4 block over 00…00 ‖ ATC ‖ 00…00 ‖ (ATC ⊕ FFFF).
    public static func sm4SessionKey(masterKey mk: [UInt8], atc: [UInt8]) throws -> [UInt8] {
        guard atc.count == 2 else { throw CryptoError.invalidDataLength(atc.count) }
        let zero = [UInt8](repeating: 0, count: 6)
        return try NationalAlgorithms.sm4(
            .ecb, encrypt: true, key: mk, data: zero + atc + zero + atc.map { $0 ^ 0xFF })
    }
}

/// PBOC application cryptograms and their ARPC.
public enum PBOCCryptogram {
    /// The symmetric algorithm a PBOC card names in IAD byte 8 (JR/T 0025.17 Annex A.3).
    public enum Algorithm: Sendable { case tdes, sm4 }

    /// The cryptogram over `data` (9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 and the CVR, JR/T 0025.5 Annex E) with
    /// the issuer master key: the card key, the session key for `atc`, then the MAC — triple DES: ISO 9797-1
    /// algorithm 3 with padding method 2 (JR/T 0025.7 §11.1.4); SM4: the leftmost 8 bytes of ISO 9797-1 algorithm 1
    /// over SM4 with padding method 2 (JR/T 0025.17 §8.1.2). Returns the cryptogram and the session key.
    public static func generate(
        _ algorithm: Algorithm, issuerMasterKey imk: [UInt8], pan: String, panSequenceNumber psn: String,
        atc: [UInt8], data: [UInt8]
    ) throws -> (cryptogram: [UInt8], sessionKey: [UInt8]) {
        switch algorithm {
        case .tdes:
            let mk = try KeyDerivation.iccMasterKeyOptionA(issuerMasterKey: imk, pan: pan, panSequenceNumber: psn)
            let sk = try KeyDerivation.pbocSessionKey(masterKey: mk, atc: atc)
            return (try MAC.retail(key: sk, data: data, padding: .method2), sk)
        case .sm4:
            let mk = try KeyDerivation.sm4ICCMasterKey(issuerMasterKey: imk, pan: pan, panSequenceNumber: psn)
            let sk = try KeyDerivation.sm4SessionKey(masterKey: mk, atc: atc)
            return (Array(try NationalAlgorithms.sm4MAC(key: sk, data: data, padding: .method2).prefix(8)), sk)
        }
    }

    /// ARPC method 1 under the session key (JR/T 0025.7 §11.1.5; JR/T 0025.17 §6.2): triple DES over ARQC ⊕ (ARC ‖
    /// 00…), or the leftmost 8 bytes of SM4 over (ARQC ⊕ (ARC ‖ 00…)) ‖ 00….
    public static func arpc(_ algorithm: Algorithm, sessionKey sk: [UInt8], arqc: [UInt8], arc: [UInt8]) throws
        -> [UInt8]
    {
        guard arqc.count == 8, arc.count == 2 else { throw CryptoError.invalidDataLength(arqc.count) }
        let x = zip(arqc, arc + [UInt8](repeating: 0, count: 6)).map { $0 ^ $1 }
        switch algorithm {
        case .tdes: return try BlockCipher.tdes(.ecb, encrypt: true, key: sk, data: x)
        case .sm4:
            return Array(
                try NationalAlgorithms.sm4(.ecb, encrypt: true, key: sk, data: x + [UInt8](repeating: 0, count: 8))
                    .prefix(8))
        }
    }
}
