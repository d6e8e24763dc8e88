// Kernel C-6: Discover D-PAS and Diners Club, EMV mode (EMV Contactless Book C-6); D-PAS mag-stripe mode and the
// Zip AID (mag-stripe only) are left out. D-PAS answers GET PROCESSING OPTIONS with its cryptogram, as qVSDC does, but
// authenticates with CDA: a TC comes only inside the Signed Dynamic Application Data, whose transaction data hash
// covers the PDOL data and the GPO answer; an ARQC or AAC comes in clear. The records are read after GPO. There are no
// terminal action codes: the Card Processing Requirements (9F71) say what each failed check leads to. Book C-6's
// requirement text was not available to tapd's authors; the steps below follow its structure as a type-approved
// public kernel quotes it (its "Figure 15–17" steps and Book C-6 §3.8), cited as such.

import APDU
import TLV

public enum KernelC6 {
    public static func run(_ s: KernelSession) async -> Outcome {
        await KernelSteps.run(.discover, s, process)
    }

    /// Book C-6 9F71 Card Processing Requirements: what the card asks of the reader.
    struct CardProcessingRequirements {
        let bytes: [UInt8]
        init(_ b: [UInt8]) { bytes = b.count == 2 ? b : [0, 0] }
        var onlinePINRequired: Bool { bytes[0] & 0x80 != 0 }  // byte 1 b8
        var signatureRequired: Bool { bytes[0] & 0x40 != 0 }  // byte 1 b7
        var consumerDeviceCVMPerformed: Bool { bytes[0] & 0x10 != 0 }  // byte 1 b5
        var switchInterfaceIfUnableToGoOnline: Bool { bytes[1] & 0x80 != 0 }  // byte 2 b8
        var declineOrSwitchIfCDAFailed: Bool { bytes[1] & 0x20 != 0 }  // byte 2 b6
        var onlineIfExpired: Bool { bytes[1] & 0x08 != 0 }  // byte 2 b4
        var fallbackToSignature: Bool { bytes[1] & 0x02 != 0 }  // byte 2 b2
        var fallbackToNoCVM: Bool { bytes[1] & 0x01 != 0 }  // byte 2 b1
    }

    static func process(_ s: KernelSession) async throws(KernelFailure) -> Outcome {
        var store = s.terminalStore()
        store.add(try KernelSteps.checkCardData(s.fci.children, context: .c6))
        let (pdol, pdolData) = try KernelSteps.pdolData(s, store, context: .c6)
        let gpo = try await KernelSteps.send(s, .getProcessingOptions(pdolData: pdolData))
        // Figure 15 steps 1–3b: 6986 a phone that needs its user (Try Again), 6984 another interface, else Select Next.
        if !gpo.status.isSuccess {
            if gpo.status.rawValue == 0x6986 { return QuickKernel.seePhone(0x6986) }
            return EMVModeKernel.statusOutcome(gpo.status, command: "GET PROCESSING OPTIONS")
        }
        guard let resp = try? TLVParser.parseOne(gpo.data) else { throw .parsing("GPO response is not one TLV object") }
        guard resp.tag == 0x77 else {
            var o = Outcome(.selectNext, reason: "GPO response format \(resp.tag.hex): D-PAS EMV mode needs format 2")
            o.start = .c
            return o
        }
        try KernelSteps.addCardData(resp.children, into: &store, session: s, context: .c6)
        // Figure 15: AIP, AFL, ATC, IAD, CID and the Card Processing Requirements in every EMV-mode answer; without
        // them the application is not a D-PAS EMV-mode one: Select Next.
        for t: Tag in [0x82, 0x94, 0x9F36, 0x9F10, 0x9F27, 0x9F71] where store[t] == nil {
            var o = Outcome(
                .selectNext,
                reason:
                    "\(DataDictionary.element(t, context: .c6)?.name ?? t.hex) (\(t.hex)) missing from the GPO answer")
            o.start = .c
            o.errorIndication = ErrorIndication(l2: .cardDataMissing)
            return o
        }
        guard let cid = resp.first(0x9F27)?.value.first, let kind = ApplicationCryptogram.kind(fromCID: cid) else {
            throw .cardData("CID is RFU")
        }
        // Figures 16–17: a TC only inside the signature (9F4B, no 9F26); an ARQC or AAC in clear (9F26, no 9F4B).
        if kind == .tc {
            guard store[0x9F4B] != nil, store[0x9F26] == nil else {
                throw .cardData("a TC must come inside the CDA signature (9F4B) and without 9F26")
            }
        } else {
            guard store[0x9F26]?.count == 8, store[0x9F4B] == nil else {
                throw .cardData("an \(kind.rawValue) must come as 9F26 (8 bytes) without a signature")
            }
        }
        let aip = store[0x82]!
        let afl: ApplicationFileLocator
        do { afl = try ApplicationFileLocator(store[0x94]!) } catch { throw .cardData("\(error)") }
        var staticData = StaticDataToBeAuthenticated()
        try await KernelSteps.readRecords(s, afl: afl, into: &store, staticData: &staticData, context: .c6)
        guard let pan = CardIdentity.pan(from: store) else {
            throw .cardDataMissing("neither PAN (5A) nor Track 2 Equivalent Data (57) was returned")
        }

        var tvr = TerminalVerificationResults()
        var oda: ODAResult? = nil
        if kind == .tc {
            // CDA (Book 2 §6.6.2) over the GPO answer: the hash covers the PDOL data and the answer's other objects.
            let prepared = try EMVModeSteps.prepareCDA(s, store: store, aip: aip, staticData: staticData, tvr: &tvr)
            let r =
                prepared.failure.map { ODAResult(method: .cda, failure: $0) }
                ?? EMVModeSteps.verifyCDA(
                    s, store: &store, genac: gpo, staticData: prepared.staticData, pdolData: pdolData, cdolData: [])
            r.apply(to: &tvr)
            oda = r
        } else {
            tvr.set(.odaNotPerformed)
        }
        // D-PAS cards may carry the expiry only in their Track 2 Equivalent Data (YYMM after the separator): the
        // restrictions then read it there (as the last day of that month).
        if store[0x5F24] == nil, let expiry = track2Expiry(store[0x57]) { store[0x5F24] = expiry }
        ProcessingRestrictions.apply(store, date: s.transaction.date, to: &tvr)
        let onException = s.risk.isOnExceptionFile(pan: pan)
        if onException { tvr.set(.cardOnExceptionFile) }
        let ttq = TerminalTransactionQualifiers(store[0x9F66])
        let cpr = CardProcessingRequirements(store[0x9F71] ?? [])

        var outcome = Outcome(.declined)
        outcome.maskedPAN = CardDataMask.pan(pan)
        outcome.applicationLabel = store[0x50].map { String(decoding: $0, as: UTF8.self) }
        outcome.oda = oda
        outcome.cryptogram = (store[0x9F26]).map {
            ApplicationCryptogram(kind: kind, value: $0, atc: store[0x9F36] ?? [])
        }
        outcome.dataRecordTags = DataRecord.c6Tags
        outcome.discretionaryDataTags = [0x9F71]
        let cvm = cardholderVerification(ttq: ttq, cpr: cpr, iad: store[0x9F10] ?? [], tvr: &tvr)
        outcome.tvr = tvr
        outcome.transactionData = store
        // A D-PAS PDOL carries no TVR: the card never saw one, and the issuer gets the kernel's (CDA failed,
        // expired, online PIN entered …) in field 55.
        if pdol?.entries.contains(where: { $0.tag == 0x95 }) != true { outcome.transactionData[0x95] = tvr.bytes }
        let decision = decide(
            kind: kind, refund: s.transaction.type == .refund, oda: oda, tvr: tvr, ttq: ttq, cpr: cpr, cvm: cvm,
            onlineRequired: ttq.onlineCryptogramRequired || s.preProcessingRequiresOnline)
        outcome.kind = decision.kind
        outcome.reason = decision.reason
        EMVModeSteps.finish(&outcome, cvm: try? cvm.get())
        return outcome
    }

    /// The YYMMDD expiry (the month's last day) from Track 2 Equivalent Data: the four digits after the separator.
    static func track2Expiry(_ t2: [UInt8]?) -> [UInt8]? {
        guard let t2 else { return nil }
        let hex = Hex.encode(t2)
        guard let sep = hex.firstIndex(of: "D") else { return nil }
        let yymm = hex[hex.index(after: sep)...].prefix(4)
        guard yymm.count == 4, yymm.allSatisfy(\.isNumber), let yy = Int(yymm.prefix(2)), let mm = Int(yymm.suffix(2)),
            (1...12).contains(mm)
        else { return nil }
        let days = [31, yy % 4 == 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mm - 1]
        return BCD.encode(UInt64(yy * 10000 + mm * 100 + days), bytes: 3)
    }

    /// The reader's CVM from the TTQ and the Card Processing Requirements (no CVM List in D-PAS): online PIN or
    /// signature when the card requires one the reader offers (with the card's fallbacks), on-device CVM when a
    /// phone performed it and the reader supports it (the CVR, IAD bytes 3–10, byte 2 b1 says it failed), No CVM
    /// when nothing is required or the card allows falling back to it.
    static func cardholderVerification(
        ttq: TerminalTransactionQualifiers, cpr: CardProcessingRequirements, iad: [UInt8],
        tvr: inout TerminalVerificationResults
    ) -> Result<CardholderVerification.Result, EMVModeKernel.KernelFailureReason> {
        let signature = CardholderVerification.Result(cvmResults: [0x1E, 0x00, 0x00], outcomeCVM: .signature)
        let none = CardholderVerification.Result(cvmResults: [0x1F, 0x00, 0x02], outcomeCVM: .noCVM)
        if !ttq.cvmRequired && !cpr.onlinePINRequired && !cpr.signatureRequired { return .success(none) }
        if cpr.onlinePINRequired {
            if ttq.onlinePINSupported {
                tvr.set(.onlinePINEntered)
                return .success(.init(cvmResults: [0x02, 0x00, 0x00], outcomeCVM: .onlinePIN))
            }
            if cpr.fallbackToSignature && ttq.signatureSupported { return .success(signature) }
        } else if cpr.signatureRequired && ttq.signatureSupported {
            return .success(signature)
        } else if ttq.consumerDeviceCVMSupported && cpr.consumerDeviceCVMPerformed {
            let failed = iad.count >= 4 && iad[3] & 0x01 != 0
            if !failed {
                return .success(.init(cvmResults: [0x01, 0x00, 0x02], outcomeCVM: .confirmationCodeVerified))
            }
            if cpr.fallbackToSignature && ttq.signatureSupported { return .success(signature) }
        }
        if cpr.fallbackToNoCVM { return .success(none) }
        tvr.set(.cardholderVerificationNotSuccessful)
        return .failure(.init(text: "the card requires a CVM this reader cannot perform"))
    }

    /// The decision (no terminal action codes in D-PAS: the card's requirements decide), in this order: a refund is
    /// read only; an AAC declines; a failed CDA declines or asks for another interface; a failed CVM declines;
    /// restrictions (service not allowed, exception file, data missing) decline, an expired card declines or goes
    /// online as the card asks, a card not yet effective goes online; an offline-only reader cannot send an ARQC;
    /// a TC the reader required to go online declines; an ARQC goes online; a TC with CDA approves.
    static func decide(
        kind: ApplicationCryptogram.Kind, refund: Bool, oda: ODAResult?, tvr: TerminalVerificationResults,
        ttq: TerminalTransactionQualifiers,
        cpr: CardProcessingRequirements, cvm: Result<CardholderVerification.Result, EMVModeKernel.KernelFailureReason>,
        onlineRequired: Bool? = nil
    ) -> (kind: OutcomeKind, reason: String) {
        let onlineRequired = onlineRequired ?? ttq.onlineCryptogramRequired
        if refund { return (.endApplication, "refund: the card was read (\(kind.rawValue))") }
        if kind == .aac { return (.declined, "the card declined (AAC)") }
        if let oda, !oda.succeeded {
            // tapd never sends a TC whose signature failed online: the cryptogram lives only in that signature.
            if cpr.declineOrSwitchIfCDAFailed && ttq.contactSupported {
                return (.tryAnotherInterface, "CDA failed; the card asks for another interface")
            }
            return (.declined, "CDA failed: \(oda.failure!)")
        }
        if case .failure(let why) = cvm {
            // No CVM the card and the reader share: another interface when the reader has one, else a decline.
            return ttq.contactSupported ? (.tryAnotherInterface, why.text) : (.declined, why.text)
        }
        if case .success(let c) = cvm, c.outcomeCVM == .onlinePIN, kind == .tc {
            return (.declined, "the card approved offline a transaction that needs online PIN")
        }
        if tvr.isSet(.serviceNotAllowed) { return (.declined, "the card's usage control does not allow this") }
        if tvr.isSet(.cardOnExceptionFile) { return (.declined, "card is on the terminal exception file") }
        if tvr.isSet(.iccDataMissing) { return (.declined, "card data missing") }
        var wantsOnline = kind == .arqc
        if tvr.isSet(.expiredApplication) {
            guard cpr.onlineIfExpired else { return (.declined, "application expired") }
            wantsOnline = true
        }
        if tvr.isSet(.applicationNotYetEffective) { wantsOnline = true }
        if wantsOnline {
            if ttq.offlineOnlyReader {
                return cpr.switchInterfaceIfUnableToGoOnline && ttq.contactSupported
                    ? (.tryAnotherInterface, "the card asks to go online and the reader is offline-only")
                    : (.declined, "the card asks to go online and the reader is offline-only")
            }
            if kind == .tc { return (.declined, "the card must go online but answered with a TC") }
            return (.onlineRequest, "the card asks for online authorisation (ARQC)")
        }
        if onlineRequired {
            return (.declined, "the reader required an online cryptogram and the card answered with a TC")
        }
        return (.approved, "approved offline (TC, CDA verified)")
    }
}
