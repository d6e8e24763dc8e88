// The issuer side of the virtual cards: verifies ARQCs with the documented TEST issuer master key and answers
// with an ARPC, as an issuer host would (Book 2 §8.1–8.2). Visa CVN 18 (IAD byte 3 = 12) and Mastercard
// CVN 16 (IAD byte 2 = 10). The acquirer host simulator uses it.

import EMVCrypto
import EMVKernel
import TLV

/// The issuer host of the virtual cards: checks their ARQCs with the TEST issuer master key and makes the ARPC.
public enum TestIssuer {
    /// The result of an ARQC check: verified (with the ARPC), a mismatch, or data the test issuer cannot check.
    public enum Verdict: Sendable, Equatable {
        case verified(arpc: [UInt8])
        case mismatch
        case unsupported(String)
    }

    /// Checks the ARQC in `data` (the outcome's transaction data: 9F26, 9F10, 9F36, 82 and the terminal data).
    /// `arc` is the authorisation response code the ARPC carries (method 1), e.g. "00" approved.
    public static func verify(_ data: TLVStore, arc: [UInt8] = Array("00".utf8)) throws -> Verdict {
        guard let arqc = data[0x9F26], let iad = data[0x9F10], let atc = data[0x9F36], let aip = data[0x82],
            let pan = CardIdentity.pan(from: data)
        else { return .unsupported("cryptogram data incomplete") }
        let psn = data[0x5F34].map { Hex.encode($0) } ?? "00"
        let mk = try KeyDerivation.iccMasterKeyOptionA(
            issuerMasterKey: CardProfile.testIssuerMasterKey, pan: pan, panSequenceNumber: psn)
        let terminal = ([0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37] as [Tag]).flatMap { data[$0] ?? [] }
        if iad.count >= 7, iad[0] == 0x06 || iad[0] == 0x07, iad[2] == 0x12 {
            // Visa CVN 18: common session key R = ATC ‖ 00…, whole IAD, padding method 2; ARPC method 2.
            let sk = try KeyDerivation.commonSessionKey(masterKey: mk, diversification: atc + [0, 0, 0, 0, 0, 0])
            let ac = try ApplicationCryptogramAlgorithm.generate(
                key: sk, data: terminal + aip + atc + iad, padding: .method2)
            guard ac == arqc else { return .mismatch }
            return .verified(
                arpc: try ApplicationCryptogramAlgorithm.arpcMethod2(key: sk, arqc: arqc, csu: [0, 0, 0, 0]))
        }
        if iad.count >= 8, iad[1] == 0x10 {
            // Mastercard CVN 16: session key R = ATC ‖ 0000 ‖ UN, CVR from the IAD, padding method 2; ARPC method 1.
            let sk = try KeyDerivation.commonSessionKey(
                masterKey: mk, diversification: atc + [0, 0] + (data[0x9F37] ?? []))
            let ac = try ApplicationCryptogramAlgorithm.generate(
                key: sk, data: terminal + aip + atc + Array(iad[2..<8]), padding: .method2)
            guard ac == arqc else { return .mismatch }
            return .verified(arpc: try ApplicationCryptogramAlgorithm.arpcMethod1(key: mk, arqc: arqc, arc: arc))
        }
        return .unsupported("cryptogram version in IAD \(Hex.encode(iad.prefix(3))) not known to the test issuer")
    }
}
