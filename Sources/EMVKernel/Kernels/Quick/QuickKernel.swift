// The kernels that return the cryptogram with GET PROCESSING OPTIONS: Visa qVSDC (EMV Contactless Book C-3 v2.10)
// and UnionPay qPBOC (Book C-7, whose flow Book C-7 §1 derives from the same model). GPO carries the terminal's data
// (PDOL with TTQ, amount, UN, …) and returns the cryptogram; records are read when the AFL names any; fDDA
// authenticates the card; the Card Transaction Qualifiers tell which CVM the card wants. Every decision reads the TTQ
// the card was actually sent (a replay's recorded TTQ governs exactly as the recorded reader's did), and an offline
// approval rests on fDDA. What differs between the schemes is in `QuickKernel.Rules`; the rule citations below are
// Book C-3's, and each scheme's file says where its book agrees or differs.

import APDU
import TLV

public enum QuickKernel {
    /// What one scheme's kernel brings to the shared flow.
    public struct Rules: Sendable {
        public let kernel: KernelID
        /// Whose data dictionary judges the card's objects.
        public let context: KernelContext
        /// The data a GPO response must carry for any decision (Book C-3 §5.4.2.1; Book C-7 the same four).
        public let requiredGPOTags: [Tag]
        /// fDDA over the card's data: RSA (Book C-3 Annex C) or, for PBOC 3.0 cards, SM2.
        public let fdda: @Sendable (KernelSession, TLVStore, [UInt8]) -> ODAResult
        /// Without a CID, the cryptogram type as the Issuer Application Data gives it (Book C-3 §5.4.3.1).
        public let cryptogramKindFromIAD: @Sendable ([UInt8]) -> ApplicationCryptogram.Kind?
        /// The Data Record the kernel hands over.
        public let dataRecordTags: [Tag]
        /// The Discretionary Data tags.
        public let discretionaryDataTags: [Tag]
        /// Terminal data of the scheme's own that its cards' PDOLs ask for (the C-7 SM algorithm indicator).
        public var terminalData: @Sendable (KernelSession) -> [Tag: [UInt8]] = { _ in [:] }
        /// A TC while the reader required an online cryptogram: nil sends it online (Book C-3 §5.4.3.2); an outcome
        /// kind ends the transaction so (qPBOC: the card must have gone online, JR/T 0025.12 §7.7).
        public var tcUnderOnlineRequired: OutcomeKind? = nil
        /// A PDOL that does not ask for the TTQ: Book C-3 selects the next application; qPBOC asks for another
        /// interface (JR/T 0025.12 §6.5.1).
        public var withoutTTQ: OutcomeKind = .selectNext
        /// The outcome for a GPO status other than 9000 (nil: an L2 status error, End Application).
        public var gpoStatusOutcome: @Sendable (UInt16) -> Outcome? = QuickKernel.visaGPOStatusOutcome
        /// Whether CTQ byte 1 b4 means "go online if the application expired" (Book C-3; RFU in qPBOC).
        public var ctqGoOnlineIfExpired = true
        /// What an expired application (or one without expiry date) ends in when the card may not go online.
        public var expiredOutcome: OutcomeKind = .declined
        /// Whether the terminal gives the acquirer the CID the IAD implies when the card sent none (qPBOC cards never
        /// send 9F27, and field 55 carries it: JR/T 0025.12 §7.8.1).
        public var cidFromIADForAcquirer = false
    }

    /// Book C-3 v2.10 §5.2: the GPO status words with a meaning of their own.
    /// - 6986: a phone that needs its user first: Try Again at Start B with "See Phone".
    /// - 6984: the card asks for another interface.
    /// - 6985: conditions of use not satisfied: Select Next (Start C).
    public static func visaGPOStatusOutcome(_ sw: UInt16) -> Outcome? {
        switch sw {
        case 0x6986: return seePhone(sw)
        case 0x6984: return tryAnotherInterface(sw, reason: "the card asks for another interface (GPO 6984)")
        case 0x6985:
            var o = Outcome(.selectNext, reason: "conditions of use not satisfied (GPO 6985)")
            o.start = .c
            o.errorIndication = ErrorIndication(l2: .statusBytes, statusWord: 0x6985)
            return o
        default: return nil
        }
    }

    /// "See Phone": Try Again at Start B, the phone's user looks at it and taps again. `command` names what the
    /// phone answered `sw` to.
    static func seePhone(_ sw: UInt16, command: String = "GPO") -> Outcome {
        var o = Outcome(
            .seePhone,
            reason:
                "the device asks the cardholder to look at it (\(command) \(Hex.encode([UInt8(sw >> 8), UInt8(sw & 0xFF)])))"
        )
        o.bookStatus = .tryAgain
        o.start = .b
        o.uiRequestOnOutcome = UIRequest(.seePhone, .notReady, holdTimeMilliseconds: 1300)
        o.uiRequestOnRestart = UIRequest(.presentCard, .readyToRead)
        return o
    }

    static func tryAnotherInterface(_ sw: UInt16, reason: String) -> Outcome {
        var o = Outcome(.tryAnotherInterface, reason: reason)
        o.uiRequestOnOutcome = UIRequest(.insertCard, .notReady, holdTimeMilliseconds: 1300)
        o.errorIndication = ErrorIndication(l2: .statusBytes, statusWord: sw, messageOnError: .insertCard)
        return o
    }

    static func process(_ s: KernelSession, rules: Rules) async throws(KernelFailure) -> Outcome {
        var store = s.terminalStore()
        for (tag, value) in rules.terminalData(s) where store[tag] == nil { store[tag] = value }
        store.add(try KernelSteps.checkCardData(s.fci.children, context: rules.context))

        // Book C-3: qVSDC needs a PDOL that asks for the TTQ; without it this combination cannot run.
        guard let pdolTLV = s.fci.first(0x9F38), let pdol = try? DataObjectList(parsing: pdolTLV.value),
            pdol.entries.contains(where: { $0.tag == 0x9F66 })
        else {
            var o = Outcome(
                rules.withoutTTQ, reason: "no PDOL requesting the TTQ: not a \(rules.kernel.name) application")
            if o.kind == .tryAnotherInterface {
                o.uiRequestOnOutcome = UIRequest(.insertCard, .notReady, holdTimeMilliseconds: 1300)
            }
            return o
        }
        let pdolData = pdol.build(context: rules.context) { store[$0] }

        // Book C-3: GET PROCESSING OPTIONS and the status words it gives a meaning to.
        let gpo = try await KernelSteps.send(s, .getProcessingOptions(pdolData: pdolData))
        if gpo.status.rawValue != 0x9000 {
            guard let o = rules.gpoStatusOutcome(gpo.status.rawValue) else {
                throw .status("GET PROCESSING OPTIONS", gpo.status)
            }
            return o
        }
        guard let resp = try? TLVParser.parseOne(gpo.data) else { throw .parsing("GPO response is not one TLV object") }
        guard resp.tag == 0x77 else {
            throw .cardData("GPO response format \(resp.tag.hex): qVSDC needs format 2 (77)")
        }
        try KernelSteps.addCardData(resp.children, into: &store, session: s, context: rules.context)
        // Book C-3 §5.4.2.1: the data an online or offline qVSDC decision needs.
        for t: Tag in rules.requiredGPOTags where store[t] == nil {
            throw .cardDataMissing(
                "\(DataDictionary.element(t, context: rules.context)?.name ?? t.hex) (\(t.hex)) missing from the GPO response"
            )
        }

        var staticData = StaticDataToBeAuthenticated()
        if let aflBytes = store[0x94], !aflBytes.isEmpty {
            let afl: ApplicationFileLocator
            do { afl = try ApplicationFileLocator(aflBytes) } catch { throw .cardData("\(error)") }
            try await KernelSteps.readRecords(
                s, afl: afl, into: &store, staticData: &staticData, context: rules.context)
        }
        return decide(s, store: store, staticData: staticData, rules: rules)
    }

    /// Everything after the card has been read: no further card interaction.
    static func decide(
        _ s: KernelSession, store: TLVStore, staticData: StaticDataToBeAuthenticated, rules: Rules
    ) -> Outcome {
        let ttq = TerminalTransactionQualifiers(store[0x9F66])
        let ctq = store[0x9F6C].flatMap(CardTransactionQualifiers.init)
        var tvr = TerminalVerificationResults()

        guard let pan = CardIdentity.pan(from: store) else {
            return KernelFailure.cardDataMissing("neither PAN (5A) nor Track 2 Equivalent Data (57) was returned")
                .outcome
        }
        // Book C-3 v2.10 §5.4.3.1: the CID, or without one IAD byte 5 b6–b5.
        let kind: ApplicationCryptogram.Kind
        if let cid = store[0x9F27]?.first {
            guard let k = ApplicationCryptogram.kind(fromCID: cid) else {
                return KernelFailure.cardData("CID \(Hex.encode([cid])) is RFU").outcome
            }
            kind = k
        } else if let k = rules.cryptogramKindFromIAD(store[0x9F10] ?? []) {
            kind = k
        } else {
            return KernelFailure.cardData("no CID and the IAD does not give the cryptogram type").outcome
        }
        let cryptogram = ApplicationCryptogram(kind: kind, value: store[0x9F26] ?? [], atc: store[0x9F36] ?? [])

        // Book C-3 §5.4.3.2: a TC while the reader asked for an online cryptogram (TTQ byte 2 b8: floor limit, status
        // check, zero amount) is never approved offline; the transaction goes online with it.
        // tapd's refund rule (Book C-3 has none of its own: its §5.4.3.2 AAC rule would make a refund "Declined"): a
        // refund (9C 20) is never approved offline nor declined by the kernel. Whatever the card answers (an AAC, as
        // cards answer refunds), the kernel ends with End Application and the Data Record, and the terminal sends
        // the refund online with the card's cryptogram (Visa requires refunds to be authorised online).
        let refund = s.transaction.type == .refund
        let onlineRequired = ttq.onlineCryptogramRequired || s.preProcessingRequiresOnline
        let offline = !refund && kind == .tc && !onlineRequired
        let online = !refund && (kind == .arqc || (kind == .tc && onlineRequired && rules.tcUnderOnlineRequired == nil))

        // Book C-3 §5.6: fDDA for an offline approval, and for an online one when the reader does ODA for online
        // authorisations (TTQ byte 1 b1).
        var oda: ODAResult? = nil
        if offline || (online && ttq.odaForOnlineSupported && store[0x9F4B] != nil) {
            switch staticData.finish(sdaTagList: store[0x9F4A], aip: store[0x82]) {
            case .success(let sd):
                oda = rules.fdda(s, store, sd)
            case .failure(let f):
                oda = ODAResult(method: .fdda, failure: f)
            }
        }
        if let oda { oda.apply(to: &tvr) } else { tvr.set(.odaNotPerformed) }

        var outcome = Outcome(.declined)
        outcome.maskedPAN = CardDataMask.pan(pan)
        outcome.applicationLabel = store[0x50].map { String(decoding: $0, as: UTF8.self) }
        outcome.oda = oda
        outcome.cryptogram = cryptogram
        // Book C-3 §5.5.1.1: an absent Application Expiration Date counts as expired.
        let expired = store[0x5F24].flatMap { EMVDate(yymmdd: $0) }.map { s.transaction.date > $0 } ?? true
        let onException = s.risk.isOnExceptionFile(pan: pan)
        if onException { tvr.set(.cardOnExceptionFile) }
        if expired && store[0x5F24] != nil { tvr.set(.expiredApplication) }

        // Book C-3 §5.7.1: the CVM, from what the card asks and what the TTQ says the reader supports.
        let cvm = cardholderVerification(ttq: ttq, ctq: ctq, cardAuthData: store[0x9F69], kind: kind)

        switch kind {
        case _ where refund:
            // The refund's card read: End Application with the Data Record (Book A §6.2 "Data Record Present").
            // No CVM for a credit to the cardholder.
            outcome.kind = .endApplication
            outcome.reason = "refund: the card was read (\(kind.rawValue))"
        case .aac:
            outcome.kind = .declined
            outcome.reason = "the card declined (AAC)"
        case .tc where onlineRequired && rules.tcUnderOnlineRequired != nil:
            outcome.kind = rules.tcUnderOnlineRequired!
            outcome.reason = "the card answered a TC although the reader required an online cryptogram"
        case .arqc, .tc:
            if online {
                outcome = onlineDecision(outcome, ttq: ttq, cvm: cvm, tcWithOnlineRequired: kind == .tc)
            } else {
                outcome = offlineDecision(
                    outcome, oda: oda, expired: expired, onException: onException,
                    expiry: (rules.ctqGoOnlineIfExpired, rules.expiredOutcome), cvm: cvm, ctq: ctq, ttq: ttq,
                    usage: usage(store, ctq: ctq))
            }
        }
        if case .success(let c) = cvm { outcome.cvm = c } else { outcome.cvm = .notApplicable }
        if outcome.kind != .approved && outcome.kind != .onlineRequest { outcome.cvm = .notApplicable }
        outcome.receipt = outcome.cvm == .signature
        outcome.uiRequestOnOutcome = uiRequest(for: outcome)
        outcome.tvr = tvr
        // The data for the acquirer keeps 95 as the card received it in the PDOL: the ARQC covers that value and the
        // issuer recomputes it from DE 55. The kernel's own view of the TVR travels in `outcome.tvr`.
        // 9F27 goes to the acquirer only as the card sent it: a type read from the IAD stays the kernel's.
        outcome.transactionData = store
        if rules.cidFromIADForAcquirer, store[0x9F27] == nil {
            outcome.transactionData[0x9F27] = [kind.cid]
        }
        if outcome.kind == .approved || outcome.kind == .onlineRequest || outcome.kind == .declined || refund {
            outcome.dataRecordTags = rules.dataRecordTags
        }
        outcome.discretionaryDataTags = rules.discretionaryDataTags
        return outcome
    }

    /// An ARQC, or a TC the reader required to go online: Online Request unless the reader is offline-only or the
    /// CVM cannot be met.
    static func onlineDecision(
        _ base: Outcome, ttq: TerminalTransactionQualifiers, cvm: Result<OutcomeCVM, CVMFailure>,
        tcWithOnlineRequired: Bool
    ) -> Outcome {
        var o = base
        if ttq.offlineOnlyReader {
            // An offline-only reader cannot send an ARQC anywhere.
            o.kind = ttq.contactSupported ? .tryAnotherInterface : .declined
            o.reason = "the card asks to go online but the reader is offline-only"
            return o
        }
        o.kind = .onlineRequest
        o.reason =
            tcWithOnlineRequired
            ? "the card returned a TC although the reader required an online cryptogram: sent online, never approved offline"
            : "the card asks for online authorisation (ARQC)"
        return onlineCVM(o, cvm)
    }

    /// Book C-3 v2.10: an offline approval (§5.9.1.1) only after the processing restrictions (§5.5.1: expiry,
    /// exception file, cash and cashback usage) pass, fDDA passed (§5.6) and the CVM is met (§5.7) — in that order;
    /// the CTQ decides what a failed step leads to (online, another interface, or a decline §5.9.1.2).
    static func offlineDecision(
        _ base: Outcome, oda: ODAResult?, expired: Bool, onException: Bool,
        expiry: (ctqGoOnline: Bool, otherwise: OutcomeKind) = (true, .declined),
        cvm: Result<OutcomeCVM, CVMFailure>, ctq: CardTransactionQualifiers?,
        ttq: TerminalTransactionQualifiers, usage: UsageRestriction = .allowed
    ) -> Outcome {
        var o = base
        let canGoOnline = !ttq.offlineOnlyReader
        // §5.5.1.1: expired, or no expiry date.
        if expired {
            if expiry.ctqGoOnline && ctq?.goOnlineIfApplicationExpired == true && canGoOnline {
                o.kind = .onlineRequest
                o.reason = "application expired (or no expiry date); the card asks to go online"
            } else {
                o.kind = expiry.otherwise
                o.reason = "application expired (or no expiry date)"
            }
            return onlineCVM(o, cvm)
        }
        // §5.5.1.2: the terminal exception file.
        if onException {
            o.kind = .declined
            o.reason = "card is on the terminal exception file"
            return o
        }
        // §5.5.1.3-§5.5.1.4: cash and cashback must be allowed by the Application Usage Control.
        if case .notAllowed(let what, let switchInterface) = usage {
            if switchInterface && ttq.contactSupported {
                o.kind = .tryAnotherInterface
                o.reason = "\(what) is not allowed contactless for this card; the card asks for the contact interface"
            } else {
                o.kind = .declined
                o.reason = "\(what) is not allowed for this card"
            }
            return o
        }
        // §5.6: fDDA.
        if oda?.succeeded != true {
            if ctq?.goOnlineIfODAFails == true && canGoOnline {
                o.kind = .onlineRequest
                o.reason = "fDDA \(oda == nil ? "not performed" : "failed"); the card asks to go online"
            } else if ctq?.switchInterfaceIfODAFails == true && ttq.contactSupported {
                o.kind = .tryAnotherInterface
                o.reason = "fDDA failed; the card asks for the contact interface"
            } else {
                o.kind = .declined
                o.reason = "offline approval refused: fDDA \(oda?.failure.map { "failed: \($0)" } ?? "not performed")"
            }
            return onlineCVM(o, cvm)
        }
        // §5.7: the CVM.
        switch cvm {
        case .failure(let why):
            o.kind = .declined
            o.reason = why.text
        case .success(.onlinePIN):
            // §5.7.1.2: online PIN makes the transaction go online.
            if canGoOnline {
                o.kind = .onlineRequest
                o.reason = "the card asks for online PIN: the TC goes online"
            } else {
                o.kind = .declined
                o.reason = "online PIN requested on an offline-only reader"
            }
        case .success:
            o.kind = .approved
            o.reason = "approved offline (TC, fDDA passed)"
        }
        return o
    }

    /// A decision that sends the transaction online still needs a CVM the reader can do (§5.7.1.3).
    static func onlineCVM(_ o: Outcome, _ cvm: Result<OutcomeCVM, CVMFailure>) -> Outcome {
        guard o.kind == .onlineRequest, case .failure(let why) = cvm else { return o }
        var d = o
        d.kind = .declined
        d.reason = why.text
        return d
    }

    /// Book C-3 §5.5.1.3-§5.5.1.4: whether the Application Usage Control allows cash or cashback here.
    enum UsageRestriction: Equatable {
        case allowed
        case notAllowed(String, switchInterface: Bool)
    }

    /// Cash (9C 01) needs AUC byte 1 b8 (domestic) or b7 (international); cashback (09) AUC byte 2 b8 / b7. Domestic
    /// means the Issuer Country Code (5F28) equals the terminal's (9F1A). Without an AUC nothing is restricted. The
    /// CTQ's "switch interface for cash / cashback" (byte 1 b3 / b2) asks for the contact interface instead.
    static func usage(_ store: TLVStore, ctq: CardTransactionQualifiers?) -> UsageRestriction {
        guard let auc = store[0x9F07], auc.count == 2, let type = store[0x9C]?.first, type == 0x01 || type == 0x09
        else { return .allowed }
        let domestic = store[0x5F28] != nil && store[0x5F28] == store[0x9F1A]
        if type == 0x01 {
            let ok = domestic ? auc[0] & 0x80 != 0 : auc[0] & 0x40 != 0
            return ok ? .allowed : .notAllowed("cash", switchInterface: (ctq?.bytes[0] ?? 0) & 0x04 != 0)
        }
        let ok = domestic ? auc[1] & 0x80 != 0 : auc[1] & 0x40 != 0
        return ok ? .allowed : .notAllowed("cashback", switchInterface: (ctq?.bytes[0] ?? 0) & 0x02 != 0)
    }

    enum CVMFailure: Error, Equatable {
        case notSupported(String)
        case ctqMismatch
        case cdcvmWithoutAuthentication

        var text: String {
            switch self {
            case .notSupported(let s): return s
            case .ctqMismatch:
                return "the CTQ returned differs from the one the card signed (Card Authentication Related Data)"
            case .cdcvmWithoutAuthentication:
                return "on-device CVM claimed on an offline cryptogram without Card Authentication Related Data"
            }
        }
    }

    /// Book C-3 v2.10 §5.7.1 CVM processing.
    /// - §5.7.1.2 (CTQ present): online PIN when the card asks for it (CTQ byte 1 b8) and the TTQ offers it (byte 1
    ///   b3); on-device CVM when the card performed it (CTQ byte 2 b8) — with Card Authentication Related Data its
    ///   CTQ copy (bytes 6–7) must equal 9F6C, without it the cryptogram must be an ARQC; signature when the card
    ///   asks (CTQ byte 1 b7) and the TTQ offers it (byte 1 b2).
    /// - §5.7.1.1 (no CTQ, TTQ byte 2 b7 "CVM required"): signature if offered, else online PIN if offered.
    /// - §5.7.1.3: no CVM found while the reader requires one → decline.
    static func cardholderVerification(
        ttq: TerminalTransactionQualifiers, ctq: CardTransactionQualifiers?,
        cardAuthData: [UInt8]?, kind: ApplicationCryptogram.Kind
    ) -> Result<OutcomeCVM, CVMFailure> {
        if let ctq {
            if ctq.onlinePINRequired && ttq.onlinePINSupported { return .success(.onlinePIN) }
            if ctq.consumerDeviceCVMPerformed {
                if let card = cardAuthData, card.count >= 7 {
                    return Array(card[5..<7]) == ctq.bytes
                        ? .success(.confirmationCodeVerified) : .failure(.ctqMismatch)
                }
                return kind == .arqc ? .success(.confirmationCodeVerified) : .failure(.cdcvmWithoutAuthentication)
            }
            if ctq.signatureRequired && ttq.signatureSupported { return .success(.signature) }
        } else if ttq.cvmRequired {
            if ttq.signatureSupported { return .success(.signature) }
            if ttq.onlinePINSupported { return .success(.onlinePIN) }
        }
        if ttq.cvmRequired {
            return .failure(
                .notSupported(
                    "a CVM is required above the CVM limit and none the card asked for is offered by this reader"))
        }
        return .success(.noCVM)
    }

    static func uiRequest(for o: Outcome) -> UIRequest {
        switch o.kind {
        case .approved:
            return UIRequest(
                o.cvm == .signature ? .approvedPleaseSign : .approved, .notReady, holdTimeMilliseconds: 1300)
        case .onlineRequest: return UIRequest(.authorising, .notReady)
        case .declined: return UIRequest(.notAuthorised, .notReady, holdTimeMilliseconds: 1300)
        case .tryAnotherInterface: return UIRequest(.insertCard, .notReady, holdTimeMilliseconds: 1300)
        default: return UIRequest(.processingError, .notReady, holdTimeMilliseconds: 1300)
        }
    }
}
