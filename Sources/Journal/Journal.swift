// The journal: one SQLite database (WAL, synchronous FULL) that records every step that moves money before it
// is acted on, so a crash at any point leaves enough on disk to finish the job on restart (send the reversal,
// deliver the advice, answer the POS). Card data inside stored messages is sealed with AES-256-GCM and deleted
// once the acquirer has acknowledged what needed it.
import Foundation
import GRDB

/// Where a transaction is in its life (../shared/DESIGN.md, "one tap, end to end").
public enum TransactionState: String, Codable, Sendable, CaseIterable {
    case created, cardRead = "card_read", requestPersisted = "request_persisted", sent, answered, timedOut = "timed_out"
    case reversalQueued = "reversal_queued", reversed, approvedOffline = "approved_offline", adviceQueued = "advice_queued"
    case adviceDelivered = "advice_delivered", declined, failed, cancelled

    /// States from which a restart must reverse: the request may have reached the acquirer without an answer.
    public static let unresolved: [TransactionState] = [.requestPersisted, .sent, .timedOut]
}

public struct TransactionRecord: Sendable, Equatable, Codable {
    public var id: String
    public var idempotencyKey: String?
    public var state: TransactionState
    public var amount: Int64
    public var currency: Int
    public var maskedPAN: String?
    public var mti: String?
    public var stan: String?
    public var rrn: String?
    public var responseCode: String?
    public var approvalCode: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// What the point of sale sees (the coordinator's status: waiting_for_card … approved, voided), why, on which
    /// reader, with which scheme. Separate from `state`, which is the money's state machine.
    public var status: String? = nil
    public var reason: String? = nil
    public var reader: String? = nil
    public var scheme: String? = nil
    public var voided: Bool = false
}

public enum SAFKind: String, Codable, Sendable { case reversal, advice }
public enum SAFStatus: String, Codable, Sendable { case pending, done, quarantined }

public struct SAFEntry: Sendable, Equatable {
    public var id: Int64
    public var transactionID: String
    public var kind: SAFKind
    public var mti: String
    /// The packed message, card data included (opened from its sealed form).
    public var message: [UInt8]
    public var attempts: Int
    /// Every failed try, counted toward `attempts` or not (drives the backoff).
    public var tries: Int
    public var nextAttemptAt: Date
    public var expiresAt: Date
    public var status: SAFStatus
    public var lastError: String?
}

public enum JournalError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case invalidTransition(String, from: TransactionState, to: TransactionState)
    public var description: String {
        switch self {
        case .notFound(let id): return "no transaction \(id)"
        case .invalidTransition(let id, let a, let b): return "transaction \(id): \(a.rawValue) → \(b.rawValue) is not allowed"
        }
    }
}

public final class Journal: Sendable {
    let db: DatabasePool
    let key: JournalKey
    public let path: String

    /// Opens (and creates or migrates) the journal at `path`.
    public init(path: String, key: JournalKey) throws {
        var config = Configuration()
        // Another process (tapctl, a restarting daemon, the crash tests' observer) may hold the write lock for a
        // moment: wait for it rather than fail the step with SQLITE_BUSY.
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // Durability first: a step is on disk when the call returns (WAL with a full sync on commit).
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        db = try DatabasePool(path: path, configuration: config)
        self.key = key
        self.path = path
        do {
            try Self.migrator.migrate(db)
        } catch {
            // Another process (tapctl, a test, a second tapd refused later by its lock) may have applied the same
            // migration between our look at the applied list and our ALTER TABLE; the second pass sees it applied.
            try Self.migrator.migrate(db)
        }
    }

    /// A date as GRDB stores it ("yyyy-MM-dd HH:mm:ss.SSS", UTC), made here: GRDB's own encoder goes through
    /// Foundation's DateFormatter, which brings up ICU (megabytes of resident memory) for every write.
    static func sqlDate(_ d: Date) -> String { UTCTime.sql(d) }

    /// A stored date read back without GRDB's decoder (which builds a Foundation Calendar, and with it ICU).
    /// Every date in the journal was written by `sqlDate`; one that does not parse reads as the epoch rather
    /// than stopping the daemon.
    static func date(_ row: Row, _ column: String) -> Date {
        let text: String? = row[column]
        return text.flatMap(UTCTime.parseSQL) ?? Date(timeIntervalSince1970: 0)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "txn") { t in
                t.column("id", .text).primaryKey()
                t.column("idempotency_key", .text).unique()
                t.column("state", .text).notNull()
                t.column("amount", .integer).notNull()
                t.column("currency", .integer).notNull()
                t.column("masked_pan", .text)
                t.column("mti", .text)
                t.column("stan", .text)
                t.column("rrn", .text)
                t.column("request", .blob)            // sealed
                t.column("response_code", .text)
                t.column("approval_code", .text)
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
            }
            try db.create(table: "saf") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("txn_id", .text).notNull().references("txn", onDelete: .restrict)
                t.column("kind", .text).notNull()
                t.column("mti", .text).notNull()
                t.column("message", .blob)            // sealed; nulled when done
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("next_attempt_at", .datetime).notNull()
                t.column("expires_at", .datetime).notNull()
                t.column("status", .text).notNull()
                t.column("last_error", .text)
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "counter") { t in
                t.column("name", .text).primaryKey()
                t.column("value", .integer).notNull()
            }
            try db.create(table: "audit") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("at", .datetime).notNull()
                t.column("actor", .text).notNull()
                t.column("event", .text).notNull()
                t.column("details", .text)
            }
        }
        // v2: failed tries of a queued entry (counted or not), for the store-and-forward backoff.
        m.registerMigration("v2") { db in
            try db.alter(table: "saf") { t in t.add(column: "tries", .integer).notNull().defaults(to: 0) }
        }
        // v3: what the point of sale is told (status, reason, reader, scheme) and whether a void was asked for.
        m.registerMigration("v3") { db in
            try db.alter(table: "txn") { t in
                t.add(column: "status", .text)
                t.add(column: "reason", .text)
                t.add(column: "reader", .text)
                t.add(column: "scheme", .text)
                t.add(column: "voided", .boolean).notNull().defaults(to: false)
            }
        }
        return m
    }

    // MARK: Transactions

    /// Creates a transaction, or returns the existing one with the same idempotency key (a POS retry never starts
    /// a second sale).
    @discardableResult
    public func createTransaction(idempotencyKey: String?, amount: Int64, currency: Int, now: Date = Date()) throws -> (record: TransactionRecord, created: Bool) {
        try db.write { db in
            if let k = idempotencyKey, let row = try Row.fetchOne(db, sql: "SELECT * FROM txn WHERE idempotency_key = ?", arguments: [k]) {
                return (Self.record(row), false)
            }
            let id = UUID().uuidString.lowercased()
            try db.execute(sql: "INSERT INTO txn (id, idempotency_key, state, amount, currency, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [id, idempotencyKey, TransactionState.created.rawValue, amount, currency, Self.sqlDate(now), Self.sqlDate(now)])
            return (Self.record(try Row.fetchOne(db, sql: "SELECT * FROM txn WHERE id = ?", arguments: [id])!), true)
        }
    }

    public func transaction(_ id: String) throws -> TransactionRecord? {
        try db.read { db in try Row.fetchOne(db, sql: "SELECT * FROM txn WHERE id = ?", arguments: [id]).map(Self.record) }
    }

    /// Most recent first; `after` continues a listing from a given id.
    public func transactions(limit: Int = 50, before: Date? = nil) throws -> [TransactionRecord] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM txn WHERE created_at < ? ORDER BY created_at DESC, id DESC LIMIT ?",
                             arguments: [Self.sqlDate(before ?? Date.distantFuture), max(1, min(limit, 1000))]).map(Self.record)
        }
    }

    /// Moves a transaction to `state`, with optional fields; refuses moves the state machine does not allow.
    public func update(_ id: String, to state: TransactionState, maskedPAN: String? = nil, responseCode: String? = nil,
                       approvalCode: String? = nil, now: Date = Date()) throws {
        try db.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT state FROM txn WHERE id = ?", arguments: [id]),
                  let from = TransactionState(rawValue: row["state"]) else { throw JournalError.notFound(id) }
            guard Self.allowed(from: from, to: state) else { throw JournalError.invalidTransition(id, from: from, to: state) }
            try db.execute(sql: """
                UPDATE txn SET state = ?, masked_pan = COALESCE(?, masked_pan), response_code = COALESCE(?, response_code),
                approval_code = COALESCE(?, approval_code), updated_at = ? WHERE id = ?
                """, arguments: [state.rawValue, maskedPAN, responseCode, approvalCode, Self.sqlDate(now), id])
        }
    }

    /// Records what the point of sale is told about a transaction (nil leaves a field as it is).
    public func annotate(_ id: String, status: String? = nil, reason: String? = nil, reader: String? = nil, scheme: String? = nil,
                         voided: Bool? = nil, now: Date = Date()) throws {
        try db.write { db in
            try db.execute(sql: """
                UPDATE txn SET status = COALESCE(?, status), reason = COALESCE(?, reason), reader = COALESCE(?, reader),
                scheme = COALESCE(?, scheme), voided = COALESCE(?, voided), updated_at = ? WHERE id = ?
                """, arguments: [status, reason, reader, scheme, voided, Self.sqlDate(now), id])
            guard db.changesCount == 1 else { throw JournalError.notFound(id) }
        }
    }

    /// Persists the online request before it is sent (card data sealed): the step that makes a crash recoverable.
    public func persistRequest(_ id: String, mti: String, stan: String, rrn: String, message: [UInt8], now: Date = Date()) throws {
        let sealed = try key.seal(message, context: "txn:" + id)
        try db.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT state FROM txn WHERE id = ?", arguments: [id]),
                  let from = TransactionState(rawValue: row["state"]) else { throw JournalError.notFound(id) }
            guard Self.allowed(from: from, to: .requestPersisted) else { throw JournalError.invalidTransition(id, from: from, to: .requestPersisted) }
            try db.execute(sql: "UPDATE txn SET state = ?, mti = ?, stan = ?, rrn = ?, request = ?, updated_at = ? WHERE id = ?",
                           arguments: [TransactionState.requestPersisted.rawValue, mti, stan, rrn, Data(sealed), Self.sqlDate(now), id])
        }
    }

    /// The stored request (opened), for building a reversal.
    public func request(of id: String) throws -> [UInt8]? {
        guard let sealed = try db.read({ db in try Data?.fetchOne(db, sql: "SELECT request FROM txn WHERE id = ?", arguments: [id]) }) ?? nil else { return nil }
        return try key.open(Array(sealed), context: "txn:" + id)
    }

    /// Transactions a restart must settle: the request may have gone out and no answer was recorded.
    public func unresolved() throws -> [TransactionRecord] {
        let states = TransactionState.unresolved.map { "'\($0.rawValue)'" }.joined(separator: ",")
        return try db.read { db in try Row.fetchAll(db, sql: "SELECT * FROM txn WHERE state IN (\(states)) ORDER BY created_at").map(Self.record) }
    }

    /// Book-keeping of what may follow what. Reversal and advice paths may be re-entered after a restart.
    static func allowed(from: TransactionState, to: TransactionState) -> Bool {
        switch (from, to) {
        case (.created, .cardRead), (.created, .cancelled), (.created, .failed), (.created, .declined), (.created, .approvedOffline): return true
        case (.cardRead, .requestPersisted), (.cardRead, .declined), (.cardRead, .approvedOffline), (.cardRead, .failed), (.cardRead, .cancelled): return true
        case (.requestPersisted, .sent), (.requestPersisted, .reversalQueued), (.requestPersisted, .failed): return true
        case (.sent, .answered), (.sent, .timedOut), (.sent, .reversalQueued): return true
        case (.timedOut, .reversalQueued), (.answered, .reversalQueued): return true
        case (.reversalQueued, .reversed): return true
        case (.approvedOffline, .adviceQueued), (.adviceQueued, .adviceDelivered): return true
        default: return from == to
        }
    }

    // MARK: Store-and-forward

    /// Queues a reversal or advice (sealed), FIFO. Returns the entry id.
    @discardableResult
    public func enqueue(_ kind: SAFKind, transactionID: String, mti: String, message: [UInt8], expiresAfter: TimeInterval = 86_400,
                        now: Date = Date()) throws -> Int64 {
        try db.write { db in
            try db.execute(sql: """
                INSERT INTO saf (txn_id, kind, mti, message, attempts, next_attempt_at, expires_at, status, created_at)
                VALUES (?, ?, ?, NULL, 0, ?, ?, ?, ?)
                """, arguments: [transactionID, kind.rawValue, mti, Self.sqlDate(now), Self.sqlDate(now.addingTimeInterval(expiresAfter)), SAFStatus.pending.rawValue, Self.sqlDate(now)])
            let id = db.lastInsertedRowID
            try db.execute(sql: "UPDATE saf SET message = ? WHERE id = ?", arguments: [Data(try key.seal(message, context: "saf:\(id)")), id])
            let next: TransactionState = kind == .reversal ? .reversalQueued : .adviceQueued
            if let row = try Row.fetchOne(db, sql: "SELECT state FROM txn WHERE id = ?", arguments: [transactionID]),
               let from = TransactionState(rawValue: row["state"]), Self.allowed(from: from, to: next) {
                try db.execute(sql: "UPDATE txn SET state = ?, updated_at = ? WHERE id = ?", arguments: [next.rawValue, Self.sqlDate(now), transactionID])
            }
            return id
        }
    }

    /// The head of the queue: the oldest pending entry, whether or not it is due (strict FIFO: nothing overtakes it).
    public func safHead() throws -> SAFEntry? {
        try db.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM saf WHERE status = ? ORDER BY id LIMIT 1", arguments: [SAFStatus.pending.rawValue])
        }.map(entry)
    }

    public func safDepth() throws -> Int {
        try db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM saf WHERE status = ?", arguments: [SAFStatus.pending.rawValue]) ?? 0 }
    }

    public func quarantined() throws -> [SAFEntry] {
        try db.read { db in try Row.fetchAll(db, sql: "SELECT * FROM saf WHERE status = ? ORDER BY id", arguments: [SAFStatus.quarantined.rawValue]) }.map(entry)
    }

    /// A delivery attempt failed: count it (when it was a real answer) and schedule the next one.
    public func safAttemptFailed(_ id: Int64, error: String, counted: Bool, retryAt: Date) throws {
        try db.write { db in
            try db.execute(sql: "UPDATE saf SET attempts = attempts + ?, tries = tries + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                           arguments: [counted ? 1 : 0, error, Self.sqlDate(retryAt), id])
        }
    }

    /// Delivered and acknowledged: the card data is deleted, the transaction moves on.
    public func safDelivered(_ id: Int64, now: Date = Date()) throws {
        try db.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT txn_id, kind FROM saf WHERE id = ?", arguments: [id]) else { return }
            try db.execute(sql: "UPDATE saf SET status = ?, message = NULL WHERE id = ?", arguments: [SAFStatus.done.rawValue, id])
            let txn: String = row["txn_id"]
            let kind = SAFKind(rawValue: row["kind"]) ?? .reversal
            try db.execute(sql: "UPDATE txn SET state = ?, request = NULL, updated_at = ? WHERE id = ?",
                           arguments: [kind == .reversal ? TransactionState.reversed.rawValue : TransactionState.adviceDelivered.rawValue, Self.sqlDate(now), txn])
        }
    }

    /// A poison message (expired or rejected too often) leaves the queue so it cannot block the rest; it stays
    /// visible for an operator.
    public func safQuarantine(_ id: Int64, reason: String) throws {
        try db.write { db in
            try db.execute(sql: "UPDATE saf SET status = ?, last_error = ? WHERE id = ?", arguments: [SAFStatus.quarantined.rawValue, reason, id])
        }
    }

    private func entry(_ row: Row) throws -> SAFEntry {
        let id: Int64 = row["id"]
        let sealed: Data? = row["message"]
        return SAFEntry(id: id, transactionID: row["txn_id"], kind: SAFKind(rawValue: row["kind"]) ?? .reversal, mti: row["mti"],
                        message: try sealed.map { try key.open(Array($0), context: "saf:\(id)") } ?? [],
                        attempts: row["attempts"], tries: row["tries"], nextAttemptAt: Self.date(row, "next_attempt_at"), expiresAt: Self.date(row, "expires_at"),
                        status: SAFStatus(rawValue: row["status"]) ?? .pending, lastError: row["last_error"])
    }

    // MARK: Counters

    /// The next STAN (000001…999999, rolling), persisted before it is returned.
    public func nextSTAN() throws -> String {
        try db.write { db in
            let current = try Int.fetchOne(db, sql: "SELECT value FROM counter WHERE name = 'stan'") ?? 0
            let next = current >= 999_999 ? 1 : current + 1
            try db.execute(sql: "INSERT INTO counter (name, value) VALUES ('stan', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                           arguments: [next])
            let s = String(next)
            return String(repeating: "0", count: 6 - s.count) + s
        }
    }

    // MARK: Audit and retention

    public func audit(actor: String, event: String, details: String? = nil, now: Date = Date()) throws {
        try db.write { db in
            try db.execute(sql: "INSERT INTO audit (at, actor, event, details) VALUES (?, ?, ?, ?)", arguments: [Self.sqlDate(now), actor, event, details])
        }
    }

    public func auditLog(limit: Int = 100) throws -> [(at: Date, actor: String, event: String, details: String?)] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY id DESC LIMIT ?", arguments: [limit]).map { ($0["at"], $0["actor"], $0["event"], $0["details"]) }
        }
    }

    /// Deletes stored requests of settled transactions older than `retention` (card data is kept no longer than
    /// reversals and advices need it).
    @discardableResult
    public func purgeCardData(olderThan retention: TimeInterval, now: Date = Date()) throws -> Int {
        let settled = [TransactionState.answered, .reversed, .adviceDelivered, .declined, .failed, .cancelled].map { "'\($0.rawValue)'" }.joined(separator: ",")
        return try db.write { db in
            try db.execute(sql: "UPDATE txn SET request = NULL WHERE request IS NOT NULL AND state IN (\(settled)) AND updated_at < ?",
                           arguments: [Self.sqlDate(now.addingTimeInterval(-retention))])
            return db.changesCount
        }
    }

    /// SQLite's own integrity check ("ok" when sound), for diagnostics.
    public func integrityCheck() throws -> String {
        try db.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "unknown" }
    }

    static func record(_ r: Row) -> TransactionRecord {
        TransactionRecord(id: r["id"], idempotencyKey: r["idempotency_key"], state: TransactionState(rawValue: r["state"]) ?? .failed,
                          amount: r["amount"], currency: r["currency"], maskedPAN: r["masked_pan"], mti: r["mti"], stan: r["stan"],
                          rrn: r["rrn"], responseCode: r["response_code"], approvalCode: r["approval_code"],
                          createdAt: date(r, "created_at"), updatedAt: date(r, "updated_at"), status: r["status"], reason: r["reason"],
                          reader: r["reader"], scheme: r["scheme"], voided: r["voided"] ?? false)
    }
}

/// A read-only look at a journal without its key (for `tapctl diagnose`): SQLite's integrity check and the
/// store-and-forward queue's state. Nothing sealed is opened.
public enum JournalInspection {
    public struct Report: Sendable {
        public let integrity: String
        public let pending: Int
        public let quarantined: Int
        public let oldestPending: Date?
    }

    public static func inspect(path: String) throws -> Report {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        let db = try DatabaseQueue(path: path, configuration: config)
        return try db.read { db in
            let integrity = try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "unknown"
            let hasSAF = try db.tableExists("saf")
            let pending = hasSAF ? try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM saf WHERE status = 'pending'") ?? 0 : 0
            let quarantined = hasSAF ? try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM saf WHERE status = 'quarantined'") ?? 0 : 0
            let oldest = hasSAF ? try Date.fetchOne(db, sql: "SELECT MIN(created_at) FROM saf WHERE status = 'pending'") : nil
            return Report(integrity: integrity, pending: pending, quarantined: quarantined, oldestPending: oldest)
        }
    }
}
