// Store-and-forward: reversals, advices and captures waiting for the acquirer, in order (strict FIFO: nothing
// overtakes the head). Each entry remembers whether it may have left (then it goes again as a repeat), how often
// it was refused, and when it may be tried next. Nothing expires: an entry leaves the queue only when the acquirer
// accepts it, when it is quarantined (refused too often, unreadable) or when an operator resolves it.
import Foundation
import GRDB

/// The head of the queue with its message still sealed: opening it is the caller's step, so a message that does
/// not open is quarantined instead of stopping the queue.
public struct QueuedFollowUp: Sendable {
    /// The queued entry as listed.
    public let entry: FollowUp
    let sealed: [UInt8]?
}

/// A queued message whose sealed copy was deleted (retention of a quarantined entry).
struct MessageDeleted: Error, CustomStringConvertible {
    var description: String {
        "it has no stored message (deleted after card_data_retention_days, or it could never be built): settle it with the acquirer by hand, then `tapctl saf resolve`"
    }
}

extension Journal {
    static func insertFollowUp(_ db: Database, key: JournalKey, sale id: String, _ f: NewFollowUp, now: Date) throws {
        do {
            try db.execute(
                sql: """
                    INSERT INTO saf (txn_id, kind, mti, message, rejections, tries, next_attempt_at, status, created_at)
                    VALUES (?, ?, ?, NULL, 0, 0, ?, 'pending', ?)
                    """, arguments: [id, f.kind.rawValue, f.mti, sqlDate(now), sqlDate(now)])
        } catch let e as DatabaseError where e.resultCode == .SQLITE_CONSTRAINT {
            throw JournalError.followUpExists(id, f.kind)
        }
        let rowID = db.lastInsertedRowID
        if let reason = f.quarantinedBecause {
            try db.execute(
                sql: "UPDATE saf SET status = 'quarantined', last_error = ? WHERE id = ?", arguments: [reason, rowID])
            return
        }
        try db.execute(
            sql: "UPDATE saf SET message = ? WHERE id = ?",
            arguments: [Data(try key.seal(f.message, context: "saf:\(rowID)")), rowID])
    }

    /// The oldest pending entry, whether or not it is due.
    public func queueHead() async throws -> QueuedFollowUp? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM saf WHERE status = 'pending' ORDER BY id LIMIT 1").map { row in
                let sealed: Data? = row["message"]
                return QueuedFollowUp(entry: Self.followUp(row), sealed: sealed.map(Array.init))
            }
        }
    }

    /// The message of a queued entry, opened.
    public func open(_ q: QueuedFollowUp) throws -> [UInt8] {
        guard let sealed = q.sealed else {
            throw JournalError.sealedDataUnreadable("follow-up #\(q.entry.id)", cause: MessageDeleted())
        }
        do { return try key.open(sealed, context: "saf:\(q.entry.id)") } catch {
            throw JournalError.sealedDataUnreadable("follow-up #\(q.entry.id)", cause: error)
        }
    }

    /// The queue's next messages for a drain: the first `limit` pending entries in queue order, up to the first
    /// that is not due yet (a head that waits holds the queue), each marked transmitted in one journal transaction —
    /// from now on each may have left. Each entry is returned as it was before the mark, so `transmitted` still says
    /// whether it may have left earlier (its send is then a repeat). `empty`: nothing is pending at all.
    public func takeWindow(limit: Int, now: Date = Date()) async throws -> (entries: [QueuedFollowUp], empty: Bool) {
        try await write { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM saf WHERE status = 'pending' ORDER BY id LIMIT ?", arguments: [max(1, limit)])
            var taken: [QueuedFollowUp] = []
            for r in rows {
                let q = QueuedFollowUp(entry: Self.followUp(r), sealed: (r["message"] as Data?).map(Array.init))
                guard q.entry.nextAttemptAt <= now else { break }
                taken.append(q)
            }
            if let last = taken.last?.entry.id, let first = taken.first?.entry.id {
                try db.execute(
                    sql: "UPDATE saf SET transmitted = 1 WHERE status = 'pending' AND id BETWEEN ? AND ?",
                    arguments: [first, last])
            }
            return (taken, rows.isEmpty)
        }
    }

    /// Entries a drain marked transmitted but never sent (the acquirer went away first): they did not leave, so they
    /// are unmarked — a void may still withdraw such a capture, and their next send is not a repeat.
    public func unmarkTransmitted(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await write { db in
            for id in ids {
                try db.execute(
                    sql: "UPDATE saf SET transmitted = 0 WHERE id = ? AND status = 'pending'", arguments: [id])
            }
        }
    }

    /// Persisted before the message is written to the socket: from now on it may have left. Only a pending entry is
    /// marked (one withdrawn or resolved since it was read is refused). The drain marks a window at a time
    /// (`takeWindow`).
    public func markTransmitted(_ id: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE saf SET transmitted = 1 WHERE id = ? AND status = 'pending'", arguments: [id])
            guard db.changesCount == 1 else { throw JournalError.notFound("pending follow-up #\(id)") }
        }
    }

    /// The acquirer accepted the entry: it is delivered, its card data deleted, and the sale's own transition (a
    /// void becoming final) made in the same transaction.
    @discardableResult
    public func followUpAccepted(
        _ id: Int64, responseCode: String, saleChange: SaleChange? = nil, audit: String,
        now: Date = Date()
    ) async throws -> FollowUp {
        try await delivered(id, responseCode: responseCode, audit: audit, now: now) { _ in
            saleChange
        }.entry
    }

    /// What a delivery leaves: the entry delivered and its sale as it now is.
    public struct Delivery: Sendable {
        /// The entry, delivered.
        public let entry: FollowUp
        /// Its sale after the delivery's transition.
        public let sale: SaleRecord
    }

    /// The acquirer accepted the entry: delivered, its card data deleted, and the sale's transition that `change`
    /// makes of the sale as it stands, in one journal transaction.
    public func delivered(
        _ id: Int64, responseCode: String, audit: String, now: Date = Date(),
        change: @escaping @Sendable (SaleRecord) throws -> SaleChange?
    ) async throws -> Delivery {
        let key = self.key
        return try await write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM saf WHERE id = ?", arguments: [id]) else {
                throw JournalError.notFound("follow-up #\(id)")
            }
            let entry = Self.followUp(row)
            let saleChange = try change(try Self.record(db, id: entry.transactionID))
            // Delivered is what happened, even if an operator resolved it while it was on its way; a withdrawn entry
            // never left (a withdrawal refuses an entry marked transmitted, and a drain takes only pending ones).
            try db.execute(
                sql: """
                    UPDATE saf SET status = 'delivered', message = NULL, response_code = ?, last_error = NULL
                    WHERE id = ? AND status IN ('pending', 'quarantined', 'resolved')
                    """, arguments: [responseCode, id])
            guard db.changesCount == 1 else { throw JournalError.notFound("open follow-up #\(id)") }
            // The sale's own transition, through the one transition of every sale (state machine, money rules).
            if let change = saleChange { _ = try Self.apply(db, key: key, id: entry.transactionID, change, now: now) }
            try Self.audit(db, actor: "acquirer", event: "\(entry.kind.rawValue) delivered", details: audit, now: now)
            let done = Self.followUp(try Row.fetchOne(db, sql: "SELECT * FROM saf WHERE id = ?", arguments: [id])!)
            return Delivery(entry: done, sale: try Self.record(db, id: entry.transactionID))
        }
    }

    /// A try that did not deliver: refused by the acquirer (`rejected`, counted) or unanswered. Quarantined once
    /// refused `quarantineAfter` times. Returns the entry as it now is.
    @discardableResult
    public func followUpFailed(
        _ id: Int64, error: String, responseCode: String? = nil, rejected: Bool, retryAt: Date,
        quarantineAfter: Int, now: Date = Date()
    ) async throws -> FollowUp {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE saf SET rejections = rejections + ?, tries = tries + 1, last_error = ?, response_code = COALESCE(?, response_code),
                    next_attempt_at = ? WHERE id = ?
                    """, arguments: [rejected ? 1 : 0, error, responseCode, Self.sqlDate(retryAt), id])
            try db.execute(
                sql: "UPDATE saf SET status = 'quarantined' WHERE id = ? AND status = 'pending' AND rejections >= ?",
                arguments: [id, max(1, quarantineAfter)])
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM saf WHERE id = ?", arguments: [id]) else {
                throw JournalError.notFound("follow-up #\(id)")
            }
            let entry = Self.followUp(row)
            if entry.status == .quarantined {
                try Self.audit(
                    db, actor: "store-and-forward", event: "\(entry.kind.rawValue) quarantined",
                    details: "#\(id): \(error)", now: now)
            }
            return entry
        }
    }

    /// Takes an entry out of the queue (unreadable message); it stays listed for an operator.
    public func quarantine(_ id: Int64, reason: String, now: Date = Date()) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE saf SET status = 'quarantined', last_error = ? WHERE id = ? AND status = 'pending'",
                arguments: [reason, id])
            try Self.audit(
                db, actor: "store-and-forward", event: "follow-up quarantined", details: "#\(id): \(reason)", now: now)
        }
    }

    /// An operator puts a quarantined entry back at its place in the queue, due now, its refusals forgotten.
    @discardableResult
    public func retryFollowUp(_ id: Int64, actor: String, now: Date = Date()) async throws -> FollowUp {
        try await write { db in
            try db.execute(
                sql:
                    "UPDATE saf SET status = 'pending', rejections = 0, next_attempt_at = ? WHERE id = ? AND status = 'quarantined'",
                arguments: [Self.sqlDate(now), id])
            guard db.changesCount == 1 else { throw JournalError.notFound("quarantined follow-up #\(id)") }
            try Self.audit(db, actor: actor, event: "follow-up retried", details: "#\(id)", now: now)
            return Self.followUp(try Row.fetchOne(db, sql: "SELECT * FROM saf WHERE id = ?", arguments: [id])!)
        }
    }

    /// An operator closes an entry (pending or quarantined) with a reason, e.g. "reversed by the acquirer's help
    /// desk, ticket 4711". The message is deleted; the reason and the operator are audited.
    @discardableResult
    public func resolveFollowUp(_ id: Int64, reason: String, actor: String, now: Date = Date()) async throws -> FollowUp
    {
        try await write { db in
            try db.execute(
                sql:
                    "UPDATE saf SET status = 'resolved', message = NULL, resolution = ? WHERE id = ? AND status IN ('pending', 'quarantined')",
                arguments: [reason, id])
            guard db.changesCount == 1 else { throw JournalError.notFound("open follow-up #\(id)") }
            try Self.audit(db, actor: actor, event: "follow-up resolved", details: "#\(id): \(reason)", now: now)
            return Self.followUp(try Row.fetchOne(db, sql: "SELECT * FROM saf WHERE id = ?", arguments: [id])!)
        }
    }

    /// Entries by status (all when nil), oldest first, at most `limit`.
    public func followUps(status: FollowUpStatus? = nil, limit: Int = 200) async throws -> [FollowUp] {
        try await read { db in
            if let status {
                return try Row.fetchAll(
                    db, sql: "SELECT * FROM saf WHERE status = ? ORDER BY id LIMIT ?",
                    arguments: [status.rawValue, limit]
                ).map(Self.followUp)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM saf ORDER BY id LIMIT ?", arguments: [limit]).map(
                Self.followUp)
        }
    }

    /// The follow-up with `id`, or nil when there is none.
    public func followUp(_ id: Int64) async throws -> FollowUp? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM saf WHERE id = ?", arguments: [id]).map(Self.followUp)
        }
    }

    /// How many entries wait (pending) and how many are quarantined.
    public func queueCounts() async throws -> (pending: Int, quarantined: Int) {
        let c = try await queueState()
        return (c.pending, c.quarantined)
    }

    /// The queue's counts and when its oldest pending entry was queued (nil when none waits).
    public func queueState() async throws -> (pending: Int, quarantined: Int, oldestPending: Date?) {
        try await read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM saf WHERE status = 'pending'") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM saf WHERE status = 'quarantined'") ?? 0,
                try String.fetchOne(db, sql: "SELECT MIN(created_at) FROM saf WHERE status = 'pending'").flatMap(
                    UTCTime.parseSQL)
            )
        }
    }

    static func followUp(_ row: Row) -> FollowUp {
        FollowUp(
            id: row["id"], transactionID: row["txn_id"], kind: FollowUpKind(rawValue: row["kind"]) ?? .reversal,
            mti: row["mti"],
            status: FollowUpStatus(rawValue: row["status"]) ?? .pending, transmitted: row["transmitted"] ?? false,
            rejections: row["rejections"] ?? 0, tries: row["tries"] ?? 0, nextAttemptAt: date(row, "next_attempt_at"),
            createdAt: date(row, "created_at"), lastError: row["last_error"], responseCode: row["response_code"],
            resolution: row["resolution"])
    }
}
