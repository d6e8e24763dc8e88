// The SaleBook: the one owner of every sale's state. It alone writes a sale's journal rows, one journal transaction
// per transition (with whatever that transition queues); everything else — the coordinator running a tap, the API,
// events, recovery, store-and-forward — asks it or reads what it wrote. The acquirer reports what happened to a
// message (answered, never left, no answer); the SaleBook decides what that means for the money and records it
// before acting on it:
//   waiting_for_card ⇄ card_detected, processing, see_phone, present_again
//     → request_transmitted (request numbered and stored) → approved | partially_approved | declined | unanswered (+ reversal)
//     → approved_offline (+ advice, and capture in dual-message mode, in the same transaction)
//     → declined | failed | cancelled | timed_out
//   approved → voided once the acquirer accepts the void's reversal

import Acquirer
import EMVKernel
import FaultInjection
import Foundation
import ISO8583
import Journal
import Logging
import TLV

/// Why the SaleBook refused an operation; the coordinator turns each case into the API's error.
/// The one owner of every sale's state: it alone writes a sale's journal rows, one journal transaction per transition.
public actor SaleBook {
    /// The journal holding every sale, its stored request and the store-and-forward queue.
    public let journal: Journal
    /// The acquirer sales go online to; nil when none is configured, and then no sale can go online.
    public let acquirer: AcquirerService?
    let events: EventHub
    let metrics: TapdMetrics
    let voidWindow: VoidWindow
    let logger: Logger
    /// The drain in progress; drains run one after the other, never side by side.
    var currentDrain: Task<Int, Never>?
    /// Queue entries an operator resolved since the running drain took its window (they are not sent).
    var resolvedDuringDrain: Set<Int64> = []
    /// The batch close in progress; closes run one after the other.
    var currentClose: Task<BatchView, any Error>?
    /// Entries already announced as waiting too long (one alert each).
    var alertedOld: Set<Int64> = []
    /// Sales whose online leg runs now (`authorize`): the only ones in request_persisted/request_transmitted that
    /// are not stranded.
    var inFlight: Set<String> = []
    /// How long each online request in flight took, request to answer, until its final transition records it.
    var onlineTimes: [String: Int] = [:]

    /// Bumped by every transition that queues something and by an operator's retry. A drain that finds the queue
    /// empty notes the generation it looked at; while nothing was queued since, an online sale does not look again
    /// before its request (an empty look is a journal read on the way to the wire).
    var checkpointRunning = false
    var queueGeneration = 1
    var emptyAtGeneration = 0

    /// Whether a transition that queues something starts a drain by itself (the daemon); tests that step the queue
    /// by hand turn it off.
    let autoDrain: Bool

    /// A SaleBook over `journal`; with `autoDrain` false the caller delivers the queue itself (tests).
    public init(
        journal: Journal, acquirer: AcquirerService?, events: EventHub, metrics: TapdMetrics,
        voidWindow: VoidWindow = .sameDay, autoDrain: Bool = true, logger: Logger = Logger(label: "tapd.salebook")
    ) {
        self.journal = journal
        self.acquirer = acquirer
        self.events = events
        self.metrics = metrics
        self.voidWindow = voidWindow
        self.autoDrain = autoDrain
        self.logger = logger
    }

    // MARK: Reading

    /// The sale with this id as the API shows it, or nil when there is none.
    public func view(_ id: String) async throws -> TransactionView? {
        try await journal.sale(id).map { TransactionView($0) }
    }

    /// Sales most recent first, at most `limit` (1–200); `after` continues from a transaction id of the previous page.
    /// Throws `TapdError.notFound` when `after` names no sale.
    public func list(limit: Int = 20, after: String? = nil) async throws -> [TransactionView] {
        var before: Date? = nil
        if let after {
            guard let r = try await journal.sale(after) else { throw TapdError.notFound(after) }
            before = r.createdAt
        }
        // A page leaves each sale's kernel output out (`GET /v1/transactions/{id}` has it): decoding fifty of them
        // would be most of the page's time.
        return try await journal.sales(limit: max(1, min(limit, 200)), before: before).map {
            TransactionView($0, withKernelOutput: false)
        }
    }

    // MARK: The tap

    /// Opens a sale waiting for a card, or returns the one with the same idempotency key (`created` false).
    /// A refund names the sale it gives money back from in `originalID` (checked against what is left of it in the
    /// same journal transaction), or none for a stand-alone refund.
    public func open(
        idempotencyKey: String, amount: Int64, currency: Int, message: String, kind: TransactionKind = .sale,
        originalID: String? = nil
    ) async throws -> (TransactionView, created: Bool) {
        let (record, created) = try await journal.createSale(
            idempotencyKey: idempotencyKey, amount: amount, currency: currency, message: message, kind: kind,
            originalID: originalID)
        if created { publish(record) }
        return (TransactionView(record), created)
    }

    /// What the kernel found out about the card, kept with the sale (masked PAN, scheme, CVM, kernel output).
    public struct CardFacts: Sendable {
        /// The card number as the kernel masked it; never the full PAN.
        public var maskedPAN: String?
        /// The card scheme of the kernel that ran (visa, mastercard, amex, …).
        public var scheme: String?
        /// The cardholder verification method the kernel reported.
        public var cvm: String?
        /// The kernel's output encoded as JSON.
        public var kernelOutput: String?
        /// Milliseconds from the card in the field to the kernel's outcome (the last tap).
        public var tapMilliseconds: Int?
        /// Card facts; each stays nil until the kernel reports it.
        public init(maskedPAN: String? = nil, scheme: String? = nil, cvm: String? = nil, kernelOutput: String? = nil) {
            self.maskedPAN = maskedPAN
            self.scheme = scheme
            self.cvm = cvm
            self.kernelOutput = kernelOutput
        }
    }

    /// A step of the tap (card detected, see phone, …) or its end without money moving (declined by the card,
    /// failed, cancelled, timed out).
    @discardableResult
    public func record(
        _ id: String, _ state: SaleState, message: String? = nil, reason: String? = nil, reader: String? = nil,
        card: CardFacts = CardFacts()
    ) async throws -> TransactionView {
        var change = SaleChange(state)
        change.message = message
        change.reason = reason
        change.reader = reader
        change.maskedPAN = card.maskedPAN
        change.scheme = card.scheme
        change.cvm = card.cvm
        change.kernelOutput = card.kernelOutput
        change.tapMilliseconds = card.tapMilliseconds
        if state.isFinal { change.request = .erase }
        return try await commit(id, change)
    }

    // MARK: Online

    /// The online leg of a sale whose card asked to go online: the request numbered, stored and marked "transmitted"
    /// in one transaction before the first byte, the answer checked against the request and recorded with what it
    /// queues, in that order.
    public func authorize(
        _ id: String, card: CardTransaction, facts: CardFacts, message: String, kind: TransactionKind = .sale
    ) async throws -> TransactionView {
        let purpose = Self.purpose(kind)
        guard let acquirer else {
            return try await record(
                id, .failed, message: UIMessage.notAuthorised.text,
                reason: "no acquirer is configured: the sale cannot go online", card: facts)
        }
        inFlight.insert(id)
        defer { inFlight.remove(id) }
        if acquirer.configuration.drainBeforeOnline, emptyAtGeneration != queueGeneration { _ = await deliverQueue() }
        // Once the connection is up: the STAN, the request and "transmitted" in one journal transaction (one fsync),
        // then the first byte. A crash before it leaves the sale in a tap state (failed on restart, nothing sent);
        // after it, the request may have left and is reversed.
        let journal = self.journal
        let codec = acquirer.codec
        let started = ContinuousClock.now
        defer { onlineTimes[id] = nil }
        let (sent, outcome) = await acquirer.send { [weak self] in
            FaultPoint.hit("online_before_persist")
            let now = Date()  // the request is built from (card, STAN, now) alone: the same bytes inside and after
            let r = try await journal.applyNumbered(id, now: now) { stan in
                let request = acquirer.request(card, purpose: purpose, stan: stan, at: now)
                var change = SaleChange(.requestTransmitted)
                change.mti = request.mti
                change.stan = stan
                change.rrn = request[37]
                let packed = try codec.pack(request)
                // Framed here too: a request that cannot go out on the wire never gets "transmitted" on disk.
                _ = try ISOFraming.frame(packed, codec.spec.framing)
                change.request = .store(packed)
                change.message = message
                change.maskedPAN = facts.maskedPAN
                change.scheme = facts.scheme
                change.cvm = facts.cvm
                change.kernelOutput = facts.kernelOutput
                change.tapMilliseconds = facts.tapMilliseconds
                return change
            }
            FaultPoint.hit("request_transmitted")
            await self?.publish(r)
            guard let stan = r.stan else { throw JournalError.notFound("the STAN of \(id)") }
            return acquirer.request(card, purpose: purpose, stan: stan, at: now)
        }
        onlineTimes[id] = (ContinuousClock.now - started).wholeMilliseconds
        switch outcome {
        case .neverLeft(let e):
            // No byte reached the acquirer: nothing to reverse.
            var change = SaleChange(.failed)
            change.reason = "the request did not reach the acquirer: \(e)"
            change.message = UIMessage.notAuthorised.text
            change.request = .erase
            return try await commit(id, change)
        case .noAnswer(let e):
            guard let request = sent else { throw TapdError.unavailable("no request after transmission: \(e)") }
            return try await unanswered(id, request: request, why: "\(e)")
        case .answered(let answer):
            guard let request = sent else { throw TapdError.unavailable("an answer without a request") }
            FaultPoint.hit("answer_received")
            let view = try await answered(id, request: request, answer: answer, acquirer: acquirer, purpose: purpose)
            FaultPoint.hit("answer_written")
            return view
        }
    }

    /// No valid answer: the sale fails and its reversal is queued, in one transaction.
    private func unanswered(_ id: String, request: ISOMessage, why: String) async throws -> TransactionView {
        guard let acquirer else { throw TapdError.unavailable("no acquirer") }
        var change = SaleChange(.unanswered)
        change.reason = "no valid answer from the acquirer (\(why)); the request is being reversed"
        change.message = UIMessage.notAuthorised.text
        change.enqueue = [try reversalFollowUp(of: request, acquirer)]
        change.request = .store(try acquirer.codec.pack(Messages.stripped(request)))
        change.audit = ("acquirer", "reversal queued", "STAN \(request[11] ?? "?"): \(why)")
        let view = try await commit(id, change)
        kickDrain()
        return view
    }

    /// The message purpose of a transaction kind.
    static func purpose(_ kind: TransactionKind) -> AcquirerService.Purpose {
        switch kind {
        case .sale: .sale
        case .refund: .refund
        case .preauth: .preauthorisation
        }
    }

    private func answered(
        _ id: String, request: ISOMessage, answer: ISOMessage, acquirer: AcquirerService,
        purpose: AcquirerService.Purpose
    ) async throws -> TransactionView {
        let asked = UInt64(request[4] ?? "") ?? 0
        let kept = try acquirer.codec.pack(Messages.stripped(request))
        switch AnswerCheck.authorization(answer, for: request) {
        case .invalid(let why):
            try? await journal.audit(actor: "acquirer", event: "invalid answer", details: why)
            return try await unanswered(id, request: request, why: "invalid answer: \(why)")
        case .declined(let response):
            var change = SaleChange(.declined)
            change.responseCode = response.responseCode
            change.approvalCode = response.approvalCode
            change.reason = "declined by the issuer (response code \(response.responseCode))"
            change.message = UIMessage.notAuthorised.text
            change.request = .erase
            return try await commit(id, change)
        case .approved(let response):
            return try await approve(
                id, .approved, response: response, amount: asked, kept: kept, request: request, acquirer: acquirer,
                purpose: purpose)
        case .partiallyApproved(let response, let amount):
            // What stands at the issuer is the approved amount: a reversal (now, or a void's later) carries it in DE 4.
            var approved = request
            approved[4] = Messages.amountField(amount)
            let keptApproved = try acquirer.codec.pack(Messages.stripped(approved))
            if acquirer.configuration.partialApprovals == "accept" {
                return try await approve(
                    id, .partiallyApproved, response: response, amount: amount, kept: keptApproved, request: request,
                    acquirer: acquirer, purpose: purpose,
                    reason: "partially approved: \(amount) of \(asked); collect the rest another way")
            }
            // Configured to refuse partial approvals: undo it at the acquirer and decline the sale.
            var change = SaleChange(.declined)
            change.responseCode = response.responseCode
            change.approvalCode = response.approvalCode
            change.reason = "the issuer approved only \(amount) of \(asked); the partial approval is reversed"
            change.message = UIMessage.notAuthorised.text
            change.enqueue = [try reversalFollowUp(of: approved, approvalCode: response.approvalCode, acquirer)]
            change.request = .store(keptApproved)
            let view = try await commit(id, change)
            kickDrain()
            return view
        }
    }

    /// An approval (full or partial) recorded with the copy a void needs and, in dual-message mode, its capture
    /// for the approved `amount` queued in the same transaction.
    private func approve(
        _ id: String, _ state: SaleState, response: AuthorizationResponse, amount: UInt64, kept: [UInt8],
        request: ISOMessage, acquirer: AcquirerService, purpose: AcquirerService.Purpose, reason: String? = nil
    ) async throws -> TransactionView {
        var change = SaleChange(state)
        let captures = acquirer.capturesOnApproval(purpose)
        change.responseCode = response.responseCode
        change.approvalCode = response.approvalCode
        if state == .partiallyApproved { change.approvedAmount = Int64(amount) }
        change.message = UIMessage.approved.text
        change.request = .store(kept)
        change.reason = reason
        if captures {
            change.enqueue = [
                try await captureOf(request, amount: amount, approvalCode: response.approvalCode, acquirer)
            ]
        }
        let view = try await commit(id, change)
        if captures { kickDrain() }
        return view
    }

    /// The reversal of `original` (0400 or 0420 by configuration), packed as a follow-up to queue.
    func reversalFollowUp(of original: ISOMessage, approvalCode: String? = nil, _ acquirer: AcquirerService) throws
        -> NewFollowUp
    {
        let reversal = acquirer.reversal(of: original, approvalCode: approvalCode)
        return NewFollowUp(kind: .reversal, mti: reversal.mti, message: try acquirer.codec.pack(reversal))
    }

    func captureOf(_ request: ISOMessage, amount: UInt64, approvalCode: String?, _ acquirer: AcquirerService)
        async throws -> NewFollowUp
    {
        let stan = try await journal.nextSTAN()
        let capture = acquirer.capture(of: request, amount: amount, approvalCode: approvalCode, stan: stan)
        return NewFollowUp(kind: .capture, mti: capture.mti, message: try acquirer.codec.pack(capture))
    }

    // MARK: Offline approval

    /// An offline approval (TC) and its advice — and its capture in dual-message mode — in one journal
    /// transaction: no crash can leave an approval the acquirer will never hear of.
    public func approveOffline(_ id: String, card: CardTransaction, facts: CardFacts) async throws -> TransactionView {
        var change = SaleChange(.approvedOffline)
        change.reason = "approved offline"
        change.message = UIMessage.approved.text
        change.maskedPAN = facts.maskedPAN
        change.scheme = facts.scheme
        change.cvm = facts.cvm
        change.kernelOutput = facts.kernelOutput
        change.tapMilliseconds = facts.tapMilliseconds
        if let acquirer {
            let stan = try await journal.nextSTAN()
            var advice = acquirer.advice(card, stan: stan)
            advice.set(35, bytes: nil)  // the card's identity is DE 2 and 14; track 2 is not stored
            let packed = try acquirer.codec.pack(advice)
            change.enqueue = [NewFollowUp(kind: .advice, mti: advice.mti, message: packed)]
            change.mti = advice.mti
            change.stan = stan
            change.rrn = advice[37]
            change.request = .store(packed)
            if acquirer.dualMessage {
                change.enqueue.append(try await captureOf(advice, amount: card.amount, approvalCode: nil, acquirer))
            }
        }
        FaultPoint.hit("offline_before_record")
        let view = try await commit(id, change)
        FaultPoint.hit("offline_recorded")
        kickDrain()
        return view
    }

    // MARK: Void

    /// Voids an approved online sale: its reversal is queued (at most one per sale, enforced by the journal) and
    /// delivered; the sale becomes "voided" only when the acquirer accepts it.
    public func void(_ id: String, requester: String, reason: String = "void requested", now: Date = Date())
        async throws -> TransactionView
    {
        guard let r = try await journal.sale(id) else { throw TapdError.notFound(id) }
        if r.state == .voided { return TransactionView(r) }
        if let open = r.followUp(.reversal), open.status == .pending || open.status == .quarantined,
            r.state != .unanswered
        {
            // A second void of the same sale: the first one's reversal is the only one.
            if open.status == .pending { _ = await deliverQueue() }
            return try await view(id) ?? TransactionView(r)
        }
        switch r.state {
        case .approved, .partiallyApproved: break
        case .approvedOffline:
            throw TapdError.conflict(
                "\(id) was approved offline; its advice stands and a refund is the way to give the money back")
        default:
            throw TapdError.conflict(
                "only an approved sale can be voided; \(id) is \(TransactionView(r, withKernelOutput: false).status.rawValue)"
            )
        }
        if let batch = r.batchID {
            throw TapdError.conflict(
                "\(id) was settled in batch \(batch), which is closed; a refund is the way to give the money back")
        }
        if r.kind == .refund, r.state == .approvedOffline {
            throw TapdError.conflict("\(id) is a refund recorded offline; it cannot be voided")
        }
        // A pre-authorisation is released (reversed) whenever it is still open: the void window is for sales.
        guard r.kind == .preauth || voidWindow.allows(created: r.createdAt, now: now) else {
            throw TapdError.conflict(
                "\(id) is outside the void window (\(voidWindowText)); a refund is the way to give the money back")
        }
        guard let acquirer else { throw TapdError.unavailable("no acquirer is configured") }
        if let capture = r.followUp(.capture), capture.status == .pending || capture.status == .quarantined,
            capture.transmitted
        {
            throw TapdError.conflict("the capture of \(id) is being delivered; void it again in a moment")
        }
        guard let stored = try await journal.request(of: id) else {
            throw TapdError.unavailable(
                "the stored request of \(id) is gone (retention); a refund is the way to give the money back")
        }
        // The stored copy is the authorisation, or its capture once the acquirer accepted that (StoreAndForward).
        let original: ISOMessage
        do { original = try acquirer.codec.unpack(stored) } catch {
            throw TapdError.unavailable("the stored request of \(id) cannot be read: \(error)")
        }
        var change = SaleChange(r.state)
        change.reason = reason
        change.enqueue = [try reversalFollowUp(of: original, approvalCode: r.approvalCode, acquirer)]
        change.withdraw = [.capture]
        change.audit = (requester, reason, "\(id) STAN \(original[11] ?? "?")")
        do { _ = try await commit(id, change) } catch JournalError.followUpExists {
            // Another void got there first (the journal's unique index): that one stands.
        } catch JournalError.invalidTransition {
            // Another void finished meanwhile (the sale is voided now): that one stands.
        } catch JournalError.followUpInFlight {
            throw TapdError.conflict(
                "the capture of \(id) may have reached the acquirer; void it again once it is delivered")
        }
        FaultPoint.hit("void_queued")
        _ = await deliverQueue()
        return try await view(id) ?? TransactionView(r)
    }

    var voidWindowText: String {
        switch voidWindow {
        case .sameDay: "the same business day"
        case .seconds(let s): "\(Int(s)) s after the sale"
        }
    }

    // MARK: Writing

    /// One transition, then its event. The view returned leaves the kernel output out (`view(_:)` has it).
    func commit(_ id: String, _ change: SaleChange) async throws -> TransactionView {
        var change = change
        if change.state.isFinal, change.onlineMilliseconds == nil { change.onlineMilliseconds = onlineTimes[id] }
        if !change.enqueue.isEmpty { queueGeneration += 1 }  // before the write: a drain reading meanwhile is stale
        let r = try await journal.apply(id, change)
        publish(r)
        if r.state.isFinal {
            metrics.transaction(status: TransactionView(r, withKernelOutput: false).status.rawValue, scheme: r.scheme)
            checkpointSoon()
        }
        return TransactionView(r, withKernelOutput: false)
    }

    /// A checkpoint of the journal's log after a sale's end, off the sale's path and one at a time (the journal never
    /// checkpoints inside a commit: see `Journal.checkpoint`).
    public func checkpointSoon() {
        guard !checkpointRunning else { return }
        checkpointRunning = true
        Task {
            do { try await journal.checkpoint() } catch {
                logger.warning("journal checkpoint failed", metadata: ["error": "\(error)"])
            }
            checkpointRunning = false
        }
    }

    func publish(_ r: SaleRecord) {
        let v = TransactionView(r, withKernelOutput: false)
        // The message first: a listener that shows "[message] status" has both when the status arrives.
        if let m = v.message { events.publish(.ui, transactionID: v.id, message: m, reader: v.reader) }
        events.publish(.transaction, transactionID: v.id, status: v.status.rawValue, reader: v.reader, detail: v.reason)
    }
}
