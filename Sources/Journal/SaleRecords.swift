// A sale's row: one state for the whole of its life, and the transitions between states, each one journal
// transaction together with whatever it queues (a reversal, an advice, a capture) so no crash can leave a
// transition half made. The SaleBook (TapdCore) is the only caller that writes.
import Foundation
import GRDB

/// Where a sale is in its life. The point of sale's status and the money's state are this one value.
public enum SaleState: String, Codable, Sendable, CaseIterable {
    // Before the money moves (the coordinator's tap).
    case waitingForCard = "waiting_for_card"
    case cardDetected = "card_detected"
    case processing
    case seePhone = "see_phone"
    case presentAgain = "present_again"
    /// The online request is built and stored; no byte of it has been written to the acquirer.
    case requestPersisted = "request_persisted"
    /// The request may have reached the acquirer: from here a sale without an answer is reversed.
    case requestTransmitted = "request_transmitted"
    // Final.
    case approved
    case partiallyApproved = "partially_approved"
    case approvedOffline = "approved_offline"
    case declined, failed
    case cancelled
    case timedOut = "timed_out"
    /// Sent, no valid answer: its reversal is a follow-up.
    case unanswered
    /// An approved sale whose reversal the acquirer accepted.
    case voided

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
                || [.requestPersisted, .approvedOffline, .declined, .failed, .cancelled, .timedOut].contains(next)
        case .requestPersisted:
            return [.requestTransmitted, .failed].contains(next)
        case .requestTransmitted:
            return [.approved, .partiallyApproved, .declined, .unanswered].contains(next)
        case .approved, .partiallyApproved:
            return next == .voided
        default:
            return false
        }
    }
}

public enum FollowUpKind: String, Codable, Sendable, CaseIterable {
    /// 0400/0420: undoes a request that got no valid answer, or a void.
    case reversal
    /// 0220 (0120 in dual-message mode): tells the acquirer of an offline approval.
    case advice
    /// 0220 completion: captures an approved authorisation in dual-message mode.
    case capture
}

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
    public var id: Int64
    public var transactionID: String
    public var kind: FollowUpKind
    public var mti: String
    public var status: FollowUpStatus
    /// The message may have reached the acquirer: the next send is a repeat (0401, 0421, 0221).
    public var transmitted: Bool
    /// Answers that refused it.
    public var rejections: Int
    /// Every failed try, refused or unanswered (drives the backoff).
    public var tries: Int
    public var nextAttemptAt: Date
    public var createdAt: Date
    public var lastError: String?
    public var responseCode: String?
    public var resolution: String?
}

/// One sale as the journal holds it. Card data appears as the masked PAN only.
public struct SaleRecord: Sendable, Equatable {
    public var id: String
    public var idempotencyKey: String?
    public var state: SaleState
    public var amount: Int64
    /// What the acquirer approved when less than `amount` (partial approval, DE 39 10).
    public var approvedAmount: Int64?
    public var currency: Int
    public var maskedPAN: String?
    public var mti: String?
    public var stan: String?
    public var rrn: String?
    public var responseCode: String?
    public var approvalCode: String?
    public var reason: String?
    public var reader: String?
    public var scheme: String?
    public var cvm: String?
    /// The Book A message shown last ("Approved", "See phone", …).
    public var message: String?
    /// What the kernel handed over, masked, as JSON (for `GET /v1/transactions/{id}`).
    public var kernelOutput: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var followUps: [FollowUp]

    /// The open follow-up of `kind`, or the last one.
    public func followUp(_ kind: FollowUpKind) -> FollowUp? {
        followUps.last { $0.kind == kind && ($0.status == .pending || $0.status == .quarantined) }
            ?? followUps.last { $0.kind == kind }
    }
}

/// A message to queue with a transition.
public struct NewFollowUp: Sendable {
    public var kind: FollowUpKind
    public var mti: String
    public var message: [UInt8]
    public init(kind: FollowUpKind, mti: String, message: [UInt8]) {
        self.kind = kind
        self.mti = mti
        self.message = message
    }
}

/// One transition of a sale: the new state and what changes with it. Nil fields stay as they are.
public struct SaleChange: Sendable {
    public enum StoredRequest: Sendable {
        /// The message to keep (sealed), e.g. the request before it is sent, or the copy a void needs.
        case store([UInt8])
        /// No card data is kept any more.
        case erase
    }
    public var state: SaleState
    public var reason: String?
    public var message: String?
    public var reader: String?
    public var scheme: String?
    public var cvm: String?
    public var maskedPAN: String?
    public var kernelOutput: String?
    public var mti: String?
    public var stan: String?
    public var rrn: String?
    public var responseCode: String?
    public var approvalCode: String?
    public var approvedAmount: Int64?
    public var request: StoredRequest?
    public var enqueue: [NewFollowUp] = []
    /// Open follow-ups of these kinds that were never transmitted are withdrawn (a void replaces a capture).
    public var withdraw: [FollowUpKind] = []
    /// An audit line written in the same transaction.
    public var audit: (actor: String, event: String, details: String?)?

    public init(_ state: SaleState) { self.state = state }
}

extension Journal {
    // MARK: Creating and changing sales

    /// Creates a sale waiting for a card, or returns the existing one with the same idempotency key (a POS retry
    /// never starts a second sale).
    public func createSale(
        idempotencyKey: String?, amount: Int64, currency: Int, reader: String? = nil, message: String? = nil,
        now: Date = Date()
    ) async throws -> (record: SaleRecord, created: Bool) {
        try await write { db in
            if let k = idempotencyKey,
                let row = try Row.fetchOne(db, sql: "SELECT * FROM txn WHERE idempotency_key = ?", arguments: [k])
            {
                return (try Self.record(db, row), false)
            }
            let id = UUID().uuidString.lowercased()
            try db.execute(
                sql: """
                    INSERT INTO txn (id, idempotency_key, state, amount, currency, reader, message, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, idempotencyKey, SaleState.waitingForCard.rawValue, amount, currency, reader, message,
                    Self.sqlDate(now), Self.sqlDate(now),
                ])
            return (try Self.record(db, id: id), true)
        }
    }

    /// Makes one transition in one journal transaction: the state (refused when the state machine does not allow
    /// it), the fields, the stored request, the follow-ups it queues or withdraws, its audit line. Returns the sale
    /// as it now is.
    @discardableResult
    public func apply(_ id: String, _ change: SaleChange, now: Date = Date()) async throws -> SaleRecord {
        let sealedRequest: [UInt8]?
        if case .store(let bytes) = change.request {
            sealedRequest = try key.seal(bytes, context: "txn:" + id)
        } else {
            sealedRequest = nil
        }
        let key = self.key
        return try await write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT state FROM txn WHERE id = ?", arguments: [id]) else {
                throw JournalError.notFound(id)
            }
            let from = SaleState(rawValue: row["state"]) ?? .failed
            guard from.allows(change.state) else {
                throw JournalError.invalidTransition(id, from: from, to: change.state)
            }
            try db.execute(
                sql: """
                    UPDATE txn SET state = ?, reason = COALESCE(?, reason), message = COALESCE(?, message), reader = COALESCE(?, reader),
                    scheme = COALESCE(?, scheme), cvm = COALESCE(?, cvm), masked_pan = COALESCE(?, masked_pan),
                    kernel_output = COALESCE(?, kernel_output), mti = COALESCE(?, mti), stan = COALESCE(?, stan), rrn = COALESCE(?, rrn),
                    response_code = COALESCE(?, response_code), approval_code = COALESCE(?, approval_code),
                    approved_amount = COALESCE(?, approved_amount), updated_at = ? WHERE id = ?
                    """,
                arguments: [
                    change.state.rawValue, change.reason, change.message, change.reader, change.scheme, change.cvm,
                    change.maskedPAN, change.kernelOutput, change.mti, change.stan, change.rrn, change.responseCode,
                    change.approvalCode, change.approvedAmount, Self.sqlDate(now), id,
                ])
            switch change.request {
            case .store:
                try db.execute(sql: "UPDATE txn SET request = ? WHERE id = ?", arguments: [Data(sealedRequest!), id])
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
    }

    // MARK: Reading

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
    /// (card data is kept no longer than reversals, voids and advices need it).
    @discardableResult
    public func purgeCardData(olderThan retention: TimeInterval, now: Date = Date()) async throws -> Int {
        let final = SaleState.allCases.filter(\.isFinal).map { "'\($0.rawValue)'" }.joined(separator: ",")
        return try await write { db in
            try db.execute(
                sql: """
                    UPDATE txn SET request = NULL WHERE request IS NOT NULL AND state IN (\(final)) AND updated_at < ?
                    AND NOT EXISTS (SELECT 1 FROM saf WHERE saf.txn_id = txn.id AND saf.status = 'pending')
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
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM txn WHERE id = ?", arguments: [id]) else {
            throw JournalError.notFound(id)
        }
        return try record(db, row)
    }

    static func record(_ db: Database, _ r: Row) throws -> SaleRecord {
        let id: String = r["id"]
        let followUps = try Row.fetchAll(db, sql: "SELECT * FROM saf WHERE txn_id = ? ORDER BY id", arguments: [id])
            .map(followUp)
        return SaleRecord(
            id: id, idempotencyKey: r["idempotency_key"], state: SaleState(rawValue: r["state"]) ?? .failed,
            amount: r["amount"], approvedAmount: r["approved_amount"], currency: r["currency"],
            maskedPAN: r["masked_pan"],
            mti: r["mti"], stan: r["stan"], rrn: r["rrn"], responseCode: r["response_code"],
            approvalCode: r["approval_code"],
            reason: r["reason"], reader: r["reader"], scheme: r["scheme"], cvm: r["cvm"], message: r["message"],
            kernelOutput: r["kernel_output"], createdAt: date(r, "created_at"), updatedAt: date(r, "updated_at"),
            followUps: followUps)
    }
}
