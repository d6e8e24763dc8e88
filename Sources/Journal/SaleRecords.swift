// A sale's row: one state for the whole of its life, and the transitions between states, each one journal
// transaction together with whatever it queues (a reversal, an advice, a capture) so no crash can leave a
// transition half made. The SaleBook (TapdCore) is the only caller that writes.
import Foundation
import GRDB

/// Where a sale is in its life. The point of sale's status and the money's state are this one value.
public enum SaleState: String, Codable, Sendable, CaseIterable {
    // Before the money moves (the coordinator's tap).
    /// The sale is recorded and the reader waits for a card or phone to be presented.
    case waitingForCard = "waiting_for_card"
    /// A card or phone is in the reader's field.
    case cardDetected = "card_detected"
    /// The kernel is reading the card and deciding the outcome of the tap.
    case processing
    /// The phone asks the cardholder to act on it (EMV Book A "See phone"); the tap restarts.
    case seePhone = "see_phone"
    /// The read did not complete; the cardholder is asked to present the card again.
    case presentAgain = "present_again"
    /// The online request is built and stored; no byte of it has been written to the acquirer. Written by earlier
    /// versions only (tapd now stores the request together with `requestTransmitted`); still read and recovered.
    case requestPersisted = "request_persisted"
    /// The request may have reached the acquirer: from here a sale without an answer is reversed.
    case requestTransmitted = "request_transmitted"
    // Final.
    /// The acquirer approved the full amount online.
    case approved
    /// The acquirer approved less than the amount asked (see `SaleRecord.approvedAmount`).
    case partiallyApproved = "partially_approved"
    /// The card approved the sale offline (TC); the advice to the acquirer, if any, is a follow-up.
    case approvedOffline = "approved_offline"
    /// Refused by the card, the terminal or the issuer (`declined`), or ended by an error (`failed`).
    case declined, failed
    /// Cancelled before anything was sent, usually by the point of sale.
    case cancelled
    /// No card was presented within the card timeout.
    case timedOut = "timed_out"
    /// Sent, no valid answer: its reversal is a follow-up.
    case unanswered
    /// An approved sale whose reversal the acquirer accepted (a void, or a pre-authorisation released).
    case voided
    /// A pre-authorisation completed: its completion (capture) is queued or delivered for `completed_amount`.
    case completed

    /// True once the sale has ended (approved, declined, unanswered, …); of these only an approval may
    /// still move on, to voided.
    public var isFinal: Bool {
        switch self {
        case .waitingForCard, .cardDetected, .processing, .seePhone, .presentAgain, .requestPersisted,
            .requestTransmitted:
            false
        default: true
        }
    }

    /// States of the tap itself, before anything is sent.
    public var isTap: Bool { [.waitingForCard, .cardDetected, .processing, .seePhone, .presentAgain].contains(self) }

    /// What may follow what. A sale only moves forward; the tap's states may alternate (see phone, present again).
    public func allows(_ next: SaleState) -> Bool {
        if self == next { return true }
        switch self {
        case .waitingForCard, .cardDetected, .processing, .seePhone, .presentAgain:
            return next.isTap
                || [
                    .requestTransmitted, .requestPersisted, .approvedOffline, .declined, .failed, .cancelled, .timedOut,
                ]
                .contains(next)
        case .requestPersisted:
            return [.requestTransmitted, .failed].contains(next)
        case .requestTransmitted:
            return [.approved, .partiallyApproved, .declined, .unanswered].contains(next)
        case .approved, .partiallyApproved:
            // A void (or a pre-authorisation's release), or a pre-authorisation's completion.
            return next == .voided || next == .completed
        default:
            return false
        }
    }
}

/// What a transaction is: the EMV transaction type it runs with and the message it goes online as.
public enum TransactionKind: String, Codable, Sendable, CaseIterable {
    /// A purchase (9C 00): 0200, or 0100 with a capture in dual-message mode.
    case sale
    /// Money back to the card (9C 20): the card is asked for an AAC; online as the profile's refund message.
    case refund
    /// A pre-authorisation (9C 00, forced online): 0100; completed later (0220) or released (0400).
    case preauth
}

/// The kind of message queued for the acquirer after a sale (store-and-forward).
public enum FollowUpKind: String, Codable, Sendable, CaseIterable {
    /// 0400/0420: undoes a request that got no valid answer, or a void.
    case reversal
    /// 0220 (0120 in dual-message mode): tells the acquirer of an offline approval.
    case advice
    /// 0220 completion: captures an approved authorisation in dual-message mode.
    case capture
}

/// Where a queued follow-up stands in the store-and-forward queue.
public enum FollowUpStatus: String, Codable, Sendable {
    /// Waiting for delivery (FIFO).
    case pending
    /// The acquirer accepted it.
    case delivered
    /// Out of the queue: refused too often or unreadable; an operator retries or resolves it.
    case quarantined
    /// An operator closed it with a reason (audited).
    case resolved
    /// Never sent and no longer needed (a capture replaced by a void's reversal).
    case withdrawn
}

/// A reversal, advice or capture of a sale, as listed (the message itself stays sealed).
public struct FollowUp: Sendable, Equatable, Codable {
    /// The queue entry's id; entries are delivered in ascending id order (FIFO).
    public var id: Int64
    /// The id of the sale this message belongs to.
    public var transactionID: String
    /// Reversal, advice or capture.
    public var kind: FollowUpKind
    /// The ISO 8583 message type indicator of the queued message (e.g. "0400", "0220").
    public var mti: String
    /// Where the entry stands in the queue.
    public var status: FollowUpStatus
    /// The message may have reached the acquirer: the next send is a repeat (0401, 0421, 0221).
    public var transmitted: Bool
    /// Answers that refused it.
    public var rejections: Int
    /// Every failed try, refused or unanswered (drives the backoff).
    public var tries: Int
    /// When the entry may be tried next (set by the backoff after a failed try).
    public var nextAttemptAt: Date
    /// When the entry was queued.
    public var createdAt: Date
    /// Why the last try failed or why it was quarantined; nil before any failure and after delivery.
    public var lastError: String?
    /// The acquirer's response code (DE 39) from the last answer; nil when none came.
    public var responseCode: String?
    /// The reason an operator gave when resolving the entry, or why it was withdrawn.
    public var resolution: String?
}

/// One sale as the journal holds it. Card data appears as the masked PAN only.
public struct SaleRecord: Sendable, Equatable {
    /// The sale's id, a lowercase UUID (the transaction id of the control API).
    public var id: String
    /// The point of sale's idempotency key, if it gave one: a retry with it returns this sale.
    public var idempotencyKey: String?
    /// Where the sale is in its life.
    public var state: SaleState
    /// Sale, refund or pre-authorisation.
    public var kind: TransactionKind = .sale
    /// The sale a refund gives money back from; nil for a stand-alone refund and for other kinds.
    public var originalID: String? = nil
    /// What a pre-authorisation's completion captured, in minor units; nil until it is completed.
    public var completedAmount: Int64? = nil
    /// The batch it was settled in; nil until a batch close takes it.
    public var batchID: Int? = nil
    /// Milliseconds from the card in the field to the kernel's outcome (the last tap), when measured.
    public var tapMilliseconds: Int? = nil
    /// Milliseconds the online request took, request to answer, when it went online.
    public var onlineMilliseconds: Int? = nil
    /// The amount asked, in minor units of `currency` (e.g. cents).
    public var amount: Int64
    /// What the acquirer approved when less than `amount` (partial approval, DE 39 10).
    public var approvedAmount: Int64?
    /// The ISO 4217 numeric currency code (e.g. 978 for EUR).
    public var currency: Int
    /// The card number, masked; nil until the card has been read.
    public var maskedPAN: String?
    /// The ISO 8583 message type indicator of the sale's request, or of its advice when approved offline.
    public var mti: String?
    /// The system trace audit number (DE 11, six digits) of that message.
    public var stan: String?
    /// The retrieval reference number (DE 37) of that message.
    public var rrn: String?
    /// The acquirer's response code (DE 39); nil when no answer was recorded.
    public var responseCode: String?
    /// The approval code (DE 38) from the acquirer's answer, if any.
    public var approvalCode: String?
    /// Why the sale is in its state, in words (e.g. "declined by the issuer (response code 05)").
    public var reason: String?
    /// The name of the card reader that took the tap.
    public var reader: String?
    /// The card scheme, from the kernel that read the card ("Visa", "Mastercard", …).
    public var scheme: String?
    /// The cardholder verification method the kernel chose ("no_cvm", "online_pin", …).
    public var cvm: String?
    /// The Book A message shown last ("Approved", "See phone", …).
    public var message: String?
    /// What the kernel handed over, masked, as JSON (for `GET /v1/transactions/{id}`).
    public var kernelOutput: String?
    /// When the sale was created.
    public var createdAt: Date
    /// When the sale last changed.
    public var updatedAt: Date
    /// Its reversals, advices and captures, oldest first.
    public var followUps: [FollowUp]

    /// The open follow-up of `kind`, or the last one.
    public func followUp(_ kind: FollowUpKind) -> FollowUp? {
        followUps.last { $0.kind == kind && ($0.status == .pending || $0.status == .quarantined) }
            ?? followUps.last { $0.kind == kind }
    }
}

/// A message to queue with a transition.
public struct NewFollowUp: Sendable {
    /// Reversal, advice or capture.
    public var kind: FollowUpKind
    /// The ISO 8583 message type indicator of `message` (e.g. "0400").
    public var mti: String
    /// The packed ISO 8583 message; the journal stores it sealed.
    public var message: [UInt8]
    /// When set, the follow-up is needed but cannot be built (its source does not open): it is recorded
    /// quarantined, without a message, with this reason, so an operator sees it in `tapctl saf list` and settles it.
    public var quarantinedBecause: String?
    /// A follow-up of `kind` carrying the packed `message` of type `mti`.
    public init(kind: FollowUpKind, mti: String, message: [UInt8]) {
        self.kind = kind
        self.mti = mti
        self.message = message
    }

    /// A follow-up that is owed but cannot be built: listed, quarantined, for an operator to settle by hand.
    public static func owed(_ kind: FollowUpKind, mti: String, because reason: String) -> NewFollowUp {
        var f = NewFollowUp(kind: kind, mti: mti, message: [])
        f.quarantinedBecause = reason
        return f
    }
}

/// One transition of a sale: the new state and what changes with it. Nil fields stay as they are.
public struct SaleChange: Sendable {
    /// What to do with the sale's stored (sealed) request message.
    public enum StoredRequest: Sendable {
        /// The message to keep (sealed), e.g. the request before it is sent, or the copy a void needs.
        case store([UInt8])
        /// No card data is kept any more.
        case erase
    }
    /// The state the sale moves to; `Journal.apply` throws when the current state does not allow it.
    public var state: SaleState
    /// Why the sale is in the new state, in words.
    public var reason: String?
    /// The EMV Book A message to show now ("Approved", "See phone", …).
    public var message: String?
    /// The name of the card reader that took the tap.
    public var reader: String?
    /// The card scheme ("Visa", "Mastercard", …).
    public var scheme: String?
    /// The cardholder verification method the kernel chose.
    public var cvm: String?
    /// The card number, masked.
    public var maskedPAN: String?
    /// What the kernel handed over, masked, as JSON.
    public var kernelOutput: String?
    /// The ISO 8583 message type indicator of the sale's request or advice.
    public var mti: String?
    /// The system trace audit number (DE 11) of that message.
    public var stan: String?
    /// The retrieval reference number (DE 37) of that message.
    public var rrn: String?
    /// The acquirer's response code (DE 39).
    public var responseCode: String?
    /// The approval code (DE 38) from the acquirer's answer.
    public var approvalCode: String?
    /// The amount approved, in minor units, when less than asked (partial approval).
    public var approvedAmount: Int64?
    /// The amount a pre-authorisation's completion captures.
    public var completedAmount: Int64?
    /// The tap's time to outcome, in milliseconds (for reports).
    public var tapMilliseconds: Int?
    /// The online request's time, request to answer, in milliseconds.
    public var onlineMilliseconds: Int?
    /// Stores or erases the sale's sealed request; nil leaves it as it is.
    public var request: StoredRequest?
    /// Follow-ups queued in the same transaction.
    public var enqueue: [NewFollowUp] = []
    /// Open follow-ups of these kinds that were never transmitted are withdrawn (a void replaces a capture).
    public var withdraw: [FollowUpKind] = []
    /// An audit line written in the same transaction.
    public var audit: (actor: String, event: String, details: String?)?

    /// A change to `state` that leaves every other field as it is.
    public init(_ state: SaleState) { self.state = state }
}

extension Journal {
    // MARK: Creating and changing sales

    /// Creates a sale waiting for a card, or returns the existing one with the same idempotency key (a POS retry
    /// never starts a second sale).
    public func createSale(
        idempotencyKey: String?, amount: Int64, currency: Int, reader: String? = nil, message: String? = nil,
        kind: TransactionKind = .sale, originalID: String? = nil, now: Date = Date()
    ) async throws -> (record: SaleRecord, created: Bool) {
        try await write { db in
            if let k = idempotencyKey,
                let row = try Row.fetchOne(db, sql: "SELECT * FROM txn WHERE idempotency_key = ?", arguments: [k])
            {
                return (try Self.record(db, row), false)
            }
            if let originalID {
                // Checked and reserved in the same transaction as the insert: two refunds of one sale started at
                // once cannot both fit in what is left of it.
                let left = try Self.refundable(db, originalID, currency: currency)
                guard amount <= left else { throw JournalError.refundExceedsOriginal(originalID, left: left) }
            }
            let id = UUID().uuidString.lowercased()
            try db.execute(
                sql: """
                    INSERT INTO txn (id, idempotency_key, state, amount, currency, reader, message, kind, original_id, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, idempotencyKey, SaleState.waitingForCard.rawValue, amount, currency, reader, message,
                    kind.rawValue, originalID, Self.sqlDate(now), Self.sqlDate(now),
                ])
            return (try Self.record(db, id: id), true)
        }
    }

    /// The rules that keep one sale's money from moving twice, checked in the transition's own transaction (so two
    /// API calls racing each other cannot both pass): a void (a reversal of an approved sale) is refused once refunds
    /// of the sale hold money or once the sale is in a batch; a completion is refused beside a release (any reversal
    /// of the pre-authorisation queued or delivered).
    static func checkMoneyMovesOnce(_ db: Database, id: String, from: SaleState, _ change: SaleChange) throws {
        let reverses = change.enqueue.contains { $0.kind == .reversal }
        let captures = change.enqueue.contains { $0.kind == .capture }
        guard reverses || captures else { return }
        // A pre-authorisation is completed once: a second completion would be a second capture.
        if captures, from == .completed { throw JournalError.invalidTransition(id, from: from, to: change.state) }
        if reverses, from == .approved || from == .partiallyApproved {
            if let batch = try Int.fetchOne(db, sql: "SELECT batch_id FROM txn WHERE id = ?", arguments: [id]) {
                throw JournalError.moneyConflict(
                    id, "it was settled in batch \(batch), which is closed; a refund is the way to give the money back")
            }
            let refunds =
                try Int.fetchOne(
                    db,
                    sql:
                        "SELECT COUNT(*) FROM txn WHERE original_id = ? AND kind = 'refund' AND state IN (\(refundHolding))",
                    arguments: [id]) ?? 0
            if refunds > 0 {
                throw JournalError.moneyConflict(
                    id,
                    "\(refunds) refund(s) of it moved or may move money; it can no longer be voided (refund the rest)")
            }
        }
        if captures, change.state == .completed {
            let reversed =
                try Int.fetchOne(
                    db,
                    sql:
                        "SELECT COUNT(*) FROM saf WHERE txn_id = ? AND kind = 'reversal' AND status IN ('pending', 'quarantined', 'delivered')",
                    arguments: [id]) ?? 0
            if reversed > 0 {
                throw JournalError.moneyConflict(
                    id, "it is being released (its reversal is queued); it cannot be completed")
            }
        }
    }

    /// States of a refund that hold part of its original: it may still move money, or it did.
    static let refundHolding =
        "'waiting_for_card','card_detected','processing','see_phone','present_again','request_persisted','request_transmitted','approved','partially_approved','approved_offline'"

    /// What may still be refunded of `originalID`: what it charged (approved, approved offline, or a completed
    /// pre-authorisation's capture) less every refund of it that moved money or may still. Throws when it is no
    /// sale that took money, or in another currency.
    static func refundable(_ db: Database, _ originalID: String, currency: Int) throws -> Int64 {
        guard let o = try Row.fetchOne(db, sql: "SELECT * FROM txn WHERE id = ?", arguments: [originalID]) else {
            throw JournalError.notFound(originalID)
        }
        let state = SaleState(rawValue: o["state"]) ?? .failed
        let kind = TransactionKind(rawValue: o["kind"]) ?? .sale
        let charged: Int64
        switch (kind, state) {
        case (.sale, .approved), (.sale, .approvedOffline): charged = o["amount"]
        case (.sale, .partiallyApproved): charged = o["approved_amount"] ?? o["amount"]
        case (.preauth, .completed): charged = o["completed_amount"] ?? 0
        default:
            throw JournalError.notRefundable(originalID, "it is a \(kind.rawValue) in state \(state.rawValue)")
        }
        guard (o["currency"] as Int) == currency else {
            throw JournalError.notRefundable(originalID, "it was made in currency \(o["currency"] as Int)")
        }
        // A sale being voided (its reversal queued) gives its money back that way: no refund beside it.
        let voiding =
            try Int.fetchOne(
                db,
                sql:
                    "SELECT COUNT(*) FROM saf WHERE txn_id = ? AND kind = 'reversal' AND status IN ('pending', 'quarantined')",
                arguments: [originalID]) ?? 0
        if voiding > 0 {
            throw JournalError.notRefundable(originalID, "it is being voided (its reversal waits for the acquirer)")
        }
        // Refunds that moved or may move money — an unanswered one too, until its reversal is delivered.
        let refunded =
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT COALESCE(SUM(COALESCE(approved_amount, amount)), 0) FROM txn
                    WHERE original_id = ? AND kind = 'refund' AND (state IN (\(refundHolding))
                      OR (state = 'unanswered' AND EXISTS (SELECT 1 FROM saf s WHERE s.txn_id = txn.id
                          AND s.kind = 'reversal' AND s.status IN ('pending', 'quarantined'))))
                    """, arguments: [originalID]) ?? 0
        return max(0, charged - refunded)
    }

    /// What may still be refunded of the sale `id` (see `refundable`).
    public func refundable(_ id: String, currency: Int) async throws -> Int64 {
        try await read { db in try Self.refundable(db, id, currency: currency) }
    }

    /// Makes one transition in one journal transaction: the state (refused when the state machine does not allow
    /// it), the fields, the stored request, the follow-ups it queues or withdraws, its audit line. Returns the sale
    /// as it now is.
    @discardableResult
    public func apply(_ id: String, _ change: SaleChange, now: Date = Date()) async throws -> SaleRecord {
        let key = self.key
        return try await write { db in try Self.apply(db, key: key, id: id, change, now: now) }
    }

    /// One transition that needs a fresh STAN, in one journal transaction with the STAN's allocation: `change` builds
    /// the transition (its request carries the STAN) from the STAN. An online request is numbered, stored and marked
    /// "transmitted" with a single fsync; a failure anywhere (building it too) leaves neither the STAN nor the sale
    /// changed. Returns the sale as it now is.
    @discardableResult
    public func applyNumbered(
        _ id: String, now: Date = Date(), _ change: @escaping @Sendable (_ stan: String) throws -> SaleChange
    ) async throws -> SaleRecord {
        let key = self.key
        return try await write { db in
            let c = try change(try Self.nextSTAN(db))
            return try Self.apply(db, key: key, id: id, c, now: now)
        }
    }

    static func apply(
        _ db: Database, key: JournalKey, id: String, _ change: SaleChange, now: Date
    ) throws -> SaleRecord {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT state FROM txn WHERE id = ?"), arguments: [id])
        else {
            throw JournalError.notFound(id)
        }
        let from = SaleState(rawValue: row["state"]) ?? .failed
        guard from.allows(change.state) else {
            throw JournalError.invalidTransition(id, from: from, to: change.state)
        }
        try Self.checkMoneyMovesOnce(db, id: id, from: from, change)
        try db.cachedStatement(
            sql: """
                UPDATE txn SET state = ?, reason = COALESCE(?, reason), message = COALESCE(?, message), reader = COALESCE(?, reader),
                scheme = COALESCE(?, scheme), cvm = COALESCE(?, cvm), masked_pan = COALESCE(?, masked_pan),
                kernel_output = COALESCE(?, kernel_output), mti = COALESCE(?, mti), stan = COALESCE(?, stan), rrn = COALESCE(?, rrn),
                response_code = COALESCE(?, response_code), approval_code = COALESCE(?, approval_code),
                approved_amount = COALESCE(?, approved_amount), completed_amount = COALESCE(?, completed_amount),
                tap_ms = COALESCE(?, tap_ms), online_ms = COALESCE(?, online_ms), updated_at = ? WHERE id = ?
                """
        ).execute(
            arguments: [
                change.state.rawValue, change.reason, change.message, change.reader, change.scheme, change.cvm,
                change.maskedPAN, change.kernelOutput, change.mti, change.stan, change.rrn, change.responseCode,
                change.approvalCode, change.approvedAmount, change.completedAmount, change.tapMilliseconds,
                change.onlineMilliseconds, Self.sqlDate(now), id,
            ])
        switch change.request {
        case .store(let bytes):
            // Sealed here, once, whoever makes the transition (the row's id bound in).
            let sealed = try key.seal(bytes, context: "txn:" + id)
            try db.cachedStatement(sql: "UPDATE txn SET request = ? WHERE id = ?").execute(arguments: [
                Data(sealed), id,
            ])
        case .erase: try db.execute(sql: "UPDATE txn SET request = NULL WHERE id = ?", arguments: [id])
        case nil: break
        }
        for kind in change.withdraw {
            // What may have left cannot be taken back by withdrawing it (a void must wait for, then reverse, a capture).
            let inFlight =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM saf WHERE txn_id = ? AND kind = ? AND status IN ('pending', 'quarantined') AND transmitted = 1
                        """, arguments: [id, kind.rawValue]) ?? 0
            if inFlight > 0 { throw JournalError.followUpInFlight(id, kind) }
            try db.execute(
                sql: """
                    UPDATE saf SET status = 'withdrawn', message = NULL, resolution = ? WHERE txn_id = ? AND kind = ?
                    AND status IN ('pending', 'quarantined') AND transmitted = 0
                    """, arguments: ["withdrawn by \(change.state.rawValue)", id, kind.rawValue])
        }
        for f in change.enqueue { try Self.insertFollowUp(db, key: key, sale: id, f, now: now) }
        if let a = change.audit { try Self.audit(db, actor: a.actor, event: a.event, details: a.details, now: now) }
        return try Self.record(db, id: id)
    }

    // MARK: Reading

    /// The sale with `id`, or nil when there is none.
    public func sale(_ id: String) async throws -> SaleRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM txn WHERE id = ?", arguments: [id]).map { try Self.record(db, $0) }
        }
    }

    /// Most recent first, created before `before`.
    public func sales(limit: Int = 50, before: Date? = nil) async throws -> [SaleRecord] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM txn WHERE created_at < ? ORDER BY created_at DESC, id DESC LIMIT ?",
                arguments: [Self.sqlDate(before ?? Date.distantFuture), max(1, min(limit, 1000))]
            ).map { try Self.record(db, $0) }
        }
    }

    /// Transactions of `kind` in any of `states`, oldest first.
    public func sales(kind: TransactionKind, in states: [SaleState]) async throws -> [SaleRecord] {
        let list = states.map { "'\($0.rawValue)'" }.joined(separator: ",")
        return try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM txn WHERE kind = ? AND state IN (\(list)) ORDER BY created_at",
                arguments: [kind.rawValue]
            ).map { try Self.record(db, $0) }
        }
    }

    /// Sales in any of `states`, oldest first (recovery).
    public func sales(in states: [SaleState]) async throws -> [SaleRecord] {
        let list = states.map { "'\($0.rawValue)'" }.joined(separator: ",")
        return try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM txn WHERE state IN (\(list)) ORDER BY created_at").map {
                try Self.record(db, $0)
            }
        }
    }

    /// The stored request (opened): what a reversal or void is built from.
    public func request(of id: String) async throws -> [UInt8]? {
        let sealed = try await read { db in
            try Data.fetchOne(db, sql: "SELECT request FROM txn WHERE id = ?", arguments: [id])
        }
        guard let sealed else { return nil }
        do { return try key.open(Array(sealed), context: "txn:" + id) } catch {
            throw JournalError.sealedDataUnreadable("the stored request of \(id)", cause: error)
        }
    }

    /// Deletes stored requests of sales that are final, have no open follow-up and are older than `retention`
    /// (card data is kept no longer than reversals, voids and advices need it). An open pre-authorisation keeps its
    /// authorisation until it is completed or released (`preauth_expiry`): both are built from it.
    @discardableResult
    public func purgeCardData(olderThan retention: TimeInterval, now: Date = Date()) async throws -> Int {
        let final = SaleState.allCases.filter(\.isFinal).map { "'\($0.rawValue)'" }.joined(separator: ",")
        return try await write { db in
            try db.execute(
                sql: """
                    UPDATE txn SET request = NULL WHERE request IS NOT NULL AND state IN (\(final)) AND updated_at < ?
                    AND NOT EXISTS (SELECT 1 FROM saf WHERE saf.txn_id = txn.id AND saf.status = 'pending')
                    AND NOT (kind = 'preauth' AND state IN ('approved', 'partially_approved'))
                    """, arguments: [Self.sqlDate(now.addingTimeInterval(-retention))])
            let n = db.changesCount
            // Quarantined messages are covered by the same retention: after it, only their listing remains.
            try db.execute(
                sql:
                    "UPDATE saf SET message = NULL WHERE message IS NOT NULL AND status != 'pending' AND created_at < ?",
                arguments: [Self.sqlDate(now.addingTimeInterval(-retention))])
            return n
        }
    }

    static func record(_ db: Database, id: String) throws -> SaleRecord {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM txn WHERE id = ?"), arguments: [id])
        else {
            throw JournalError.notFound(id)
        }
        return try record(db, row)
    }

    static func record(_ db: Database, _ r: Row) throws -> SaleRecord {
        let id: String = r["id"]
        let followUps = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM saf WHERE txn_id = ? ORDER BY id"), arguments: [id]
        )
        .map(followUp)
        return SaleRecord(
            id: id, idempotencyKey: r["idempotency_key"], state: SaleState(rawValue: r["state"]) ?? .failed,
            kind: TransactionKind(rawValue: r["kind"]) ?? .sale, originalID: r["original_id"],
            completedAmount: r["completed_amount"], batchID: r["batch_id"], tapMilliseconds: r["tap_ms"],
            onlineMilliseconds: r["online_ms"],
            amount: r["amount"], approvedAmount: r["approved_amount"], currency: r["currency"],
            maskedPAN: r["masked_pan"],
            mti: r["mti"], stan: r["stan"], rrn: r["rrn"], responseCode: r["response_code"],
            approvalCode: r["approval_code"],
            reason: r["reason"], reader: r["reader"], scheme: r["scheme"], cvm: r["cvm"], message: r["message"],
            kernelOutput: r["kernel_output"], createdAt: date(r, "created_at"), updatedAt: date(r, "updated_at"),
            followUps: followUps)
    }
}
