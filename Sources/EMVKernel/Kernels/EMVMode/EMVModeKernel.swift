// The EMV-mode flow of the kernels that read the card's records before one GENERATE AC: American Express
// ExpressPay (Book C-4) and JCB J/Speedy (Book C-5). Both take EMV 4.4 Book 3's steps over unchanged — GPO, READ
// RECORD, processing restrictions (§10.4), terminal risk management (§10.6), terminal action analysis with the TACs
// and IACs (§10.7), GENERATE AC with CDA (Book 2 §6.6) — and partial online only: an ARQC ends the kernel with
// Online Request, no second GENERATE AC. What each scheme adds (its reader capabilities, its CVM, its outcomes) is in
// `EMVModeKernel.Rules`. Mastercard's C-2 shares the steps (EMVModeSteps) but keeps its own flow: relay resistance,
// torn transactions and the phone message table are its alone.

import APDU
import TLV

enum EMVModeKernel {
    /// What the transaction knows before the card is read (Book B pre-processing, per combination).
    struct Context: Sendable {
        var cvmRequired: Bool
        var refund: Bool
    }

    /// The CVM a kernel settled on: the CVM Results (9F34) and the outcome's CVM.
    typealias CVM = CardholderVerification.Result

    /// What a scheme's kernel brings to the shared flow.
    struct Rules: Sendable {
        let kernel: KernelID
        let context: KernelContext
        /// Terminal data of the scheme's own, set before GPO (reader capabilities, interchange profiles).
        let prepare: @Sendable (KernelSession, inout TLVStore, Context) -> Void
        /// The value the PDOL sends for a tag (ExpressPay merges its reader capabilities into 9F35).
        var pdolValue: @Sendable (Tag, TLVStore) -> [UInt8]? = { $1[$0] }
        /// Whether a replay's recorded reader data (overrides) say the reader required a CVM; nil when they do not say.
        var recordedCVMRequired: @Sendable ([Tag: [UInt8]]) -> Bool? = { _ in nil }
        /// Before GPO: an outcome when the card cannot run in EMV mode here (JCB legacy cards).
        var beforeGPO: @Sendable (KernelSession, DataObjectList?) -> Outcome? = { _, _ in nil }
        /// Book C-5: a GENERATE AC answer in EMV mode must be format 2.
        var formatOneGenerateACAllowed = true
        /// Whether the exception file is checked (JCB: Combination Options b5, Book C-5 5.5.5).
        var exceptionFileCheck: @Sendable (KernelSession) -> Bool = { _ in true }
        /// Whether the kernel may perform CDA (JCB: Combination Options b6).
        var odaAllowed: @Sendable (KernelSession) -> Bool = { _ in true }
        /// The CVM before GENERATE AC; nil when the card decides it in its GENERATE AC answer.
        let cvmBeforeGenerateAC: @Sendable (KernelSession, TLVStore, Context, inout TerminalVerificationResults) -> CVM?
        /// After GENERATE AC: the CVM the card reports (JCB 9F50), or why the transaction is declined.
        var cvmAfterGenerateAC: @Sendable (TLVStore, Context) -> Result<CVM, KernelFailureReason> = { _, _ in
            .success(CVM(cvmResults: [0x3F, 0x00, 0x00], outcomeCVM: .noCVM))
        }
        /// An AAC may mean more than a decline: "see phone" (a phone that needs its user), or another interface.
        var onAAC: @Sendable (KernelSession, TLVStore) -> Outcome? = { _, _ in nil }
        let dataRecordTags: [Tag]
        let discretionaryDataTags: [Tag]
    }

    /// A decline's reason in words.
    struct KernelFailureReason: Error, Sendable { let text: String }

    static func process(_ s: KernelSession, rules: Rules) async throws(KernelFailure) -> Outcome {
        var store = s.terminalStore()
        store.add(try KernelSteps.checkCardData(s.fci.children, context: rules.context))
        // A replay's recorded reader data say whether that reader required a CVM (its capabilities carry the bit).
        let cvmRequired = rules.recordedCVMRequired(s.overrides) ?? s.indicators.cvmRequiredLimitExceeded
        let ctx = Context(
            cvmRequired: cvmRequired && s.transaction.type != .refund, refund: s.transaction.type == .refund)
        rules.prepare(s, &store, ctx)

        // GPO with the PDOL related data (Book 3 §10.1).
        var pdol: DataObjectList? = nil
        if let raw = s.fci.first(0x9F38) {
            guard let d = try? DataObjectList(parsing: raw.value) else { throw .cardData("malformed PDOL") }
            pdol = d
        }
        if let o = rules.beforeGPO(s, pdol) { return o }
        let pdolData = pdol?.build(context: rules.context) { rules.pdolValue($0, store) } ?? []
        let gpo = try await KernelSteps.send(s, .getProcessingOptions(pdolData: pdolData))
        if !gpo.status.isSuccess { return statusOutcome(gpo.status, command: "GET PROCESSING OPTIONS") }
        let aip = try EMVModeSteps.readGPOResponse(gpo, into: &store, session: s, context: rules.context)
        // EMV mode only (AIP byte 2 b8, Book C-4 and C-5 5.3.1.4): mag-stripe mode is not in tapd.
        guard aip[1] & 0x80 != 0 else { return EMVModeSteps.magStripeOnly() }

        let afl: ApplicationFileLocator
        do { afl = try ApplicationFileLocator(store[0x94] ?? []) } catch { throw .cardData("\(error)") }
        var staticData = StaticDataToBeAuthenticated()
        try await KernelSteps.readRecords(s, afl: afl, into: &store, staticData: &staticData, context: rules.context)
        // Book 3 §10.2: the data every EMV-mode transaction needs.
        guard let pan = CardIdentity.pan(from: store) else {
            throw .cardDataMissing("neither PAN (5A) nor Track 2 Equivalent Data (57) was returned")
        }
        for t: Tag in [0x5F24, 0x8C] where store[t] == nil {
            throw .cardDataMissing("mandatory \(DataDictionary.element(t)?.name ?? t.hex) (\(t.hex)) missing")
        }

        var tvr = TerminalVerificationResults()
        // ODA (Book 3 §10.3): CDA when the card (AIP byte 1 b1) and the terminal (9F33 byte 3 b4) both support it.
        let caps = store[0x9F33] ?? []
        let cdaSelected = rules.odaAllowed(s) && aip[0] & 0x01 != 0 && caps.count == 3 && caps[2] & 0x08 != 0
        var prepared = EMVModeSteps.CDAPreparation()
        if cdaSelected {
            prepared = try EMVModeSteps.prepareCDA(s, store: store, aip: aip, staticData: staticData, tvr: &tvr)
        } else {
            tvr.set(.odaNotPerformed)
        }

        ProcessingRestrictions.apply(store, date: s.transaction.date, to: &tvr)
        let cvmBefore = rules.cvmBeforeGenerateAC(s, store, ctx, &tvr)
        if let c = cvmBefore { store[0x9F34] = c.cvmResults }
        // Terminal risk management (Book 3 §10.6.1; Book C-5 5.5.3.2): the amount at or above the floor limit — the
        // Terminal Floor Limit (9F1B: the combination's reader contactless floor limit, or a replay's recorded one),
        // else Entry Point's pre-processing indicator.
        let floorExceeded =
            store[0x9F1B].flatMap { b in
                b.count == 4 ? s.transaction.amount >= b.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } : nil
            } ?? s.indicators.floorLimitExceeded
        if floorExceeded { tvr.set(.exceedsFloorLimit) }
        if rules.exceptionFileCheck(s), s.risk.isOnExceptionFile(pan: pan) { tvr.set(.cardOnExceptionFile) }

        let terminalType = TerminalType(store[0x9F35]?.first ?? s.configuration.terminalTypeByte)
        let app = s.application
        var requested = TerminalActionAnalysis.decide(
            tvr: tvr, tacDenial: app.tacDenial.bytes, tacOnline: app.tacOnline.bytes, tacDefault: app.tacDefault.bytes,
            iacDenial: store[0x9F0E], iacOnline: store[0x9F0F], iacDefault: store[0x9F0D], terminalType: terminalType)
        if s.transaction.forcedOnline {
            tvr.set(.merchantForcedOnline)
            requested = terminalType.withoutTC(requested)
        }
        // Online PIN is verified by the issuer: a transaction with it never asks for a TC (Book 3 §10.5.2).
        if cvmBefore?.outcomeCVM == .onlinePIN { requested = terminalType.withoutTC(requested) }
        // Book C-5 5.7.1.1: a refund asks for an AAC (tapd applies the same rule in C-4: no refund is approved
        // offline, and the issuer hears of it online).
        if ctx.refund { requested = .aac }
        let cdaPossible = cdaSelected && prepared.failure == nil
        // tapd rule, as in C-2: an offline approval rests on CDA over the cryptogram.
        if !cdaPossible { requested = terminalType.withoutTC(requested) }
        store[0x95] = tvr.bytes
        guard let cdol1 = try? DataObjectList(parsing: store[0x8C]!) else { throw .cardData("malformed CDOL1") }
        let cdolData = cdol1.build(context: rules.context) { store[$0] }
        // Book C-5 5.8.1.4 and the recorded ExpressPay card: CDA over a TC and over an ARQC, never over an AAC.
        let requestCDA = cdaPossible && requested != .aac
        let request: CommandAPDU.CryptogramRequest = requested == .arqc ? .arqc : requested == .tc ? .tc : .aac
        let genac = try await KernelSteps.send(s, .generateAC(request, cda: requestCDA, cdolData: cdolData))
        if !genac.status.isSuccess { return statusOutcome(genac.status, command: "GENERATE AC") }
        let (cid, cryptogram) = try EMVModeSteps.readGenerateACResponse(
            genac, into: &store, session: s, context: rules.context, cdaRequested: requestCDA,
            formatOneAllowed: rules.formatOneGenerateACAllowed)
        guard let kind = ApplicationCryptogram.kind(fromCID: cid) else {
            throw .cardData("CID \(Hex.encode([cid])) is RFU")
        }

        var outcome = Outcome(.declined)
        outcome.maskedPAN = CardDataMask.pan(pan)
        outcome.applicationLabel = store[0x50].map { String(decoding: $0, as: UTF8.self) }
        outcome.dataRecordTags = rules.dataRecordTags
        outcome.discretionaryDataTags = rules.discretionaryDataTags
        var value = cryptogram
        var oda: ODAResult? = nil
        if requestCDA && !(kind == .aac && store[0x9F4B] == nil) {
            var r = EMVModeSteps.verifyCDA(
                s, store: &store, genac: genac, staticData: prepared.staticData, pdolData: pdolData, cdolData: cdolData)
            if store[0x9F4B] == nil { r = ODAResult(method: .cda, failure: .missingData(0x9F4B)) }
            value = store[0x9F26] ?? []
            oda = r
        } else if cdaSelected, let f = prepared.failure {
            oda = ODAResult(method: .cda, failure: f)
        }
        oda?.apply(to: &tvr)
        outcome.oda = oda
        outcome.tvr = tvr
        outcome.cryptogram =
            value.isEmpty ? nil : ApplicationCryptogram(kind: kind, value: value, atc: store[0x9F36] ?? [])
        outcome.transactionData = store
        func finish(_ k: OutcomeKind, _ reason: String, cvm: CVM? = nil) -> Outcome {
            var o = outcome
            o.kind = k
            o.reason = reason
            EMVModeSteps.finish(&o, cvm: cvm)
            return o
        }

        // Book 3 §6.5.5: the card may answer with the type asked for or a lower one (Book C-5 5.8.1.10: an
        // ARQC request answered with a TC is declined).
        guard kind.isAllowedAnswer(to: requested) else {
            return finish(.declined, "the card returned \(kind.rawValue) to a request for \(requested.rawValue)")
        }
        if let oda, !oda.succeeded, requestCDA {
            // Book C-5 5.8.1.11 and 5.8.2: CDA asked for and not verified (or no signature) → Declined.
            outcome.cryptogram = nil
            return finish(.declined, "CDA failed: \(oda.failure!)")
        }
        if ctx.refund {
            // The refund's card read: End Application with the Data Record; the terminal sends it online.
            return finish(.endApplication, "refund: the card was read (\(kind.rawValue))")
        }
        if kind == .aac {
            if let o = rules.onAAC(s, store) {
                var seen = o
                seen.maskedPAN = outcome.maskedPAN
                return seen
            }
            return finish(.declined, "the card declined (AAC)")
        }
        let cvm: CVM
        if let c = cvmBefore {
            cvm = c
        } else {
            switch rules.cvmAfterGenerateAC(store, ctx) {
            case .success(let c): cvm = c
            case .failure(let why): return finish(.declined, why.text)
            }
        }
        if cvm.outcomeCVM == .notApplicable && tvr.isSet(.cardholderVerificationNotSuccessful) && ctx.cvmRequired {
            // A CVM was required and none could be performed: the TACs normally decline; without them, tapd does.
            if kind == .tc { return finish(.declined, "a CVM is required and none could be performed") }
        }
        if kind == .tc && cvm.outcomeCVM == .onlinePIN {
            // The card asks for online PIN (C-5 9F50 20) but approved offline: the PIN could never be checked.
            return finish(.declined, "the card approved offline a transaction that needs online PIN")
        }
        if kind == .tc { return finish(.approved, "approved offline (TC, CDA verified)", cvm: cvm) }
        return finish(.onlineRequest, "the card asks for online authorisation (ARQC)", cvm: cvm)
    }

    /// A status word other than 9000: 6986 "see phone" (End Application, restart at Start B: Book C-5 5.8.1.5),
    /// 6984 another interface (5.8.1.6), any other Select Next at Start C (Book C-5 5.3.1, 5.8.1.7; Book C-2
    /// S3.8–S3.9 the same).
    static func statusOutcome(_ sw: StatusWord, command: String) -> Outcome {
        switch sw.rawValue {
        case 0x6986:
            var o = QuickKernel.seePhone(sw.rawValue, command: command)
            o.bookStatus = .endApplication
            return o
        case 0x6984:
            return QuickKernel.tryAnotherInterface(
                sw.rawValue, reason: "the card asks for another interface (\(command) 6984)")
        default:
            var o = Outcome(.selectNext, reason: "\(command) answered \(sw)")
            o.start = .c
            o.errorIndication = ErrorIndication(l2: .statusBytes, statusWord: sw.rawValue)
            return o
        }
    }
}
