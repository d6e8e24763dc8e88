// The transaction coordinator: one tap from the point of sale's request to the card leaving the field. It holds
// only what lives with the tap (the leased reader, the cancel flag, the task running the kernel); every state the
// sale passes through is recorded by the SaleBook, the one owner of sale state, and every answer the API gives is
// read from there.
//   waiting_for_card → card_detected → processing → (see_phone | present_again → waiting_for_card)
//   → online → approved | partially_approved | declined | failed → (remove card)
// One transaction per reader at a time (the reader is leased); the idempotency key makes a retried request return the
// sale already started, in its current state; cancel works until the request goes online.

import APDU
import Acquirer
import EMVKernel
import Foundation
import ISO8583
import Journal
import Readers
import TLV

/// Why the coordinator refused a request from the point of sale; each case maps to one HTTP status.
/// Runs each tap from the point of sale's request to the card leaving the field, one sale per reader at a time.
public actor TransactionCoordinator {
    /// What lives only while the tap runs: never a copy of the sale's state.
    final class Live: @unchecked Sendable {
        let id: String
        let reader: String
        var session: (any CardReaderSession)?
        /// The last tap state recorded (for "may it still be cancelled").
        var state: SaleState = .waitingForCard
        var cancelRequested = false
        var readerFailure: String?
        var task: Task<Void, Never>?
        var facts = SaleBook.CardFacts()
        /// What this sale runs with from its start to its end, taken before `start` first waits: a reload meanwhile
        /// applies to the next sale.
        let entryPoint: EntryPoint
        let settings: DaemonSettings
        /// Sale, refund or pre-authorisation: the transaction type the kernel runs and the message it goes as.
        let kind: TransactionKind
        /// For a linked refund: the sale it gives money back from.
        let originalID: String?
        init(
            id: String, reader: String, kind: TransactionKind, originalID: String? = nil, entryPoint: EntryPoint,
            settings: DaemonSettings
        ) {
            self.id = id
            self.reader = reader
            self.kind = kind
            self.originalID = originalID
            self.entryPoint = entryPoint
            self.settings = settings
        }
    }

    let readers: any CardReaderPool
    /// The SaleBook that records every state of every sale; the API's answers are read from it.
    public let book: SaleBook
    /// The terminal configuration and Entry Point new sales start with; a reload swaps them between sales (a sale
    /// keeps the ones it started with).
    private(set) var terminal: TerminalConfiguration
    private(set) var entryPoint: EntryPoint
    /// The risk team's levers (freezes, exception file) and the alert rules.
    public let risk: RiskControls
    let events: EventHub
    let metrics: TapdMetrics
    private(set) var settings: DaemonSettings
    /// The merchant as receipts print it (`[merchant]`).
    private(set) var merchant: MerchantSettings
    let today: @Sendable () -> EMVDate
    private var live: [String: Live] = [:]
    private var lastID: String?
    private var accepting = true

    /// A coordinator leasing readers from `readers` and recording sales in `book`; `today` gives the date (tag 9A).
    public init(
        readers: any CardReaderPool, book: SaleBook, terminal: TerminalConfiguration,
        keys: CAKeyStore, events: EventHub, metrics: TapdMetrics, settings: DaemonSettings,
        risk: RiskControls? = nil, merchant: MerchantSettings = MerchantSettings(),
        today: @escaping @Sendable () -> EMVDate = TransactionCoordinator.utcToday
    ) {
        self.merchant = merchant
        self.readers = readers
        self.book = book
        self.terminal = terminal
        let risk =
            risk
            ?? RiskControls(
                journal: book.journal, events: events, metrics: metrics,
                manager: RiskManager(maxTapsPerHour: terminal.velocityMaxTapsPerHour))
        self.risk = risk
        self.entryPoint = EntryPoint(configuration: terminal, keys: keys, risk: risk.manager)
        self.events = events
        self.metrics = metrics
        self.settings = settings
        self.today = today
    }

    /// A reload: new sales start with this terminal configuration, these CA keys and these daemon settings; sales
    /// already running finish with what they started with.
    public func reconfigure(
        terminal: TerminalConfiguration, keys: CAKeyStore, settings: DaemonSettings,
        merchant: MerchantSettings? = nil
    ) async {
        if let merchant { self.merchant = merchant }
        // All three together, before any suspension: no sale starts with half of the new configuration.
        let ep = EntryPoint(configuration: terminal, keys: keys, risk: risk.manager)
        self.terminal = terminal
        self.settings = settings
        entryPoint = ep
        await risk.manager.setMaxTapsPerHour(terminal.velocityMaxTapsPerHour)
    }

    /// Today's date in UTC (tag 9A). A clock outside 1950–2049 (EMV's two-digit year window) is broken —
    /// `tapctl diagnose` says so; rather than crash, the sale then carries the window's last day, where
    /// every card reads as expired.
    public static let utcToday: @Sendable () -> EMVDate = {
        EMVDate.utcToday() ?? EMVDate(year: 2049, month: 12, day: 31)!
    }

    /// The terminal's currency as ISO 4217 alpha (numeric when unknown).
    public var currencyText: String { ISOCodes.currency(Int(terminal.currencyCode)) ?? String(terminal.currencyCode) }
    /// The terminal currency's minor-unit digits (ISO 4217: 2 for EUR, 0 for JPY, 3 for BHD).
    public var currencyExponent: Int { ISOCodes.exponent(Int(terminal.currencyCode)) }

    // MARK: Requests from the point of sale

    /// Starts a sale, or returns the one already started with the same idempotency key (`created` false), in the
    /// state it is in now: a retry while the first request still runs sees it running, never a premature end.
    public func start(_ request: SaleRequest, requester: String = "api") async throws -> (
        TransactionView, created: Bool
    ) {
        // The configuration this sale runs with, taken before the first suspension (a reload may come during one).
        let (terminal, ep, saleSettings) = (self.terminal, entryPoint, settings)
        guard accepting else { throw TapdError.unavailable("tapd is shutting down") }
        if let f = await risk.terminalFreeze() {
            // The risk team's decision, not an outage: a conflict with the terminal's state (409).
            throw TapdError.conflict("acceptance is frozen on this terminal (freeze \(f.id)): \(f.reason)")
        }
        guard let kind = TransactionKind(rawValue: request.type ?? "sale") else {
            throw TapdError.invalid(
                "type \"\(request.type ?? "")\" is not supported (one of \"sale\", \"refund\", \"preauth\")")
        }
        let original = request.originalID.map { $0.trimmingCharacters(in: .whitespaces) }
        if let original {
            guard kind == .refund else { throw TapdError.invalid("original_id is for refunds only") }
            guard (1...64).contains(original.count),
                original.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
            else { throw TapdError.invalid("original_id must be a transaction id (letters, digits and -)") }
        } else if kind == .refund, saleSettings.refundRequiresOriginal {
            throw TapdError.invalid("refunds need original_id here (the sale they give money back from)")
        }
        // As the point of sale sent it (never trimmed): 1–128 printable ASCII characters (0x20–0x7E).
        let key = request.idempotencyKey
        guard (1...128).contains(key.utf8.count), key.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw TapdError.invalid("idempotency_key must be 1–128 printable ASCII characters")
        }
        if let reader = request.reader, !(1...256).contains(reader.unicodeScalars.count) {
            throw TapdError.invalid("reader must be 1–256 characters (a reader's name or its beginning)")
        }
        guard request.amount > 0, request.amount <= 999_999_999_999 else {
            throw TapdError.invalid("amount must be 1–999999999999 minor units")
        }
        if let c = request.currency, !c.utf8.allSatisfy({ $0 < 0x80 }) || c.count != 3 {
            throw TapdError.invalid("currency must be an ISO 4217 code: 3 letters (EUR) or 3 digits (978)")
        }
        if let c = request.currency, !currencyMatches(c) {
            throw TapdError.conflict(
                "currency \(c) is not accepted: this terminal is configured for \(currencyText) (\(terminal.currencyCode))"
            )
        }
        let (opened, created) = try await mapped {
            try await self.book.open(
                idempotencyKey: key, amount: request.amount, currency: Int(terminal.currencyCode),
                message: UIMessage.presentCard.text, kind: kind, originalID: original)
        }
        if !created {
            guard opened.amount == request.amount, opened.type == kind.rawValue, opened.originalID == original else {
                throw TapdError.conflict(
                    "idempotency_key \(key) was used for another request (\(opened.type) of \(opened.amount))")
            }
            return (try await mapped { try await self.book.view(opened.id) } ?? opened, false)
        }
        let id = opened.id
        let session: any CardReaderSession
        do { session = try await leaseWaitingForRemoval(request.reader) } catch {
            let why = "\(error)"
            _ = try? await book.record(id, .failed, reason: why)
            if let e = error as? ReaderManagerError, case .busy = e { throw TapdError.conflict(why) }
            if let e = error as? ReaderManagerError, case .unknownReader = e { throw TapdError.missing(why) }
            throw TapdError.unavailable(why)
        }
        let l = Live(
            id: id, reader: session.reader, kind: kind, originalID: original, entryPoint: ep, settings: saleSettings)
        l.session = session
        live[id] = l
        lastID = id
        let view: TransactionView
        do {
            try? await book.journal.audit(
                actor: requester, event: "sale started", details: "\(id) \(request.amount) on \(session.reader)")
            view = try await mapped {
                try await self.book.record(
                    id, .waitingForCard, message: UIMessage.presentCard.text, reader: session.reader)
            }
        } catch {
            live[id] = nil
            await session.finish(failure: nil)
            _ = try? await book.record(id, .failed, reason: "the sale could not be recorded: \(error)")
            throw error
        }
        l.task = Task { await self.run(l, amount: UInt64(request.amount)) }
        return (view, true)
    }

    /// The scheme a kernel serves (Book A §5.8 kernel IDs: C-2 Mastercard, C-3 Visa, C-4 American Express, …).
    static func scheme(_ kernel: String) -> String {
        switch kernel {
        case "C-2": "mastercard"
        case "C-3": "visa"
        case "C-4": "amex"
        case "C-5": "jcb"
        case "C-6": "discover"
        case "C-7": "unionpay"
        default: kernel.lowercased()
        }
    }

    /// A reader whose last sale has ended but whose card is still being removed becomes free within moments: wait for
    /// that (bounded) instead of answering "busy" to a point of sale that starts the next sale at once.
    private func leaseWaitingForRemoval(_ reader: String?) async throws -> any CardReaderSession {
        do { return try await readers.lease(reader) } catch let e as ReaderManagerError {
            guard case .busy(let name) = e,
                let ending = live.values.first(where: { $0.reader == name && $0.state.isFinal })?.task
            else { throw e }
            let waited = Task { await ending.value }
            let timeout = Task {
                try? await Task.sleep(for: .milliseconds(Int64(settings.removeCardTimeout * 1000) + 2000))
                waited.cancel()
            }
            await waited.value
            timeout.cancel()
            return try await readers.lease(reader)
        }
    }

    func currencyMatches(_ c: String) -> Bool {
        if let n = Int(c) { return n == Int(terminal.currencyCode) }
        return c.uppercased() == currencyText
    }

    /// The sale with this id as it stands now, or nil when there is none.
    public func transaction(_ id: String) async throws -> TransactionView? {
        try await mapped { try await self.book.view(id) }
    }

    /// Most recent first; `after` continues from a transaction id of the previous page.
    public func list(limit: Int = 20, after: String? = nil) async throws -> [TransactionView] {
        try await mapped { try await self.book.list(limit: limit, after: after) }
    }

    /// The last sale started since tapd started, else the newest in the journal; nil when there is none.
    public func lastTransaction() async throws -> TransactionView? {
        guard let lastID else { return try await mapped { try await self.book.list(limit: 1).first } }
        return try await transaction(lastID)
    }

    /// How many sales are running now, each holding its own leased reader.
    public var activeTransactions: Int { live.count }

    /// Cancels a sale that has not gone online yet.
    public func cancel(_ id: String, requester: String = "api") async throws -> TransactionView {
        // A sale whose tap has ended (its card still being removed) is cancelled like any ended one.
        guard let l = live[id], !l.state.isFinal else {
            guard let v = try await transaction(id) else { throw TapdError.notFound(id) }
            if v.status == .cancelled { return v }
            // Cancelling an approved pre-authorisation releases it: its reversal (0400), like a void.
            if v.type == TransactionKind.preauth.rawValue,
                [.approved, .partiallyApproved, .voidPending].contains(v.status)
            {
                return try await mapped {
                    try await self.book.void(id, requester: requester, reason: "pre-authorisation released")
                }
            }
            throw TapdError.conflict("transaction \(id) has ended (\(v.status.rawValue)); nothing to cancel")
        }
        guard l.state.isTap else {
            let status = try await transaction(id)?.status.rawValue ?? l.state.rawValue
            throw TapdError.conflict(
                "transaction \(id) is \(status): too late to cancel; void it once it is approved")
        }
        l.cancelRequested = true
        l.session?.cancel()
        try? await book.journal.audit(actor: requester, event: "cancel requested", details: id)
        // The sale's task ends the transaction as cancelled; wait for that so the answer is final.
        await l.task?.value
        guard let v = try await transaction(id) else { throw TapdError.notFound(id) }
        return v
    }

    /// Completes an open pre-authorisation for its final `amount` (at most the authorised amount plus
    /// `[daemon] completion_tolerance_percent`); the completion goes by store-and-forward.
    public func complete(_ id: String, amount: Int64, requester: String = "api") async throws -> TransactionView {
        let tolerance = settings.completionTolerancePercent
        return try await mapped {
            try await self.book.complete(id, amount: amount, tolerancePercent: tolerance, requester: requester)
        }
    }

    /// Open pre-authorisations, oldest first, with when each expires.
    public func openPreauthorisations() async throws -> [TransactionView] {
        try await mapped { try await self.book.openPreauthorisations() }
    }

    /// `[daemon] preauth_expiry` in seconds.
    public var preauthExpirySeconds: TimeInterval {
        if case .seconds(let s)? = VoidWindow(settings.preauthExpiry) { return s }
        return 7 * 86_400
    }

    /// Releases the pre-authorisations open longer than `[daemon] preauth_expiry` (the daemon calls this
    /// periodically).
    @discardableResult
    public func expirePreauthorisations(now: Date = Date()) async -> Int {
        await book.expirePreauthorisations(after: preauthExpirySeconds, now: now)
    }

    /// Closes the open batch (or finishes the close under way): see `SaleBook.closeBatch`.
    public func closeBatch(requester: String = "api") async throws -> BatchView {
        try await mapped { try await self.book.closeBatch(requester: requester) }
    }

    /// The last batches, newest first.
    public func batches(limit: Int = 20) async throws -> [BatchView] {
        try await mapped { try await self.book.batches(limit: limit) }
    }

    /// The report of a period [`from`, `to`) or of a batch.
    public func report(from: Date?, to: Date?, batch: Int?) async throws -> Report {
        let groups = try await mapped { try await self.book.journal.report(from: from, to: to, batch: batch) }
        return Report(groups, from: from, to: to, batch: batch, currency: currencyText)
    }

    /// The receipt of a transaction: `copy` for the customer or the merchant, its text `width` columns wide.
    public func receipt(_ id: String, copy: Receipt.Copy, width: Int) async throws -> Receipt {
        guard [32, 42, 48].contains(width) else { throw TapdError.invalid("width must be 32, 42 or 48") }
        guard let r = try await mapped({ try await self.book.journal.sale(id) }) else { throw TapdError.notFound(id) }
        let identity = book.acquirer?.configuration
        return Receipt(
            r, copy: copy, width: width, merchant: merchant, terminalID: identity?.terminalID,
            merchantID: identity?.merchantID)
    }

    /// Voids (reverses) an approved online sale: the SaleBook queues its one reversal.
    public func void(_ id: String, requester: String = "api") async throws -> TransactionView {
        try await mapped { try await self.book.void(id, requester: requester) }
    }

    // MARK: Store-and-forward, status

    /// The store-and-forward queue (`tapctl saf list`), all entries or those of one status.
    public func followUps(status: String? = nil) async throws -> [FollowUpView] {
        let st: FollowUpStatus?
        if let status {
            guard let s = FollowUpStatus(rawValue: status) else {
                throw TapdError.invalid(
                    "status must be one of pending, delivered, quarantined, resolved, withdrawn")
            }
            st = s
        } else {
            st = nil
        }
        return try await mapped { try await self.book.followUps(status: st) }
    }

    /// An operator puts a quarantined entry back in the queue (audited).
    public func retryFollowUp(_ id: Int64, requester: String) async throws -> FollowUpView {
        try await mapped { try await self.book.retryFollowUp(id, actor: requester) }
    }

    /// An operator closes an entry with a reason (audited).
    public func resolveFollowUp(_ id: Int64, reason: String, requester: String) async throws -> FollowUpView {
        guard reason.unicodeScalars.count >= 3, reason.unicodeScalars.contains(where: { !$0.properties.isWhitespace })
        else {
            throw TapdError.invalid("reason is required (what was done about it, e.g. a help desk ticket)")
        }
        return try await mapped { try await self.book.resolveFollowUp(id, reason: reason, actor: requester) }
    }

    /// What `GET /v1/status` reports besides sales: readers, the acquirer link, the queue.
    public struct Health: Sendable {
        /// Every reader in the pool and its state.
        public var readers: [ReaderSnapshot]
        /// Whether an acquirer is configured (sales can go online).
        public var acquirerConfigured: Bool
        /// The acquirer's host; nil when none is configured.
        public var acquirerHost: String?
        /// The acquirer's TCP port; nil when none is configured.
        public var acquirerPort: Int?
        /// Whether the link to the acquirer is connected now.
        public var acquirerConnected: Bool
        /// The last error on the acquirer link, if any.
        public var acquirerLastError: String?
        /// Store-and-forward entries waiting for delivery; -1 when the journal cannot be read.
        public var safPending: Int
        /// Store-and-forward entries quarantined for an operator; -1 when the journal cannot be read.
        public var safQuarantined: Int
        /// When the oldest entry still waiting was queued; nil when none waits.
        public var safOldestPending: Date? = nil
        /// Whether the acquirer can be reached: the kept connection is up, or (one connection per transaction) the
        /// last attempt did not fail.
        public var acquirerReachable: Bool = false
    }

    /// Readers, the acquirer link and the store-and-forward queue as they stand now.
    public func health() async -> Health {
        let counts = try? await book.journal.queueState()
        var h = Health(
            readers: await readers.snapshot(), acquirerConfigured: false, acquirerConnected: false,
            safPending: counts?.pending ?? -1, safQuarantined: counts?.quarantined ?? -1,
            safOldestPending: counts?.oldestPending)
        if let acquirer = book.acquirer {
            h.acquirerConfigured = true
            h.acquirerHost = acquirer.configuration.host
            h.acquirerPort = acquirer.configuration.port
            h.acquirerConnected = await acquirer.link.isConnected
            h.acquirerLastError = await acquirer.link.lastError
            h.acquirerReachable =
                h.acquirerConnected || (!acquirer.configuration.persistentConnection && h.acquirerLastError == nil)
        }
        return h
    }

    /// Every reader in the pool and its state now (idle, card present, in use, error).
    public func readerSnapshot() async -> [ReaderSnapshot] { await readers.snapshot() }

    /// SIGTERM: no new sales; sales still waiting for a card are cancelled; a sale that has gone online is allowed
    /// `grace` to finish (what is left unanswered is reversed at the next start).
    public func shutdown(grace: Duration) async {
        accepting = false
        for l in live.values where l.state.isTap {
            l.cancelRequested = true
            l.session?.cancel()
        }
        let deadline = ContinuousClock.now + grace
        while !live.isEmpty, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// The SaleBook's and journal's errors as the API's.
    private func mapped<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as JournalError { throw TapdError.journal(e) }
    }

    // MARK: The sale

    private func run(_ l: Live, amount: UInt64) async {
        guard let session = l.session else { return }
        await sale(l, session: session, amount: amount)
        await session.finish(failure: l.readerFailure)
        live[l.id] = nil
    }

    /// Records a step of the tap. A step the journal refuses (disk full) ends the sale as failed where it can.
    private func step(_ l: Live, _ state: SaleState, message: String? = nil) async {
        do {
            try await book.record(l.id, state, message: message, card: l.facts)
            l.state = state
        } catch {
            events.publish(
                .transaction, transactionID: l.id, status: state.rawValue, reader: l.reader,
                detail: "not recorded: \(error)")
        }
    }

    /// Ends the sale without money moving (declined by the card, failed, cancelled, timed out).
    private func end(_ l: Live, _ state: SaleState, reason: String?, message: String? = nil) async {
        do {
            try await book.record(l.id, state, message: message, reason: reason, card: l.facts)
        } catch {
            events.publish(
                .transaction, transactionID: l.id, status: state.rawValue, reader: l.reader,
                detail: "not recorded: \(error)")
        }
        l.state = state
    }

    private func sale(_ l: Live, session: any CardReaderSession, amount: UInt64) async {
        let id = l.id
        // What this sale runs with, start to end: a reload meanwhile applies to the next sale.
        let ep = l.entryPoint
        let settings = l.settings
        // A refund runs as EMV transaction type 20; a pre-authorisation as a purchase the merchant forces online.
        let txn = TransactionParameters(
            amount: amount, type: l.kind == .refund ? .refund : .purchase, forcedOnline: l.kind == .preauth,
            date: today())
        guard let combinations = ep.preProcess(txn) else {
            // Book A §3.1.1.x: no combination allows this amount (over every contactless limit).
            await end(
                l, .failed, reason: "no contactless application accepts this amount; use another payment method",
                message: UIMessage.insertSwipeOrTryAnotherCard.text)
            return
        }
        await session.signal(.presentCard)
        let deadline = ContinuousClock.now + .milliseconds(Int64(settings.cardTimeout * 1000))
        var restarted = false
        var taps = 0
        while true {
            if l.cancelRequested {
                await end(l, .cancelled, reason: "cancelled by the point of sale")
                return
            }
            let card: TappedCard?
            do {
                card = try await session.waitForCard(timeout: max(.zero, deadline - ContinuousClock.now))
            } catch CardError.cancelled {
                await end(l, .cancelled, reason: l.cancelRequested ? "cancelled by the point of sale" : "cancelled")
                return
            } catch {
                l.readerFailure = "\(error)"
                metrics.readerError(session.reader)
                await end(l, .failed, reason: "reader error: \(error)", message: UIMessage.processingError.text)
                return
            }
            guard let card else {
                await end(l, .timedOut, reason: "no card within \(Int(settings.cardTimeout)) s")
                return
            }
            taps += 1
            await step(l, .cardDetected, message: UIMessage.processing.text)
            await step(l, .processing, message: UIMessage.processing.text)
            await session.signal(.processing)
            let started = ContinuousClock.now
            let r = restarted
            let outcome = await card.run {
                await ep.process(card: card.channel, transaction: txn, combinations: combinations, restarted: r)
            }
            let tapTook = ContinuousClock.now - started
            metrics.tapToOutcome(tapTook)
            l.facts.tapMilliseconds = tapTook.wholeMilliseconds
            if outcome.oda?.failure != nil { metrics.odaFailure() }
            for alert in outcome.alerts {
                await risk.report(kind: alert.kind.rawValue, message: alert.message, transactionID: id)
            }
            l.facts.maskedPAN = outcome.maskedPAN ?? l.facts.maskedPAN
            l.facts.scheme = outcome.kernel.map(Self.scheme) ?? l.facts.scheme
            l.facts.cvm = outcome.cvm == .notApplicable ? l.facts.cvm : outcome.cvm.rawValue
            if let data = try? JSONEncoder().encode(KernelOutputView(outcome)) {
                l.facts.kernelOutput = String(decoding: data, as: UTF8.self)
            }
            switch outcome.kind {
            case .seePhone, .tryAgain:
                // Book A §6.2: the phone asks the cardholder to act, or the read failed; Entry Point restarts.
                guard taps < settings.maxTaps else {
                    await end(
                        l, .failed, reason: "no complete read after \(taps) taps",
                        message: UIMessage.processingError.text)
                    return
                }
                let state: SaleState = outcome.kind == .seePhone ? .seePhone : .presentAgain
                await step(
                    l, state,
                    message: (outcome.uiRequestOnOutcome?.message
                        ?? (state == .seePhone ? .seePhone : .presentCardAgain)).text)
                _ = await session.waitForRemoval(timeout: .seconds(3))
                await step(l, .waitingForCard, message: (outcome.uiRequestOnRestart?.message ?? .presentCard).text)
                await session.signal(.presentCard)
                restarted = true
                continue
            default:
                break
            }
            await session.signal(.cardRead)
            let movesMoney =
                outcome.kind == .onlineRequest || outcome.kind == .approved || Self.isRefundRead(l, outcome)
            if l.cancelRequested, movesMoney {
                await end(l, .cancelled, reason: "cancelled by the point of sale before going online")
                await removeCard(session)
                return
            }
            // From here (no suspension since the check above) a cancel gets 409: the outcome moves money or is
            // declined, and a cancel accepted now would be ignored while the card is charged.
            if movesMoney { l.state = .requestPersisted }
            await conclude(l, outcome, session: session)
            await removeCard(session)
            return
        }
    }

    /// Whether a refund's tap read the card: the kernel handed over its Data Record with the card's cryptogram.
    static func isRefundRead(_ l: Live, _ outcome: Outcome) -> Bool {
        l.kind == .refund && outcome.cryptogram != nil && !outcome.dataRecordTags.isEmpty
            && [.endApplication, .onlineRequest, .approved, .declined].contains(outcome.kind)
    }

    private func removeCard(_ session: any CardReaderSession) async {
        await session.signal(.removeCard)
        _ = await session.waitForRemoval(timeout: .milliseconds(Int64(settings.removeCardTimeout * 1000)))
        await session.signal(.idle)
    }

    /// The outcome of the last tap, taken to its end (online, offline approval with its advice, decline).
    private func conclude(_ l: Live, _ outcome: Outcome, session: any CardReaderSession) async {
        let pan = CardIdentity.pan(from: outcome.transactionData)
        // A refund's kernel ends with End Application and the Data Record (see the kernels' refund rule): the card
        // was read, and the refund goes online with its cryptogram. Never approved offline.
        let refundRead = Self.isRefundRead(l, outcome)
        if outcome.kind == .onlineRequest || outcome.kind == .approved || refundRead,
            let (freeze, message) = await risk.block(
                scheme: l.facts.scheme, aid: outcome.aid, pan: pan, transactionID: l.id)
        {
            // The acquirer's instruction, before any message leaves or an offline approval is recorded.
            await session.signal(.declined)
            await end(
                l, .declined,
                reason: "acceptance frozen by the risk team (freeze \(freeze.id), \(freeze.scope)): \(freeze.reason)",
                message: message.text)
            return
        }
        if refundRead, let originalID = l.originalID, let o = try? await book.journal.sale(originalID),
            let expected = o.maskedPAN, let tapped = outcome.maskedPAN, expected != tapped
        {
            // A linked refund goes back to the card that paid (the masked PANs, first 6 and last 4, must agree).
            await session.signal(.declined)
            await end(
                l, .declined,
                reason: "refund refused: the card is not the one that paid \(originalID) (\(expected))",
                message: UIMessage.notAuthorised.text)
            return
        }
        if l.kind == .preauth, outcome.kind == .approved {
            // Forced online, yet the card approved offline: a pre-authorisation needs the issuer's hold on the funds.
            await session.signal(.declined)
            await end(
                l, .failed, reason: "the card approved offline; a pre-authorisation needs the issuer (try again)",
                message: UIMessage.notAuthorised.text)
            return
        }
        switch refundRead ? .onlineRequest : outcome.kind {
        case .onlineRequest:
            let card: CardTransaction
            do { card = try OnlineRequest.cardTransaction(from: outcome) } catch {
                await end(l, .failed, reason: "card data unusable: \(error)", message: UIMessage.processingError.text)
                return
            }
            l.state = .requestPersisted  // from here on the sale cannot be cancelled
            let started = ContinuousClock.now
            let view: TransactionView
            do {
                view = try await book.authorize(
                    l.id, card: card, facts: l.facts, message: UIMessage.authorising.text, kind: l.kind)
            } catch {
                // The journal refused a step: the SaleBook recorded what it could; recovery finishes the rest.
                events.publish(
                    .transaction, transactionID: l.id, status: "failed", reader: l.reader,
                    detail: "the journal refused a step: \(error)")
                await session.signal(.error)
                return
            }
            metrics.onlineRoundTrip(ContinuousClock.now - started)
            l.state = SaleState(rawValue: view.journalState) ?? .failed
            switch view.status {
            case .approved, .partiallyApproved:
                // Velocity counts money taken from cards; a refund gives it back.
                if l.kind != .refund {
                    await risk.approved(amount: view.approvedAmount ?? view.amount, pan: pan, transactionID: l.id)
                }
                await session.signal(.approved)
            case .declined: await session.signal(.declined)
            default: await session.signal(.error)
            }
        case .approved:
            // Offline approval (Book C-3 §5.9 TC / C-2 §6): recorded with its advice in one journal transaction.
            do {
                let card = try OnlineRequest.cardTransaction(from: outcome)
                let view = try await book.approveOffline(l.id, card: card, facts: l.facts)
                l.state = .approvedOffline
                await risk.approved(amount: view.amount, pan: pan, transactionID: l.id)
                await session.signal(.approved)
            } catch {
                await end(
                    l, .failed, reason: "the offline approval could not be recorded: \(error)",
                    message: UIMessage.processingError.text)
                await session.signal(.error)
            }
        case .declined:
            await session.signal(.declined)
            await end(
                l, .declined, reason: outcome.reason ?? "declined by the card or terminal",
                message: UIMessage.notAuthorised.text)
        default:
            // End application, try another interface, select next that found nothing: Book A §6.2.1.
            await session.signal(.error)
            let message = outcome.uiRequestOnOutcome?.message.text ?? UIMessage.insertSwipeOrTryAnotherCard.text
            await end(l, .failed, reason: outcome.reason ?? outcome.kind.rawValue, message: message)
        }
    }
}
