// Kernel C-4: American Express ExpressPay, EMV mode (EMV Contactless Book C-4 v2.11); mag-stripe mode is left out
// (a card that offers only it gets Try Another Interface). The flow is the shared EMV-mode flow (Kernels/EMVMode,
// partial online only since ExpressPay 3: an ARQC ends the kernel with Online Request). What is ExpressPay's own:
// - the reader's capabilities travel two ways: Contactless Reader Capabilities (9F6D, §4.3.3) merged into the high
//   bits of the Terminal Type the PDOL sends (9F35: 22 | C8 = EA, as the recorded test card in
//   Tests/KernelTests/Fixtures/public shows), and Enhanced Contactless Reader Capabilities (9F6E, §4.3.4), whose
//   "CVM Required" bits the kernel sets for each transaction above the CVM required limit;
// - a phone reports its own cardholder verification in Mobile CVM Results (9F71): performed (01) and successful
//   (02) is an on-device CVM; the CVM List serves plastic cards, with 9F6E byte 2 as the reader's CVM capabilities;
// - a phone that declines because its user must first verify (9F71: CVM required by the terminal, not successful)
//   is "see phone": Try Again at Start B;
// - an AAC becomes Try Another Interface when the reader says so (9F6E byte 1 b3) and has a contact slot.
// Book C-4's requirement text was not available to tapd's authors; the bit layouts come from public
// implementations that cite Book C-4 §4.3.3 Table 4-2 and §4.3.4 Table 4-4 (the README lists the sources).

import TLV

public enum KernelC4 {
    public static func run(_ s: KernelSession) async -> Outcome {
        await KernelSteps.run(.amex, s) { s throws(KernelFailure) in try await EMVModeKernel.process(s, rules: rules) }
    }

    /// §4.3.3 Table 4-2: b8–b7 11 "ExpressPay 3.x or later, EMV and mag-stripe", b4 "CVM required".
    static func contactlessReaderCapabilities(cvmRequired: Bool) -> UInt8 { 0xC0 | (cvmRequired ? 0x08 : 0) }

    /// §4.3.4 Table 4-4, from what the reader can do when the configuration gives no 9F6E: byte 1 contact (b8),
    /// EMV partial online (b5), mobile (b4), Try Another Interface after a decline (b3, with contact); byte 2 mobile
    /// CVM (b8), online PIN (b7), signature (b6); byte 3 offline-only reader (b8); byte 4 kernel version 2.7 or later
    /// (b3–b1 011).
    static func defaultEnhancedCapabilities(_ c: TerminalConfiguration) -> [UInt8] {
        let contact: UInt8 = c.supportsContactInterface ? 0x84 : 0x00
        return [
            0x18 | contact,
            0x80 | (c.supportsOnlinePIN ? 0x40 : 0) | (c.supportsSignature ? 0x20 : 0),
            c.onlineCapable ? 0x00 : 0x80,
            0x03,
        ]
    }

    static let rules = EMVModeKernel.Rules(
        kernel: .amex, context: .c4,
        prepare: { s, store, ctx in
            var e = s.configuration.enhancedContactlessReaderCapabilities?.bytes ?? []
            if e.count != 4 { e = defaultEnhancedCapabilities(s.configuration) }
            // The bits that say what the reader can do agree with its configuration, whatever 9F6E was configured
            // (as 9F33 and the TTQ do): contact (byte 1 b8), online PIN and signature (byte 2 b7, b6), offline-only
            // (byte 3 b8) — so the card is never told of a PIN pad, a contact slot or a link the reader lacks.
            let c = s.configuration
            e[0] = c.supportsContactInterface ? e[0] | 0x80 : e[0] & ~0x84
            e[1] = (e[1] & ~0x60) | (c.supportsOnlinePIN ? 0x40 : 0) | (c.supportsSignature ? 0x20 : 0)
            e[2] = c.onlineCapable ? e[2] & ~0x80 : e[2] | 0x80
            // §4.3.4: byte 3 b7 "CVM Required" is the kernel's to set for this transaction.
            e[2] = ctx.cvmRequired ? e[2] | 0x40 : e[2] & ~0x40
            // A replay's recorded values stand as the recorded reader sent them.
            if s.overrides[0x9F6E] == nil { store[0x9F6E] = e }
            if s.overrides[0x9F6D] == nil {
                store[0x9F6D] = [contactlessReaderCapabilities(cvmRequired: ctx.cvmRequired)]
            }
        },
        // §4.3.3: the Terminal Type a card reads in its PDOL carries 9F6D in its high bits (b8, b7, b4), which no
        // Terminal Type value uses.
        pdolValue: { tag, store in
            guard tag == 0x9F35, let type = store[0x9F35]?.first else { return store[tag] }
            return [type | (store[0x9F6D]?.first ?? 0xC0)]
        },
        // §4.3.4 byte 3 b7, §4.3.3 b4: "CVM required" as the recorded reader sent it.
        recordedCVMRequired: { o in
            if let e = o[0x9F6E], e.count == 4 { return e[2] & 0x40 != 0 }
            if let d = o[0x9F6D]?.first ?? o[0x9F35]?.first, d & 0xC0 != 0 { return d & 0x08 != 0 }
            return nil
        },
        cvmBeforeGenerateAC: { s, store, ctx, tvr in
            // A phone's Mobile CVM Results: 01 performed, byte 3 02 successful — a CVM the reader accepts when it
            // offers mobile CVM (9F6E byte 2 b8).
            let offersMobileCVM = store[0x9F6E].map { $0.count == 4 && $0[1] & 0x80 != 0 } ?? false
            if offersMobileCVM, let m = store[0x9F71], m.count == 3, m[0] == 0x01, m[2] == 0x02 {
                return .init(cvmResults: [0x01, 0x00, 0x02], outcomeCVM: .confirmationCodeVerified)
            }
            guard let aip = store[0x82], aip.count == 2, aip[0] & 0x10 != 0 else {
                return .init(cvmResults: [0x3F, 0x00, 0x00], outcomeCVM: .noCVM)
            }
            // The CVM List against the reader's CVM capabilities for this amount: above the CVM required limit 9F6E
            // byte 2 (online PIN b7, signature b6), at or below it No CVM only — the kernel adjusts the one
            // configured value to the limit (as C-2 does with its two CVM Capability values DF8118/DF8119).
            let e = store[0x9F6E] ?? []
            let b2 = e.count == 4 ? e[1] : 0
            let capability = CVMCapability(ctx.cvmRequired ? (b2 & 0x40) | (b2 & 0x20) : 0x08)
            return CardholderVerification.process(
                list: store[0x8E].flatMap { CVMList($0) }, capability: capability, amount: s.transaction.amount,
                amountOther: s.transaction.amountOther, transactionType: s.transaction.type.rawValue,
                currencyMatches: store[0x9F42] == nil || store[0x9F42] == store[0x5F2A], tvr: &tvr)
        },
        onAAC: { s, store in
            // A phone that has not (yet) verified its user although the terminal required it: "see phone" — unless
            // its verification is blocked (byte 3 03), which looking at the phone cannot mend: a decline.
            if let m = store[0x9F71], m.count == 3, m[1] == 0x03, m[2] != 0x02, m[2] != 0x03 {
                var o = QuickKernel.seePhone(0x6986)
                o.reason = "the phone asks its user to verify on the device (Mobile CVM Results \(Hex.encode(m)))"
                return o
            }
            // §4.3.4 byte 1 b3: Try Another Interface after a decline, when the reader has a contact interface.
            let e = store[0x9F6E] ?? []
            if e.count == 4, e[0] & 0x04 != 0, e[0] & 0x80 != 0, s.configuration.supportsContactInterface {
                var o = Outcome(.tryAnotherInterface, reason: "the card declined contactless: insert the card")
                o.uiRequestOnOutcome = UIRequest(.insertCard, .notReady, holdTimeMilliseconds: 1300)
                o.errorIndication = ErrorIndication(messageOnError: .insertCard)
                return o
            }
            return nil
        },
        dataRecordTags: DataRecord.c2Tags.filter { $0 != 0x9F7C && $0 != 0x9F53 } + [0x9F6D, 0x9F71],
        discretionaryDataTags: [0x9F70, 0x9F71])
}
