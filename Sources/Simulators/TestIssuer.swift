// The issuer side of the virtual cards: verifies ARQCs with the documented TEST issuer master key and answers
// with an ARPC, as an issuer host would (Book 2 §8.1–8.2). Visa CVN 18 (IAD byte 3 = 12), Mastercard CVN 16 (IAD
// byte 2 = 10), UnionPay CVN 01 in triple DES or SM4 (PBOC 3.0), American Express CVN 01, JCB CVN 04 and Discover
// CVN 15 as the virtual cards make them (VirtualCard+Schemes.swift says which documented method each uses). The
// scheme is the RID of the application (84). The acquirer host simulator uses it.

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
        let rid = Array((data[0x84] ?? data[0x9F06] ?? []).prefix(5))
        if let scheme = CardProfile.Scheme.allCases.first(where: { $0.rid == rid }),
            [.unionpay, .amex, .jcb, .discover].contains(scheme)
        {
            return try verifyOther(
                scheme, data, arqc: arqc, iad: iad, atc: atc, aip: aip, pan: pan, psn: psn, mk: mk, arc: arc)
        }
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

    /// The schemes whose cryptograms the virtual cards of VirtualCard+Schemes.swift make.
    static func verifyOther(
        _ scheme: CardProfile.Scheme, _ data: TLVStore, arqc: [UInt8], iad: [UInt8], atc: [UInt8], aip: [UInt8],
        pan: String, psn: String, mk: [UInt8], arc: [UInt8]
    ) throws -> Verdict {
        var t: [Tag: [UInt8]] = [:]
        for tag: Tag in [0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37] { t[tag] = data[tag] }
        var profile = CardProfile.visaCard()
        profile.pan = pan
        profile.panSequenceNumber = [UInt8](hex: psn)?.first ?? 0
        let arcBytes = Array(arc.prefix(2))
        switch scheme {
        case .unionpay:
            guard let pboc = PBOCIssuerApplicationData(iad), pboc.cryptogramVersion == 0x01 else {
                return .unsupported("UnionPay IAD \(Hex.encode(iad.prefix(3))) not known to the test issuer")
            }
            profile.nationalAlgorithms = pboc.usesSM4
            let algorithm: PBOCCryptogram.Algorithm = pboc.usesSM4 ? .sm4 : .tdes
            let (ac, sk) = try PBOCCryptogram.generate(
                algorithm, issuerMasterKey: CardProfile.testIssuerMasterKey, pan: pan, panSequenceNumber: psn,
                atc: atc, data: VirtualCard.terminalInput(t) + aip + atc + pboc.cvr)
            guard ac == arqc else { return .mismatch }
            return .verified(arpc: try PBOCCryptogram.arpc(algorithm, sessionKey: sk, arqc: arqc, arc: arcBytes))
        case .amex, .jcb:
            guard iad.count >= 7, iad[0] == 0x06 else { return .unsupported("IAD format not known to the test issuer") }
            let cvr = Array(iad[3..<7])
            let ac =
                scheme == .jcb
                ? try VirtualCard.jcbAC(profile: profile, terminal: t, aip: aip, atc: atc, cvr: cvr)
                : try VirtualCard.amexAC(profile: profile, terminal: t, aip: aip, atc: atc, cvr: cvr)
            guard ac == arqc else { return .mismatch }
            return .verified(arpc: try ApplicationCryptogramAlgorithm.arpcMethod1(key: mk, arqc: arqc, arc: arc))
        default:
            guard iad.count >= 10, iad[1] == 0x15 else {
                return .unsupported("Discover IAD \(Hex.encode(iad.prefix(2))) not known to the test issuer")
            }
            let ac = try VirtualCard.discoverAC(
                profile: profile, terminal: t, aip: aip, atc: atc, cvr: Array(iad[2..<10]))
            guard ac == arqc else { return .mismatch }
            return .verified(arpc: try ApplicationCryptogramAlgorithm.arpcMethod1(key: mk, arqc: arqc, arc: arc))
        }
    }
}
