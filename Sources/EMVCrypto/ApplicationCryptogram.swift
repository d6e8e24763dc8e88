// Application cryptograms and issuer authentication (EMV 4.4 Book 2 Annex A1.2, §8.1–8.2).
// The terminal never computes an ARQC itself; these exist for the acquirer host simulator and the virtual
// cards, and for tests that recompute a card's cryptogram independently.

/// Application cryptogram (ARQC/TC/AAC) and ARPC computation, for the host simulator, virtual cards and tests.
public enum ApplicationCryptogramAlgorithm {
    /// Book 2 A1.2.1: AC = MAC algorithm 3 under the session key (or ICC master key for CVN 10) over the
    /// transaction data, padded per the CVN (method 1 for CVN 10, method 2 for CVN 18 and M/Chip CVN 16).
    public static func generate(key: [UInt8], data: [UInt8], padding: MACPadding) throws -> [UInt8] {
        try MAC.retail(key: key, data: data, padding: padding)
    }

    /// Book 2 §8.2.1 ARPC method 1: 3DES(K)[ARQC ⊕ (ARC ‖ 00…00)], with a 2-byte Authorisation Response Code.
    public static func arpcMethod1(key: [UInt8], arqc: [UInt8], arc: [UInt8]) throws -> [UInt8] {
        guard arqc.count == 8 else { throw CryptoError.invalidDataLength(arqc.count) }
        guard arc.count == 2 else { throw CryptoError.invalidDataLength(arc.count) }
        let x = zip(arqc, arc + [UInt8](repeating: 0, count: 6)).map { $0 ^ $1 }
        return try BlockCipher.tdes(.ecb, encrypt: true, key: key, data: x)
    }

    /// Book 2 §8.2.2 ARPC method 2: the leftmost 4 bytes of MAC algorithm 3 (padding method 2) over
    /// ARQC ‖ CSU ‖ Proprietary Authentication Data.
    public static func arpcMethod2(
        key: [UInt8], arqc: [UInt8], csu: [UInt8], proprietaryAuthenticationData: [UInt8] = []
    ) throws -> [UInt8] {
        guard arqc.count == 8 else { throw CryptoError.invalidDataLength(arqc.count) }
        guard csu.count == 4 else { throw CryptoError.invalidDataLength(csu.count) }
        guard proprietaryAuthenticationData.count <= 8 else {
            throw CryptoError.invalidDataLength(proprietaryAuthenticationData.count)
        }
        let mac = try MAC.retail(key: key, data: arqc + csu + proprietaryAuthenticationData, padding: .method2)
        return Array(mac.prefix(4))
    }
}
