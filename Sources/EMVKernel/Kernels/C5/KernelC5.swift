// Kernel C-5: JCB J/Speedy, EMV mode (EMV Contactless Book C-5); Legacy and Magstripe modes are left out. The flow is
// the shared EMV-mode flow (Kernels/EMVMode). The requirement numbers below are Book C-5's as a type-approved
// public kernel quotes them (their chapter order is the book's table of contents); what is JCB's own:
// - 5.2.1.5–5.2.1.8: the reader tells the card its modes in the Terminal Compatibility Indicator (9F52, b2 EMV
//   mode) and its abilities in the Terminal Interchange Profile (9F53: byte 1 b8 CVM required — the kernel's to set
//   (5.5.2) —, b7 signature, b6 online PIN, b5 on-device CVM, b2 contact chip);
// - 5.2.1.9–5.2.1.10: a card whose PDOL has no 9F52 is a Legacy-mode card: Select Next, tapd has no Legacy mode;
// - the Combination Options (the combination's `kernelConfiguration`, byte 1: b2 EMV mode, b5 exception file,
//   b6 ODA) say what this reader does;
// - 5.8.3: no CVM List in EMV mode: the card reports the CVM in its GENERATE AC answer (Cardholder Verification
//   Status 9F50: 00 none, 10 signature, 20 online PIN, 3x on-device), which the reader must support, and none is a
//   decline when the reader required one.

import TLV

public enum KernelC5 {
    public static func run(_ s: KernelSession) async -> Outcome {
        await KernelSteps.run(.jcb, s) { s throws(KernelFailure) in try await EMVModeKernel.process(s, rules: rules) }
    }

    /// Combination Options byte 1 (the combination's kernel configuration); default EMV mode, exception file, ODA.
    struct CombinationOptions {
        let byte: UInt8
        init(_ app: ApplicationConfiguration) { byte = app.kernelConfiguration?.bytes.first ?? 0x32 }
        var emvMode: Bool { byte & 0x02 != 0 }
        var exceptionFile: Bool { byte & 0x10 != 0 }
        var oda: Bool { byte & 0x20 != 0 }
    }

    /// 5.2.1.8 and 5.5.2: the Terminal Interchange Profile for this transaction.
    static func terminalInterchangeProfile(_ c: TerminalConfiguration, cvmRequired: Bool) -> [UInt8] {
        let b1: UInt8 =
            (cvmRequired ? 0x80 : 0) | (c.supportsSignature ? 0x40 : 0) | (c.supportsOnlinePIN ? 0x20 : 0) | 0x10
            | (c.supportsContactInterface ? 0x02 : 0)
        return [b1, 0x00, 0x00]
    }

    static let rules = EMVModeKernel.Rules(
        kernel: .jcb, context: .c5,
        prepare: { s, store, ctx in
            // 5.2.1.7: EMV mode only (b2); mag-stripe (b1) is not in tapd.
            if s.overrides[0x9F52] == nil { store[0x9F52] = [0x02] }
            if s.overrides[0x9F53] == nil {
                store[0x9F53] = terminalInterchangeProfile(s.configuration, cvmRequired: ctx.cvmRequired)
            }
        },
        // 5.5.2: the Terminal Interchange Profile byte 1 b8 as the recorded reader sent it.
        recordedCVMRequired: { o in o[0x9F53].flatMap { $0.count == 3 ? $0[0] & 0x80 != 0 : nil } },
        beforeGPO: { s, pdol in
            guard CombinationOptions(s.application).emvMode else {
                var o = Outcome(.selectNext, reason: "EMV mode is not enabled for this JCB combination")
                o.start = .c
                return o
            }
            // 5.2.1.9–5.2.1.10: no 9F52 in the PDOL: a Legacy-mode card.
            guard pdol?.entries.contains(where: { $0.tag == 0x9F52 }) == true else {
                var o = Outcome(.selectNext, reason: "a JCB Legacy-mode card (no 9F52 in its PDOL): not supported")
                o.start = .c
                return o
            }
            return nil
        },
        formatOneGenerateACAllowed: false,
        exceptionFileCheck: { CombinationOptions($0.application).exceptionFile },
        odaAllowed: { CombinationOptions($0.application).oda },
        cvmBeforeGenerateAC: { _, _, _, _ in nil },
        cvmAfterGenerateAC: { store, ctx in
            let tip = store[0x9F53] ?? [0, 0, 0]
            let b1 = tip.first ?? 0
            switch store[0x9F50]?.first {
            case 0x10? where b1 & 0x40 != 0:
                return .success(.init(cvmResults: [0x1E, 0x00, 0x00], outcomeCVM: .signature))
            case 0x20? where b1 & 0x20 != 0:
                return .success(.init(cvmResults: [0x02, 0x00, 0x00], outcomeCVM: .onlinePIN))
            case let v? where v & 0xF0 == 0x30 && b1 & 0x10 != 0:
                return .success(.init(cvmResults: [0x01, 0x00, 0x02], outcomeCVM: .confirmationCodeVerified))
            case 0x00?, nil:
                // 5.8.3.2: none, while the reader required a CVM → Declined.
                if ctx.cvmRequired {
                    return .failure(.init(text: "the reader required a CVM and the card performed none (9F50 00)"))
                }
                return .success(.init(cvmResults: [0x1F, 0x00, 0x02], outcomeCVM: .noCVM))
            case let v?:
                return .failure(
                    .init(text: "the card asks for a CVM this reader does not support (9F50 \(Hex.encode([v])))"))
            }
        },
        dataRecordTags: DataRecord.c2Tags.filter { $0 != 0x9F7C && $0 != 0x9F53 } + [0x9F50, 0x9F52, 0x9F53],
        discretionaryDataTags: [0x9F50, 0x9F5F, 0x9F60])
}
