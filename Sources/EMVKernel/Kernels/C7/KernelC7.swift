// Kernel C-7: UnionPay QuickPass (qPBOC). tapd builds it from the PBOC 3.0 texts Book C-7 derives from: JR/T
// 0025.12-2013 (contactless, "P12" below) and JR/T 0025.17-2013 (the national algorithms, "P17"). The flow is the
// shared quick kernel's (Kernels/Quick): P12 §7 has the card decide at GET PROCESSING OPTIONS exactly as Book C-3's
// qVSDC does, and the TTQ and CTQ bits tapd reads have the same places (P12 Table 3, Annex C). What is UnionPay's
// own is here:
// - the cryptogram type comes from the IAD, byte 5 b6–b5 (P12 §7.8.1: qPBOC GPO answers carry no CID);
// - fDDA is RSA (P12 Annex B) or SM2 (P17 §5.2.4), as the CA key index names (P17 §10.4);
// - the terminal tells the card it supports the SM algorithms (DF69 = 01, P17 §10.3.2) when it has an SM2 CA key;
// - a GPO status other than 9000 ends contactless, asking for another interface (P12 §6.5.3), except 6985, the
//   card's refusal (a decline: P17 §10.5), and a phone's 6986 that asks the cardholder to look at it;
// - a TC while the reader required an online cryptogram is declined (P12 §7.7: the card goes online then);
// - fDDA needs the AIP's DDA bit, and version 01 when the reader offered it (P12 Annex B.2);
// - CTQ byte 1 b4 is RFU (no "go online if expired"), and an expired application ends the transaction (P12 §7.7.20).

import TLV

public enum KernelC7 {
    public static func run(_ s: KernelSession) async -> Outcome {
        await KernelSteps.run(.unionpay, s) { s throws(KernelFailure) in try await QuickKernel.process(s, rules: rules)
        }
    }

    static let rules: QuickKernel.Rules = {
        var r = QuickKernel.Rules(
            kernel: .unionpay, context: .c7,
            // P12 Table 11: AIP, ATC, IAD and the cryptogram in every GPO answer.
            requiredGPOTags: [0x82, 0x9F36, 0x9F26, 0x9F10],
            fdda: { s, store, staticData in
                // P12 Annex B.2: fDDA fails when the AIP does not announce DDA (byte 1 b6), and when the reader
                // offered version 01 (TTQ byte 4 b8) to a card of this specification (9F08 0030 or later) that
                // signed version 00 (no 9F69): such a signature covers the UN only, not the amount.
                guard let aip = store[0x82], aip.count == 2, aip[0] & 0x20 != 0 else {
                    return ODAResult(method: .fdda, failure: .dynamicDataInvalid("the AIP does not announce DDA"))
                }
                let ttq = TerminalTransactionQualifiers(store[0x9F66])
                let version = (store[0x9F08] ?? []).reduce(0) { $0 << 8 | Int($1) }
                if ttq.bytes[3] & 0x80 != 0, store[0x9F69] == nil, version >= 0x0030 {
                    return ODAResult(method: .fdda, failure: .missingData(0x9F69))
                }
                let oda = OfflineDataAuthenticator(keys: s.keys, transactionDate: s.transaction.date)
                return oda.usesSM2(rid: s.rid, data: store)
                    ? oda.performSM2FDDA(rid: s.rid, data: store, staticData: staticData)
                    : oda.performFDDA(rid: s.rid, data: store, staticData: staticData)
            },
            cryptogramKindFromIAD: { PBOCIssuerApplicationData($0)?.cryptogramKind },
            dataRecordTags: DataRecord.c7Tags, discretionaryDataTags: [0x9F5D, 0x9F63])
        // P17 §10.3.2: DF69 = 01 when the terminal can use the national algorithms — SM2, SM3 and SM4 are always
        // there, so when it holds an unexpired SM2 CA key of UnionPay's to authenticate SM cards with (a
        // dual-algorithm card told 01 would otherwise sign with keys no CA key here verifies); DF60 = 00.
        r.terminalData = { s in
            let sm2 = s.keys.sm2Keys.values.contains {
                $0.rid == s.rid && ($0.expiry.map { $0 >= s.transaction.date } ?? true)
            }
            return [0xDF69: [sm2 ? 0x01 : 0x00], 0xDF60: [0x00]]
        }
        r.gpoStatusOutcome = { sw in
            switch sw {
            case 0x6986: return QuickKernel.seePhone(sw)
            case 0x6985:
                // P12 §7.7.16, P17 §10.5 and Table 20: the card refuses the transaction (or the algorithm asked
                // for): an offline decline.
                var o = Outcome(.declined, reason: "the card refused the transaction at GET PROCESSING OPTIONS (6985)")
                o.uiRequestOnOutcome = UIRequest(.notAuthorised, .notReady, holdTimeMilliseconds: 1300)
                return o
            default:
                return QuickKernel.tryAnotherInterface(
                    sw,
                    reason: "the card ended contactless processing at GET PROCESSING OPTIONS (\(String(sw, radix: 16)))"
                )
            }
        }
        r.tcUnderOnlineRequired = .declined
        r.withoutTTQ = .tryAnotherInterface
        r.ctqGoOnlineIfExpired = false
        r.expiredOutcome = .endApplication
        r.cidFromIADForAcquirer = true
        return r
    }()
}

/// The PBOC Issuer Application Data (9F10; JR/T 0025.5 Annex E/F, P17 Table 16): length 07, DKI, CVN, the CVR (4
/// bytes, the first its length 03), the algorithm indicator, then optional issuer discretionary data.
public struct PBOCIssuerApplicationData: Sendable, Equatable {
    public let derivationKeyIndex: UInt8
    public let cryptogramVersion: UInt8
    public let cvr: [UInt8]
    /// P17 Annex A.3: the symmetric algorithm of the cryptogram: 01 triple DES, 04 SM4.
    public let algorithm: UInt8

    public init?(_ iad: [UInt8]) {
        guard iad.count >= 8, iad[0] == 0x07, iad[3] == 0x03 else { return nil }
        derivationKeyIndex = iad[1]
        cryptogramVersion = iad[2]
        cvr = Array(iad[3..<7])
        algorithm = iad[7]
    }

    /// P12 §7.8.1: CVR byte 2 (IAD byte 5) b6–b5: 00 AAC, 01 TC, 10 ARQC; 11 is RFU.
    public var cryptogramKind: ApplicationCryptogram.Kind? {
        switch (cvr[1] >> 4) & 0x03 {
        case 0: return .aac
        case 1: return .tc
        case 2: return .arqc
        default: return nil
        }
    }

    public var usesSM4: Bool { algorithm == 0x04 }
}
