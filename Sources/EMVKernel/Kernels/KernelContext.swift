// What a kernel is given when Entry Point activates it (Book B §3.4), and the steps the kernels share.

import APDU
import TLV

public struct KernelSession: Sendable {
    public let transport: CardTransport
    public let candidate: Candidate
    /// The FCI of the final SELECT.
    public let fci: TLV
    public let configuration: TerminalConfiguration
    public let transaction: TransactionParameters
    public let keys: CAKeyStore
    public let risk: RiskManager
    /// Terminal data to use instead of the computed values (replay files).
    public let overrides: [Tag: [UInt8]]
    /// Whether this activation follows a restart at Start B (the second tap of a "see phone" flow).
    public let restarted: Bool
    /// False when replaying a recorded trace: wall-clock checks (relay resistance timing) mean nothing then.
    public var timingChecks: Bool = true
    /// Book C-2 torn transaction log (Entry Point's, shared across taps).
    public var tornTransactions = TornTransactionLog()

    public var application: ApplicationConfiguration { candidate.combination.application }
    public var indicators: PreProcessingIndicators { candidate.combination.indicators }
    public var aid: [UInt8] { Array(fci.first(0x84)?.value ?? candidate.entry.adfName[...]) }
    public var rid: [UInt8] { Array(aid.prefix(5)) }

    /// What pre-processing found (floor limit, status check, zero amount, a forced online transaction) reaches the
    /// card in the TTQ; the kernels that read the TTQ re-read it before an offline approval — unless a replay's
    /// recorded TTQ stands for the recorded reader.
    var preProcessingRequiresOnline: Bool {
        overrides[0x9F66] == nil
            && (indicators.floorLimitExceeded || indicators.statusCheckRequested || indicators.zeroAmount
                || transaction.forcedOnline)
    }

    /// The primitive tags of the FCI of the final SELECT.
    var fciPrimitiveTags: [Tag] {
        func walk(_ t: [TLV]) -> [Tag] {
            t.flatMap { $0.children.isEmpty && !$0.tag.isConstructed ? [$0.tag] : walk($0.children) }
        }
        return walk(fci.children)
    }

    /// The terminal's data for this transaction: configuration, transaction, TTQ, an empty TVR, then overrides.
    public func terminalStore() -> TLVStore {
        var t = configuration.terminalData(for: application)
        let txn = transaction.terminalData
        for tag in txn.order { t[tag] = txn[tag] }
        if let ttq = indicators.ttq { t[0x9F66] = ttq }
        t[0x95] = [0, 0, 0, 0, 0]
        for (tag, v) in overrides { t[tag] = v }
        return t
    }
}

/// Why a kernel stopped early; each maps to the outcome and Error Indication (DF8115) the books prescribe for it.
public enum KernelFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The card left or stopped answering (Book A §6.3.2: an L1 error → Try Again, "present card again").
    case communication(CardError)
    /// The card's data is malformed or inconsistent (L2 CARD DATA ERROR → End Application).
    case cardData(String)
    /// A data object the kernel needs is absent (L2 CARD DATA MISSING → End Application).
    case cardDataMissing(String)
    /// A response could not be parsed as BER-TLV (L2 PARSING ERROR → End Application).
    case parsing(String)
    /// The card answered with a status the kernel cannot continue from (L2 STATUS BYTES → End Application).
    case status(String, StatusWord)
    /// Book C-2 S9.5-S9.15: the card was lost during GENERATE AC and the transaction went into the torn transaction
    /// log → End Application with a restart at Start B ("present card again"); RECOVER AC at the next tap.
    case torn(String)

    public var description: String {
        switch self {
        case .communication(let e): return "communication error: \(e)"
        case .cardData(let s): return "card data error: \(s)"
        case .cardDataMissing(let s): return "card data missing: \(s)"
        case .parsing(let s): return "parsing error: \(s)"
        case .status(let s, let sw): return "\(s): \(sw)"
        case .torn(let s):
            return "card lost during GENERATE AC (\(s)); torn transaction recorded, to be recovered at the next tap"
        }
    }

    /// Book A §6.3 Error Indication for this failure.
    public var errorIndication: ErrorIndication {
        switch self {
        case .communication(let e):
            switch e {
            case .timeout, .cardRemoved: return ErrorIndication(l1: .timeOutError, messageOnError: .presentCardAgain)
            case .malformedResponse: return ErrorIndication(l1: .protocolError, messageOnError: .presentCardAgain)
            case .cancelled: return ErrorIndication(l3: .stop)
            default: return ErrorIndication(l1: .transmissionError, messageOnError: .presentCardAgain)
            }
        case .cardData: return ErrorIndication(l2: .cardDataError, messageOnError: .insertSwipeOrTryAnotherCard)
        case .cardDataMissing:
            return ErrorIndication(l2: .cardDataMissing, messageOnError: .insertSwipeOrTryAnotherCard)
        case .parsing: return ErrorIndication(l2: .parsingError, messageOnError: .insertSwipeOrTryAnotherCard)
        case .status(_, let sw):
            return ErrorIndication(
                l2: .statusBytes, statusWord: sw.rawValue, messageOnError: .insertSwipeOrTryAnotherCard)
        case .torn: return ErrorIndication(l1: .timeOutError, messageOnError: .presentCardAgain)
        }
    }

    public var outcome: Outcome {
        var o: Outcome
        switch self {
        case .communication, .torn:
            o = Outcome(.tryAgain, reason: description)
            if case .torn = self { o.bookStatus = .endApplication }
            o.start = .b
            o.uiRequestOnOutcome = UIRequest(.presentCardAgain, .readyToRead)
            o.uiRequestOnRestart = UIRequest(.presentCardAgain, .readyToRead)
        case .cardData, .cardDataMissing, .parsing, .status:
            o = Outcome(.endApplication, reason: description)
            o.uiRequestOnOutcome = UIRequest(.insertSwipeOrTryAnotherCard, .notReady, holdTimeMilliseconds: 1300)
        }
        o.errorIndication = errorIndication
        return o
    }
}

enum KernelSteps {
    /// Runs a kernel's processing and labels the outcome; an early stop becomes the outcome its failure prescribes.
    static func run(
        _ kernel: KernelID, _ s: KernelSession,
        _ process: (KernelSession) async throws(KernelFailure) -> Outcome
    ) async -> Outcome {
        var outcome: Outcome
        do {
            outcome = try await process(s)
        } catch {
            outcome = error.outcome
        }
        outcome.kernel = kernel.name
        outcome.aid = s.aid
        // The Unpredictable Number this activation sent (fresh per activation): traces record what the card saw.
        if outcome.transactionData[0x9F37] == nil {
            outcome.transactionData[0x9F37] = s.transaction.unpredictableNumber
        }
        return outcome
    }

    /// Most records one transaction reads. Real cards name a handful; an AFL naming thousands (255 records in each of
    /// 63 entries) would keep a card in the field for minutes. tapd's bound, not a book rule.
    static let maxRecords = 64

    /// Sends a command; transport faults become `KernelFailure.communication`. A command whose data does not fit a
    /// short APDU (a PDOL or CDOL asking for more than 255 bytes) is not sent: contactless readers are not required
    /// to carry extended APDUs (the ACR122U cannot), and no card's DOL needs one, so it is a card data error.
    static func send(_ ctx: KernelSession, _ c: CommandAPDU) async throws(KernelFailure) -> ResponseAPDU {
        guard c.fitsShortForm else {
            throw .cardData(
                "the card's data object list asks for \(c.data.count) bytes of command data, more than a short APDU carries"
            )
        }
        do { return try await ctx.transport.send(c) } catch let e as CardError { throw .communication(e) } catch {
            throw .communication(.transport("\(error)"))
        }
    }

    /// Book 3 §5.4 / Book C-3: the PDOL related data, or an empty value when the card has no PDOL.
    static func pdolData(_ ctx: KernelSession, _ store: TLVStore, context: KernelContext) throws(KernelFailure) -> (
        dol: DataObjectList?, data: [UInt8]
    ) {
        guard let raw = ctx.fci.first(0x9F38) else { return (nil, []) }
        guard let dol = try? DataObjectList(parsing: raw.value) else { throw .cardData("malformed PDOL") }
        return (dol, dol.build(context: context) { store[$0] })
    }

    /// Book 3 §10.2: READ RECORD for every record the AFL names; records must be 70 templates, a record that
    /// is not there ends the transaction, a primitive object that appears twice is a card error. Records marked
    /// for ODA feed the static data.
    static func readRecords(
        _ ctx: KernelSession, afl: ApplicationFileLocator, into store: inout TLVStore,
        staticData: inout StaticDataToBeAuthenticated, context: KernelContext
    ) async throws(KernelFailure) {
        let total = afl.entries.reduce(0) { $0 + Int($1.lastRecord) - Int($1.firstRecord) + 1 }
        guard total <= maxRecords else {
            throw .cardData("the AFL names \(total) records (at most \(maxRecords) are read)")
        }
        for e in afl.entries {
            for rec in e.firstRecord...e.lastRecord {
                let r = try await send(ctx, .readRecord(sfi: e.sfi, record: rec))
                guard r.status.isSuccess else { throw .status("READ RECORD SFI \(e.sfi) record \(rec)", r.status) }
                let isODA = Int(rec) < Int(e.firstRecord) + Int(e.odaRecordCount)
                if isODA { staticData.add(record: r.data, sfi: e.sfi, recordNumber: rec) }
                guard let tlv = try? TLVParser.parseOne(r.data), tlv.tag == 0x70 else {
                    if e.sfi <= 10, (try? TLVParser.parseOne(r.data)) == nil {
                        throw .parsing("record \(rec) of SFI \(e.sfi) is not BER-TLV")
                    }
                    // SFI 11–30 may hold other formats; only SFI 1–10 records must be 70 templates to be parsed here.
                    if e.sfi <= 10 { throw .cardData("record \(rec) of SFI \(e.sfi) is not a 70 template") }
                    continue
                }
                try addCardData(tlv.children, into: &store, session: ctx, context: context)
            }
        }
    }

    /// Tags the terminal supplies in this kernel; a card echoing one of them is not a redundancy error (the
    /// terminal's value stays: the store keeps the first).
    static func isTerminalTag(_ t: Tag, context: KernelContext) -> Bool {
        DataDictionary.element(t, context: context)?.source == .terminal
    }

    /// What a card may repeat from its FCI in later answers without a redundancy error: what people read (labels,
    /// language preference, which real cards repeat in their records) and the FCI's own selection data. Nothing a
    /// decision reads: a cryptogram, its type or the card's data in the FCI and again later is a card error, so a
    /// forged FCI can never stand in for what the card signs.
    static let repeatableFromFCI: Set<Tag> = presentational.union([0x84, 0x87, 0x9F38, 0x9F4D, 0xDF4D, 0x9F5A])

    /// Adds the card's response objects (GPO, records, GENERATE AC) to the store. Book 3 §10.2: a primitive the
    /// card returns twice is a card error — except what the FCI may repeat (above). Terminal data a card sends are
    /// left out before (`checkCardData`).
    static func addCardData(
        _ objects: [TLV], into store: inout TLVStore, session: KernelSession,
        context: KernelContext
    ) throws(KernelFailure) {
        let kept = try checkCardData(objects, context: context)
        let fciTags = Set(session.fciPrimitiveTags).intersection(repeatableFromFCI)
        let repeated = store.add(kept).filter { !fciTags.contains($0) }
        if let t = repeated.first { throw .cardData("tag \(t.hex) appears more than once in the card's data") }
    }

    /// Data objects only shown to people (names, labels, language, URLs, track discretionary data): no decision
    /// reads them, so a malformed one is left out rather than failing a genuine card over a cosmetic field (phones
    /// have been seen with a one-character cardholder name).
    static let presentational: Set<Tag> = [
        0x5F20, 0x9F0B, 0x50, 0x9F12, 0x5F2D, 0x5F50, 0x9F11, 0x56, 0x9F1F, 0x9F20, 0x5F53,
        0x5F54, 0x5F55, 0x5F56,
    ]

    /// Every data object from a card is checked against the data dictionary before the kernel keeps it (Book 3
    /// Annex A lengths and formats; Book C-2 Annex A; Book C-3 Annex A): a wrong length or a numeric field that
    /// holds other than digits is a card data error — except a presentational object, which is left out. A
    /// zero-length primitive counts as absent (Book 3 §5.2) and objects the dictionary does not know are kept as
    /// they came. Returns the objects to keep.
    /// Terminal-sourced objects a card sends (in this kernel's meaning) are left out too: terminal data come from the
    /// terminal (Book 3 §10.2), so a card can never supply a limit, a TTQ or an amount the kernel then reads.
    @discardableResult
    static func checkCardData(_ objects: [TLV], context: KernelContext) throws(KernelFailure) -> [TLV] {
        var dropped: Set<Tag> = []
        try scan(objects, context: context, dropped: &dropped)
        // Nearly always nothing is dropped: the objects are kept as they came, without a copy.
        return dropped.isEmpty ? objects : filtered(objects, dropping: dropped)
    }

    private static func scan(_ objects: [TLV], context: KernelContext, dropped: inout Set<Tag>) throws(KernelFailure) {
        for o in objects {
            if !o.children.isEmpty || o.tag.isConstructed {
                try scan(o.children, context: context, dropped: &dropped)
                continue
            }
            if o.value.isEmpty { continue }
            if isTerminalTag(o.tag, context: context) {
                dropped.insert(o.tag)
                continue
            }
            if let e = DataDictionary.strictElement(o.tag, context: context), e.source == .card,
                let problem = e.problem(with: o.value)
            {
                if presentational.contains(o.tag) {
                    dropped.insert(o.tag)
                    continue
                }
                throw .cardData("\(e.name) (\(o.tag.hex)): \(problem)")
            }
        }
    }

    /// The primitives of `objects` without the malformed presentational ones (flattened, as the store keeps them).
    private static func filtered(_ objects: [TLV], dropping tags: Set<Tag>) -> [TLV] {
        objects.flatMap { o -> [TLV] in
            if !o.children.isEmpty || o.tag.isConstructed { return filtered(o.children, dropping: tags) }
            return tags.contains(o.tag) ? [] : [o]
        }
    }
}
