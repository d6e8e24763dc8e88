// The transaction coordinator: one sale from the point of sale's request to the card leaving the field.
//   waiting_for_card → card_detected → processing → (see_phone | present_again → waiting_for_card)
//   → online → approved | declined | failed → (remove card)        cancelled, timed_out, voided at the edges
// One transaction per reader at a time (the reader is leased); the idempotency key makes a retried request return the
// sale already started; cancel works until the request goes online; void reverses an approved online sale. Every step
// that moves money is written to the journal before it is acted on (the acquirer service does the online part).
import Foundation
import TLV
import EMVKernel
import Journal
import Acquirer
import Readers
import APDU
import ISO8583

public struct SaleRequest: Codable, Sendable, Equatable {
    /// "sale" (EMV purchase, 9C = 00) is the only type so far.
    public var type: String?
    /// Minor units (cents): 1234 is 12.34.
    public var amount: Int64
    /// ISO 4217 alphabetic ("EUR") or numeric ("978"); the terminal's currency when left out.
    public var currency: String?
    public var reader: String?
    public var idempotencyKey: String

    public init(type: String? = "sale", amount: Int64, currency: String? = nil, reader: String? = nil, idempotencyKey: String) {
        self.type = type; self.amount = amount; self.currency = currency; self.reader = reader; self.idempotencyKey = idempotencyKey
    }

    enum CodingKeys: String, CodingKey { case type, amount, currency, reader, idempotencyKey = "idempotency_key" }
}

public enum SaleStatus: String, Codable, Sendable, CaseIterable {
    case waitingForCard = "waiting_for_card", cardDetected = "card_detected", processing, seePhone = "see_phone"
    case presentAgain = "present_again", online, approved, declined, failed, cancelled, timedOut = "timed_out", voided

    public var isFinal: Bool { [.approved, .declined, .failed, .cancelled, .timedOut, .voided].contains(self) }
    /// Before the request goes online the sale can still be cancelled.
    public var cancellable: Bool { [.waitingForCard, .cardDetected, .processing, .seePhone, .presentAgain].contains(self) }
}

/// A sale as the point of sale sees it. Card data appears as the masked PAN only.
public struct TransactionView: Codable, Sendable, Equatable {
    public var id: String
    public var status: SaleStatus
    public var final: Bool
    public var amount: Int64
    public var currency: String
    public var reader: String?
    public var maskedPAN: String?
    public var scheme: String?
    public var cvm: String?
    public var responseCode: String?
    public var approvalCode: String?
    public var stan: String?
    public var reason: String?
    /// The EMV Book A message to show now ("Present card", "See phone", "Approved", "Remove card", …).
    public var message: String?
    /// Where the money stands in the journal (answered, reversal_queued, reversed, advice_queued, …).
    public var journalState: String
    public var idempotencyKey: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// What the kernel handed over (Outcome Parameter Set, UI Request Data, Error Indication, masked Data Record),
    /// for sales this tapd ran since it started.
    public var kernelOutput: KernelOutputView?

    enum CodingKeys: String, CodingKey {
        case id, status, final, amount, currency, reader, maskedPAN = "masked_pan", scheme, cvm, responseCode = "response_code"
        case approvalCode = "approval_code", stan, reason, message, journalState = "journal_state", idempotencyKey = "idempotency_key"
        case createdAt = "created_at", updatedAt = "updated_at", kernelOutput = "kernel_output"
    }
}

public enum CoordinatorError: Error, Equatable, CustomStringConvertible {
    /// The request itself is wrong (HTTP 400/422).
    case invalid(String)
    /// It conflicts with the state of things (HTTP 409).
    case conflict(String)
    case notFound(String)
    /// Not possible now: no reader, shutting down (HTTP 503).
    case unavailable(String)

    public var description: String {
        switch self {
        case .invalid(let s), .conflict(let s), .unavailable(let s): s
        case .notFound(let id): "no transaction \(id)"
        }
    }
}

public actor TransactionCoordinator {
    final class Live: @unchecked Sendable {
        var view: TransactionView
        var session: (any CardReaderSession)?
        var cancelRequested = false
        var readerFailure: String?
        var task: Task<Void, Never>?
        init(view: TransactionView) { self.view = view }
    }

    let readers: any CardReaderPool
    let journal: Journal
    let acquirer: AcquirerService?
    let terminal: TerminalConfiguration
    let entryPoint: EntryPoint
    let events: EventHub
    let metrics: TapdMetrics
    let settings: DaemonSettings
    let today: @Sendable () -> EMVDate
    private var live: [String: Live] = [:]
    /// The last views of finished sales (bounded), for what the journal does not keep (CVM, the message shown).
    private var finished: [String: TransactionView] = [:]
    private var finishedOrder: [String] = []
    private var lastID: String?
    private var accepting = true

    public init(readers: any CardReaderPool, journal: Journal, acquirer: AcquirerService?, terminal: TerminalConfiguration,
                keys: CAKeyStore, events: EventHub, metrics: TapdMetrics, settings: DaemonSettings,
                today: @escaping @Sendable () -> EMVDate = TransactionCoordinator.utcToday) {
        self.readers = readers; self.journal = journal; self.acquirer = acquirer; self.terminal = terminal
        self.entryPoint = EntryPoint(configuration: terminal, keys: keys, risk: RiskManager(maxTapsPerHour: terminal.velocityMaxTapsPerHour))
        self.events = events; self.metrics = metrics; self.settings = settings; self.today = today
    }

    /// Today's date in UTC (tag 9A). A clock outside 1950–2049 (EMV's two-digit year window) is broken —
    /// `tapctl diagnose` says so; rather than crash, the sale then carries the window's last day, where
    /// every card reads as expired.
    public static let utcToday: @Sendable () -> EMVDate = {
        EMVDate.utcToday() ?? EMVDate(year: 2049, month: 12, day: 31)!
    }

    /// The terminal's currency as ISO 4217 alpha (numeric when unknown).
    var currencyText: String { ISOCodes.currency(Int(terminal.currencyCode)) ?? String(terminal.currencyCode) }

    // MARK: Requests from the point of sale

    /// Starts a sale, or returns the one already started with the same idempotency key (`created` false).
    public func start(_ request: SaleRequest, requester: String = "api") async throws -> (TransactionView, created: Bool) {
        guard accepting else { throw CoordinatorError.unavailable("tapd is shutting down") }
        guard (request.type ?? "sale") == "sale" else { throw CoordinatorError.invalid("type \"\(request.type ?? "")\" is not supported (only \"sale\")") }
        let key = request.idempotencyKey.trimmingCharacters(in: .whitespaces)
        guard (1...128).contains(key.count), key.allSatisfy({ $0.isASCII && !$0.isNewline }) else {
            throw CoordinatorError.invalid("idempotency_key must be 1–128 printable ASCII characters")
        }
        guard request.amount > 0, request.amount <= 999_999_999_999 else { throw CoordinatorError.invalid("amount must be 1–999999999999 minor units") }
        if let c = request.currency, !currencyMatches(c) {
            throw CoordinatorError.invalid("currency \(c) is not accepted: this terminal is configured for \(currencyText) (\(terminal.currencyCode))")
        }
        let (record, created) = try journal.createTransaction(idempotencyKey: key, amount: request.amount, currency: Int(terminal.currencyCode))
        if !created {
            guard record.amount == request.amount else {
                throw CoordinatorError.conflict("idempotency_key \(key) was used for another amount (\(record.amount))")
            }
            return (try view(record.id)!, false)
        }
        let session: any CardReaderSession
        do { session = try await leaseWaitingForRemoval(request.reader) } catch {
            let why = "\(error)"
            try journal.update(record.id, to: .failed)
            try journal.annotate(record.id, status: SaleStatus.failed.rawValue, reason: why)
            metrics.transaction(status: "failed", scheme: nil)
            if let e = error as? ReaderManagerError, case .busy = e { throw CoordinatorError.conflict(why) }
            if let e = error as? ReaderManagerError, case .unknownReader = e { throw CoordinatorError.invalid(why) }
            throw CoordinatorError.unavailable(why)
        }
        try journal.audit(actor: requester, event: "sale started", details: "\(record.id) \(request.amount) on \(session.reader)")
        let v = TransactionView(id: record.id, status: .waitingForCard, final: false, amount: request.amount, currency: currencyText,
                                reader: session.reader, message: UIMessage.presentCard.text, journalState: record.state.rawValue,
                                idempotencyKey: key, createdAt: record.createdAt, updatedAt: record.createdAt)
        let l = Live(view: v)
        l.session = session
        live[record.id] = l
        lastID = record.id
        try journal.annotate(record.id, status: v.status.rawValue, reader: session.reader)
        publish(l)
        l.task = Task { await self.run(l, amount: UInt64(request.amount)) }
        return (v, true)
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
                  let ending = live.values.first(where: { $0.view.reader == name && $0.view.status.isFinal })?.task else { throw e }
            let waited = Task { await ending.value }
            let timeout = Task { try? await Task.sleep(for: .milliseconds(Int64(settings.removeCardTimeout * 1000) + 2000)); waited.cancel() }
            await waited.value
            timeout.cancel()
            return try await readers.lease(reader)
        }
    }

    func currencyMatches(_ c: String) -> Bool {
        if let n = Int(c) { return n == Int(terminal.currencyCode) }
        return c.uppercased() == currencyText
    }

    public func transaction(_ id: String) throws -> TransactionView? { try view(id) }

    /// Most recent first; `after` continues from a transaction id of the previous page.
    public func list(limit: Int = 20, after: String? = nil) throws -> [TransactionView] {
        var before: Date? = nil
        if let after {
            guard let r = try journal.transaction(after) else { throw CoordinatorError.notFound(after) }
            before = r.createdAt
        }
        return try journal.transactions(limit: max(1, min(limit, 200)), before: before).compactMap { try view($0.id) }
    }

    public func lastTransaction() throws -> TransactionView? { try lastID.flatMap { try view($0) } }

    public var activeTransactions: Int { live.count }

    /// Cancels a sale that has not gone online yet.
    public func cancel(_ id: String, requester: String = "api") async throws -> TransactionView {
        guard let l = live[id] else {
            guard let v = try view(id) else { throw CoordinatorError.notFound(id) }
            if v.status == .cancelled { return v }
            throw CoordinatorError.conflict("transaction \(id) has ended (\(v.status.rawValue)); nothing to cancel")
        }
        guard l.view.status.cancellable else {
            throw CoordinatorError.conflict("transaction \(id) is \(l.view.status.rawValue): too late to cancel; void it once it is approved")
        }
        l.cancelRequested = true
        l.session?.cancel()
        try? journal.audit(actor: requester, event: "cancel requested", details: id)
        // The sale's task ends the transaction as cancelled; wait for that so the answer is final.
        await l.task?.value
        return try view(id) ?? l.view
    }

    /// Voids (reverses) an approved online sale.
    public func void(_ id: String, requester: String = "api") async throws -> TransactionView {
        guard let v = try view(id) else { throw CoordinatorError.notFound(id) }
        if v.status == .voided { return v }
        guard v.status == .approved else { throw CoordinatorError.conflict("only an approved sale can be voided; \(id) is \(v.status.rawValue)") }
        guard let record = try journal.transaction(id), record.state == .answered else {
            throw CoordinatorError.conflict("\(id) was approved offline; its advice stands and a refund is the way to give the money back")
        }
        guard let acquirer else { throw CoordinatorError.unavailable("no acquirer is configured") }
        try journal.annotate(id, reason: "void requested", voided: true)
        try journal.audit(actor: requester, event: "void requested", details: id)
        do { try await acquirer.void(transactionID: id) } catch {
            throw CoordinatorError.unavailable("the void could not be queued: \(error)")
        }
        try journal.annotate(id, status: SaleStatus.voided.rawValue)
        let after = try view(id)!
        events.publish(.transaction, transactionID: id, status: after.status.rawValue, detail: "reversal \(after.journalState)")
        metrics.transaction(status: "voided", scheme: after.scheme)
        return after
    }

    /// SIGTERM: no new sales; sales still waiting for a card are cancelled; a sale that has gone online is allowed
    /// `grace` to finish (the acquirer service reverses it if the answer does not come).
    public func shutdown(grace: Duration) async {
        accepting = false
        for l in live.values where l.view.status.cancellable { l.cancelRequested = true; l.session?.cancel() }
        let deadline = ContinuousClock.now + grace
        while !live.isEmpty, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    }

    // MARK: The sale

    private func run(_ l: Live, amount: UInt64) async {
        guard let session = l.session else { return }
        await sale(l, session: session, amount: amount)
        metrics.transaction(status: l.view.status.rawValue, scheme: l.view.scheme)
        await session.finish(failure: l.readerFailure)
        finished[l.view.id] = l.view
        finishedOrder.append(l.view.id)
        if finishedOrder.count > 256 { finished[finishedOrder.removeFirst()] = nil }
        live[l.view.id] = nil
    }

    private func sale(_ l: Live, session: any CardReaderSession, amount: UInt64) async {
        let id = l.view.id
        let txn = TransactionParameters(amount: amount, date: today())
        guard let combinations = entryPoint.preProcess(txn) else {
            // Book A §3.1.1.x: no combination allows this amount (over every contactless limit).
            await finish(l, .failed, reason: "no contactless application accepts this amount; use another payment method",
                         message: UIMessage.insertSwipeOrTryAnotherCard.text, journalState: .failed)
            return
        }
        await session.signal(.presentCard)
        let deadline = ContinuousClock.now + .milliseconds(Int64(settings.cardTimeout * 1000))
        var restarted = false
        var taps = 0
        while true {
            if l.cancelRequested { await finish(l, .cancelled, reason: "cancelled by the point of sale", journalState: .cancelled); return }
            let card: TappedCard?
            do { card = try await session.waitForCard(timeout: max(.zero, deadline - ContinuousClock.now)) } catch CardError.cancelled {
                await finish(l, .cancelled, reason: l.cancelRequested ? "cancelled by the point of sale" : "cancelled", journalState: .cancelled)
                return
            } catch {
                l.readerFailure = "\(error)"
                metrics.readerError(session.reader)
                await finish(l, .failed, reason: "reader error: \(error)", message: UIMessage.processingError.text, journalState: .failed)
                return
            }
            guard let card else {
                await finish(l, .timedOut, reason: "no card within \(Int(settings.cardTimeout)) s", journalState: .cancelled)
                return
            }
            taps += 1
            update(l, .cardDetected, message: UIMessage.processing.text)
            update(l, .processing, message: UIMessage.processing.text)
            await session.signal(.processing)
            let started = ContinuousClock.now
            let ep = entryPoint, r = restarted
            let outcome = await card.run { await ep.process(card: card.channel, transaction: txn, combinations: combinations, restarted: r) }
            metrics.tapToOutcome(ContinuousClock.now - started)
            if outcome.oda?.failure != nil { metrics.odaFailure() }
            for alert in outcome.alerts { events.publish(.riskAlert, transactionID: id, detail: "\(alert.kind.rawValue): \(alert.message)") }
            l.view.maskedPAN = outcome.maskedPAN ?? l.view.maskedPAN
            l.view.scheme = outcome.kernel.map(Self.scheme) ?? l.view.scheme
            l.view.cvm = outcome.cvm == .notApplicable ? l.view.cvm : outcome.cvm.rawValue
            l.view.kernelOutput = KernelOutputView(outcome)
            switch outcome.kind {
            case .seePhone, .tryAgain:
                // Book A §6.2: the phone asks the cardholder to act, or the read failed; Entry Point restarts.
                guard taps < settings.maxTaps else {
                    await finish(l, .failed, reason: "no complete read after \(taps) taps", message: UIMessage.processingError.text, journalState: .failed)
                    return
                }
                let status: SaleStatus = outcome.kind == .seePhone ? .seePhone : .presentAgain
                update(l, status, message: (outcome.uiRequestOnOutcome?.message ?? (status == .seePhone ? .seePhone : .presentCardAgain)).text)
                _ = await session.waitForRemoval(timeout: .seconds(3))
                update(l, .waitingForCard, message: (outcome.uiRequestOnRestart?.message ?? .presentCard).text)
                await session.signal(.presentCard)
                restarted = true
                continue
            default:
                break
            }
            await session.signal(.cardRead)
            if l.cancelRequested, outcome.kind == .onlineRequest || outcome.kind == .approved {
                await finish(l, .cancelled, reason: "cancelled by the point of sale before going online", journalState: .cancelled)
                await removeCard(session)
                return
            }
            await conclude(l, outcome, session: session)
            await removeCard(session)
            return
        }
    }

    private func removeCard(_ session: any CardReaderSession) async {
        await session.signal(.removeCard)
        _ = await session.waitForRemoval(timeout: .milliseconds(Int64(settings.removeCardTimeout * 1000)))
        await session.signal(.idle)
    }

    /// The outcome of the last tap, taken to its end (online, advice, decline).
    private func conclude(_ l: Live, _ outcome: Outcome, session: any CardReaderSession) async {
        let id = l.view.id
        switch outcome.kind {
        case .onlineRequest:
            let card: CardTransaction
            do {
                card = try OnlineRequest.cardTransaction(from: outcome)
                try journal.update(id, to: .cardRead, maskedPAN: outcome.maskedPAN)
            } catch {
                await finish(l, .failed, reason: "card data unusable: \(error)", message: UIMessage.processingError.text, journalState: .failed)
                return
            }
            guard let acquirer else {
                await finish(l, .failed, reason: "no acquirer is configured: the sale cannot go online", message: UIMessage.notAuthorised.text, journalState: .failed)
                return
            }
            update(l, .online, message: UIMessage.authorising.text)
            let started = ContinuousClock.now
            let r = await acquirer.authorize(transactionID: id, card: card)
            metrics.onlineRoundTrip(ContinuousClock.now - started)
            l.view.stan = r.stan
            l.view.responseCode = r.responseCode
            l.view.approvalCode = r.approvalCode
            switch r.kind {
            case .approved:
                await session.signal(.approved)
                await finish(l, .approved, reason: nil, message: UIMessage.approved.text, journalState: nil)
            case .declined:
                await session.signal(.declined)
                await finish(l, .declined, reason: "declined by the issuer (response code \(r.responseCode ?? "?"))", message: UIMessage.notAuthorised.text, journalState: nil)
            case .unanswered:
                await session.signal(.error)
                await finish(l, .failed, reason: "no answer from the acquirer; the request is being reversed (\(r.reason ?? ""))", message: UIMessage.notAuthorised.text, journalState: nil)
            case .failed:
                await session.signal(.error)
                await finish(l, .failed, reason: "the request did not reach the acquirer: \(r.reason ?? "")", message: UIMessage.notAuthorised.text, journalState: nil)
            }
        case .approved:
            // Offline approval (Book C-3 §5.9 TC / C-2 §6): the advice goes to the acquirer by store-and-forward.
            do {
                let card = try OnlineRequest.cardTransaction(from: outcome)
                try journal.update(id, to: .cardRead, maskedPAN: outcome.maskedPAN)
                try journal.update(id, to: .approvedOffline)
                if let acquirer {
                    try await acquirer.queueAdvice(transactionID: id, card: card)
                    Task { _ = await acquirer.deliverQueue() }
                }
                await session.signal(.approved)
                await finish(l, .approved, reason: "approved offline", message: UIMessage.approved.text, journalState: nil)
            } catch {
                await finish(l, .failed, reason: "offline approval could not be recorded: \(error)", message: UIMessage.processingError.text, journalState: .failed)
            }
        case .declined:
            try? journal.update(id, to: .cardRead, maskedPAN: outcome.maskedPAN)
            await session.signal(.declined)
            await finish(l, .declined, reason: outcome.reason ?? "declined by the card or terminal", message: UIMessage.notAuthorised.text, journalState: .declined)
        default:
            // End application, try another interface, select next that found nothing: Book A §6.2.1.
            await session.signal(.error)
            let message = outcome.uiRequestOnOutcome?.message.text ?? UIMessage.insertSwipeOrTryAnotherCard.text
            await finish(l, .failed, reason: outcome.reason ?? outcome.kind.rawValue, message: message, journalState: .failed)
        }
    }

    private func update(_ l: Live, _ status: SaleStatus, message: String? = nil) {
        l.view.status = status
        l.view.final = status.isFinal
        if let message { l.view.message = message }
        l.view.updatedAt = Date()
        try? journal.annotate(l.view.id, status: status.rawValue, scheme: l.view.scheme)
        publish(l)
    }

    private func finish(_ l: Live, _ status: SaleStatus, reason: String?, message: String? = nil, journalState: TransactionState?) async {
        if let journalState { try? journal.update(l.view.id, to: journalState, maskedPAN: l.view.maskedPAN) }
        l.view.reason = reason
        try? journal.annotate(l.view.id, status: status.rawValue, reason: reason, scheme: l.view.scheme)
        if let record = try? journal.transaction(l.view.id) { l.view.journalState = record.state.rawValue }
        update(l, status, message: message)
        if let m = try? journal.safDepth() { metrics.setSAFDepth(m) }
    }

    private func publish(_ l: Live) {
        // The message first: a listener that shows "[message] status" has both when the status arrives.
        if let m = l.view.message { events.publish(.ui, transactionID: l.view.id, message: m, reader: l.view.reader) }
        events.publish(.transaction, transactionID: l.view.id, status: l.view.status.rawValue, reader: l.view.reader, detail: l.view.reason)
    }

    // MARK: Views

    /// The live view while the sale runs; afterwards the journal's record, with the money's state deciding what a
    /// non-final status means after a restart.
    func view(_ id: String) throws -> TransactionView? {
        if let l = live[id] { return l.view }
        guard let r = try journal.transaction(id) else { return nil }
        var status = r.status.flatMap(SaleStatus.init(rawValue:)) ?? .failed
        var reason = r.reason
        if !status.isFinal || status == .approved || status == .failed {
            // Interrupted (a crash or a restart) or settled later: the money's state is the truth.
            switch r.state {
            case .created, .cardRead:
                if !status.isFinal { status = .failed; reason = reason ?? "interrupted before going online" }
            case .requestPersisted, .sent, .timedOut:
                status = .failed; reason = "interrupted while online; the request will be reversed"
            case .reversalQueued:
                if r.voided { status = .voided; reason = "void: reversal queued" } else { status = .failed; reason = reason ?? "no answer; reversal queued" }
            case .reversed:
                if r.voided { status = .voided; reason = "void: reversal delivered" } else { status = .failed; reason = reason ?? "no answer; reversed" }
            case .answered:
                // The same rule the acquirer service applied to the live answer.
                status = r.responseCode.map(AuthorizationResponse.approves) == true ? .approved : .declined
            case .approvedOffline, .adviceQueued, .adviceDelivered: status = .approved
            case .declined: status = .declined
            case .failed: status = .failed
            case .cancelled: if status != .timedOut { status = .cancelled }
            }
        }
        let message: String? = switch status {
        case .approved: UIMessage.approved.text
        case .declined: UIMessage.notAuthorised.text
        default: nil
        }
        var v = TransactionView(id: r.id, status: status, final: status.isFinal, amount: r.amount,
                                currency: ISOCodes.currency(r.currency) ?? String(r.currency), reader: r.reader, maskedPAN: r.maskedPAN,
                                scheme: r.scheme, cvm: nil, responseCode: r.responseCode, approvalCode: r.approvalCode, stan: r.stan,
                                reason: reason, message: message, journalState: r.state.rawValue, idempotencyKey: r.idempotencyKey,
                                createdAt: r.createdAt, updatedAt: r.updatedAt)
        if let f = finished[id] {
            v.cvm = f.cvm
            v.kernelOutput = f.kernelOutput
            if f.status == v.status { v.message = f.message; v.reason = f.reason ?? v.reason }
        }
        return v
    }
}
