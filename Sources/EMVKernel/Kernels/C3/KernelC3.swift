// Kernel C-3: Visa qVSDC (EMV Contactless Book C-3). GPO carries the terminal's data (PDOL with TTQ, amount, UN,
// …) and returns the cryptogram; records are read when the AFL names any; fDDA authenticates the card; the
// Card Transaction Qualifiers tell which CVM the card wants; offline approval only when every condition holds.
import TLV
import APDU

public enum KernelC3 {
    public static func run(_ s: KernelSession) async -> Outcome {
        await KernelSteps.run(.visa, s, process)
    }

    static func process(_ s: KernelSession) async throws(KernelFailure) -> Outcome {
        var store = s.terminalStore()
        store.add(s.fci.children)

        // Book C-3: qVSDC needs a PDOL that asks for the TTQ; without it this combination cannot run.
        guard let pdolTLV = s.fci.first(0x9F38), let pdol = try? DataObjectList(parsing: pdolTLV.value),
              pdol.entries.contains(where: { $0.tag == 0x9F66 }) else {
            return Outcome(.selectNext, reason: "no PDOL requesting the TTQ: not a qVSDC application")
        }
        let pdolData = pdol.build(context: .c3) { store[$0] }

        // GET PROCESSING OPTIONS and the status words C-3 gives a meaning to.
        let gpo = try await KernelSteps.send(s, .getProcessingOptions(pdolData: pdolData))
        switch gpo.status.rawValue {
        case 0x9000: break
        case 0x6986:
            // A phone that needs its user first: show "see phone" and restart at Start B for the second tap.
            var o = Outcome(.seePhone, reason: "the device asks the cardholder to look at it (GPO 6986)")
            o.start = .b
            o.uiRequestOnOutcome = UIRequest(.seePhone, .notReady, holdTimeMilliseconds: 1300)
            o.uiRequestOnRestart = UIRequest(.presentCard, .readyToRead)
            return o
        case 0x6984:
            var o = Outcome(.tryAnotherInterface, reason: "the card asks for another interface (GPO 6984)")
            o.uiRequestOnOutcome = UIRequest(.insertCard, .processingError, holdTimeMilliseconds: 1300)
            return o
        case 0x6985:
            return Outcome(.selectNext, reason: "conditions of use not satisfied (GPO 6985)")
        default:
            throw .status("GET PROCESSING OPTIONS", gpo.status)
        }
        guard let resp = try? TLVParser.parseOne(gpo.data) else { throw .cardData("GPO response is not one TLV object") }
        guard resp.tag == 0x77 else { throw .cardData("GPO response format \(resp.tag.hex): qVSDC needs format 2 (77)") }
        try KernelSteps.addCardData(resp.children, into: &store, session: s)
        for t: Tag in [0x82, 0x9F36, 0x9F26, 0x9F10] where store[t] == nil {
            throw .cardData("mandatory \(DataDictionary.element(t)?.name ?? t.hex) (\(t.hex)) missing from the GPO response")
        }

        var staticData = StaticDataToBeAuthenticated()
        if let aflBytes = store[0x94], !aflBytes.isEmpty {
            let afl: ApplicationFileLocator
            do { afl = try ApplicationFileLocator(aflBytes) } catch { throw .cardData("\(error)") }
            try await KernelSteps.readRecords(s, afl: afl, into: &store, staticData: &staticData)
        }
        return decide(s, store: store, staticData: staticData)
    }

    /// Everything after the card has been read: no further card interaction.
    static func decide(_ s: KernelSession, store: TLVStore, staticData: StaticDataToBeAuthenticated) -> Outcome {
        let ttq = store[0x9F66] ?? [0, 0, 0, 0]
        let ctq = store[0x9F6C] ?? [0, 0]
        let config = s.configuration
        var tvr = TerminalVerificationResults()

        guard let pan = CardIdentity.pan(from: store) else {
            return KernelFailure.cardData("neither PAN (5A) nor Track 2 Equivalent Data (57) was returned").outcome
        }
        let kind: ApplicationCryptogram.Kind
        if let cid = store[0x9F27]?.first {
            guard let k = ApplicationCryptogram.kind(fromCID: cid) else { return KernelFailure.cardData("CID \(Hex.encode([cid])) is RFU").outcome }
            kind = k
        } else if let k = VisaIssuerApplicationData(store[0x9F10] ?? [])?.firstCryptogramKind {
            kind = k
        } else {
            // No CID and an IAD format this reader cannot read: treat the cryptogram as an ARQC and let the issuer
            // decide. Never assume a TC — that would approve offline on a guess.
            kind = .arqc
        }
        let cryptogram = ApplicationCryptogram(kind: kind, value: store[0x9F26] ?? [], atc: store[0x9F36] ?? [])

        // fDDA: for offline approvals, and for online ones when the reader says it does ODA for online (TTQ byte 1 b1).
        var oda: ODAResult? = nil
        let wantsODA = kind == .tc || (kind == .arqc && ttq[0] & 0x01 != 0)
        if wantsODA, store[0x9F4B] != nil {
            switch staticData.finish(sdaTagList: store[0x9F4A], aip: store[0x82]) {
            case .success(let sd):
                oda = OfflineDataAuthenticator(keys: s.keys, transactionDate: s.transaction.date).performFDDA(rid: s.rid, data: store, staticData: sd)
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
        let expired = CardIdentity.isExpired(store, on: s.transaction.date)
        let onException = s.risk.isOnExceptionFile(pan: pan)
        if onException { tvr.set(.cardOnExceptionFile) }
        if expired { tvr.set(.expiredApplication) }

        // CVM (Book C-3 CVM processing): what the card asks for against what the reader can do.
        let cvm = cardholderVerification(ttq: ttq, ctq: ctq, cardAuthData: store[0x9F69], odaPassed: oda?.succeeded == true, config: config)

        switch kind {
        case .aac:
            outcome.kind = .declined
            outcome.reason = "the card declined (AAC)"
        case .arqc:
            if ttq[0] & 0x08 != 0 || !config.onlineCapable {
                outcome.kind = .declined
                outcome.reason = "the card asks to go online but the reader is offline-only"
            } else if case .failure(let why) = cvm {
                outcome = unsupportedCVM(outcome, why, config)
            } else {
                outcome.kind = .onlineRequest
                outcome.reason = "the card asks for online authorisation (ARQC)"
            }
        case .tc:
            outcome = offlineDecision(outcome, oda: oda, expired: expired, onException: onException, cvm: cvm, ctq: ctq, config: config)
        }
        if case .success(let c) = cvm { outcome.cvm = c } else { outcome.cvm = .notApplicable }
        if outcome.kind == .declined || outcome.kind == .tryAnotherInterface { outcome.cvm = .notApplicable }
        outcome.receipt = outcome.cvm == .signature
        outcome.uiRequestOnOutcome = uiRequest(for: outcome)
        outcome.tvr = tvr
        // The data for the acquirer keeps 95 as the card received it in the PDOL: the ARQC covers that value and the
        // issuer recomputes it from DE 55. The kernel's own view of the TVR travels in `outcome.tvr`.
        var data = store
        if data[0x9F27] == nil { data[0x9F27] = [kind == .arqc ? 0x80 : kind == .tc ? 0x40 : 0x00] }
        outcome.transactionData = data
        return outcome
    }

    /// Book C-3 offline approval: only when fDDA passed, the application has not expired, the card is not on the
    /// exception file and the CVM is satisfied; the CTQ decides what happens otherwise.
    static func offlineDecision(_ base: Outcome, oda: ODAResult?, expired: Bool, onException: Bool,
                                cvm: Result<OutcomeCVM, CVMFailure>, ctq: [UInt8], config: TerminalConfiguration) -> Outcome {
        var o = base
        if oda?.succeeded != true {
            if ctq[0] & 0x20 != 0 && config.onlineCapable {            // CTQ byte 1 b6: go online if ODA fails
                o.kind = .onlineRequest; o.reason = "fDDA \(oda == nil ? "not performed" : "failed"); the card asks to go online"
            } else if ctq[0] & 0x10 != 0 && config.supportsContactInterface { // CTQ byte 1 b5: switch interface
                o.kind = .tryAnotherInterface; o.reason = "fDDA failed; the card asks for the contact interface"
            } else {
                o.kind = .declined; o.reason = "offline approval refused: fDDA \(oda?.failure.map { "failed: \($0)" } ?? "not performed")"
            }
            return o
        }
        if expired {
            if ctq[0] & 0x08 != 0 && config.onlineCapable {             // CTQ byte 1 b4: go online if application expired
                o.kind = .onlineRequest; o.reason = "application expired; the card asks to go online"
            } else {
                o.kind = .declined; o.reason = "application expired"
            }
            return o
        }
        if onException {
            o.kind = .declined; o.reason = "card is on the terminal exception file"
            return o
        }
        if case .failure(let why) = cvm { return unsupportedCVM(o, why, config) }
        if case .success(.onlinePIN) = cvm {
            o.kind = .declined; o.reason = "online PIN requested on an offline approval"
            return o
        }
        o.kind = .approved
        o.reason = "approved offline (TC, fDDA passed)"
        return o
    }

    enum CVMFailure: Error, Equatable { case notSupported(String), ctqMismatch }

    /// Book C-3 CVM processing. CVM is needed when the reader says so (TTQ byte 2 b7, set by pre-processing at the
    /// CVM required limit) or the card asks (CTQ byte 1 b8/b7). A consumer device CVM counts only if the reader
    /// supports it (TTQ byte 3 b7) and, when fDDA signed the Card Authentication Related Data, the CTQ there
    /// matches the CTQ returned.
    static func cardholderVerification(ttq: [UInt8], ctq: [UInt8], cardAuthData: [UInt8]?, odaPassed: Bool,
                                       config: TerminalConfiguration) -> Result<OutcomeCVM, CVMFailure> {
        let readerWantsCVM = ttq[1] & 0x40 != 0
        let pinRequired = ctq[0] & 0x80 != 0, signatureRequired = ctq[0] & 0x40 != 0
        let cdcvm = ctq[1] & 0x80 != 0
        if cdcvm && ttq[2] & 0x40 != 0 {
            if odaPassed, let card = cardAuthData, card.count >= 7, Array(card[5..<7]) != ctq { return .failure(.ctqMismatch) }
            return .success(.confirmationCodeVerified)
        }
        if pinRequired {
            if config.supportsOnlinePIN && ttq[0] & 0x04 != 0 { return .success(.onlinePIN) }
            if signatureRequired && config.supportsSignature && ttq[0] & 0x02 != 0 { return .success(.signature) }
            return .failure(.notSupported("the card requires online PIN and this reader has no PIN pad"))
        }
        if signatureRequired {
            if config.supportsSignature && ttq[0] & 0x02 != 0 { return .success(.signature) }
            return .failure(.notSupported("the card requires a signature the reader does not support"))
        }
        if readerWantsCVM {
            if config.supportsSignature && ttq[0] & 0x02 != 0 { return .success(.signature) }
            if config.supportsOnlinePIN && ttq[0] & 0x04 != 0 { return .success(.onlinePIN) }
            return .failure(.notSupported("a CVM is required above the CVM limit and the card offered none the reader supports"))
        }
        return .success(.noCVM)
    }

    static func unsupportedCVM(_ base: Outcome, _ why: CVMFailure, _ config: TerminalConfiguration) -> Outcome {
        var o = base
        switch why {
        case .ctqMismatch:
            o.kind = .declined
            o.reason = "the CTQ returned differs from the one the card signed"
        case .notSupported(let text):
            if config.supportsContactInterface {
                o.kind = .tryAnotherInterface
                o.reason = text + "; try the contact interface"
            } else {
                o.kind = .declined
                o.reason = text
            }
        }
        return o
    }

    static func uiRequest(for o: Outcome) -> UIRequest {
        switch o.kind {
        case .approved: return UIRequest(o.cvm == .signature ? .approvedPleaseSign : .approved, .cardReadSuccessfully, holdTimeMilliseconds: 1300)
        case .onlineRequest: return UIRequest(.authorising, .processing)
        case .declined: return UIRequest(.notAuthorised, .cardReadSuccessfully, holdTimeMilliseconds: 1300)
        case .tryAnotherInterface: return UIRequest(.insertCard, .processingError, holdTimeMilliseconds: 1300)
        default: return UIRequest(.processingError, .processingError, holdTimeMilliseconds: 1300)
        }
    }
}

/// The card's identity as read: PAN from 5A, or from the Track 2 Equivalent Data (57) or Track 2 Data (9F6B,
/// which Google Pay sends instead of 57).
public enum CardIdentity {
    public static func pan(from store: TLVStore) -> String? {
        if let p = store[0x5A], let d = BCD.digits(p), (8...19).contains(d.count) { return d }
        for t: Tag in [0x57, 0x9F6B] {
            if let t2 = store[t] {
                let hex = Hex.encode(t2)
                if let sep = hex.firstIndex(of: "D") {
                    let d = String(hex[..<sep])
                    if (8...19).contains(d.count), d.allSatisfy(\.isNumber) { return d }
                }
            }
        }
        return nil
    }

    /// Application Expiration Date (5F24), or YYMM from track 2 when 5F24 is absent; valid through that date.
    public static func isExpired(_ store: TLVStore, on date: EMVDate) -> Bool {
        if let e = store[0x5F24], let d = EMVDate(yymmdd: e) { return date > d }
        for t: Tag in [0x57, 0x9F6B] {
            if let t2 = store[t] {
                let hex = Hex.encode(t2)
                if let sep = hex.firstIndex(of: "D") {
                    let yymm = hex[hex.index(after: sep)...].prefix(4)
                    if yymm.count == 4, let y = Int(yymm.prefix(2)), let m = Int(yymm.suffix(2)), (1...12).contains(m) {
                        let year = EMVDate.window(y)
                        return (date.year, date.month) > (year, m)
                    }
                }
            }
        }
        return false
    }
}
