// The journal: one SQLite database (WAL, synchronous FULL, secure_delete) that records every step that moves money
// before it is acted on, so a crash at any point leaves enough on disk to finish the job on restart (send the
// reversal, deliver the advice, answer the POS). Card data inside stored messages is sealed with AES-256-GCM and
// deleted once nothing needs it. The journal stores; it decides nothing: TapdCore's SaleBook is the only writer of
// a sale's rows and says which transition to make (SaleRecords.swift, FollowUps.swift).
// Every call runs on GRDB's own dispatch queues and suspends the caller, so SQLite never blocks Swift's
// cooperative pool.
import Foundation
import GRDB

/// One error shape for the journal: what went wrong, with the underlying cause kept.
public enum JournalError: Error, CustomStringConvertible {
    /// What the step needs (a sale, a follow-up, a backup's new file) is not there or not in the right state; the
    /// text names it.
    case notFound(String)
    /// The sale's state machine does not allow this move (sale id, current state, requested state).
    case invalidTransition(String, from: SaleState, to: SaleState)
    /// A second open follow-up of the same kind for a sale (the journal allows one per sale and kind).
    case followUpExists(String, FollowUpKind)
    /// An open follow-up that may have reached the acquirer cannot be withdrawn (a void behind a capture in flight).
    case followUpInFlight(String, FollowUpKind)
    /// A sealed value that does not open (wrong key, damaged row).
    case sealedDataUnreadable(String, cause: any Error)
    /// SQLite refused (disk full, read-only, I/O): the step did not happen.
    case storage(any Error)
    /// The configured key is not the one that sealed this journal.
    case wrongKey(journalKeyID: String, configuredKeyID: String)
    /// The journal key cannot be loaded (missing, too open, wrong size, refused by the key file rule).
    case key(JournalKey.KeyError)
    /// A refund of more than is left of its original sale (the sale's id, what is left in minor units).
    case refundExceedsOriginal(String, left: Int64)
    /// The transaction named as a refund's original cannot be refunded (its id, why).
    case notRefundable(String, String)
    /// A reversal or capture that would move money twice: a void of a sale that refunds (or a batch) already took,
    /// a completion beside a release, a second completion (the sale's id, why).
    case moneyConflict(String, String)

    /// The error in words, for logs and the operator.
    public var description: String {
        switch self {
        case .notFound(let id): "no transaction \(id)"
        case .invalidTransition(let id, let a, let b): "transaction \(id): \(a.rawValue) → \(b.rawValue) is not allowed"
        case .followUpExists(let id, let k): "transaction \(id) already has an open \(k.rawValue)"
        case .followUpInFlight(let id, let k):
            "the \(k.rawValue) of transaction \(id) may have reached the acquirer; it cannot be withdrawn"
        case .sealedDataUnreadable(let what, let cause): "\(what) cannot be opened: \(cause)"
        case .storage(let e): "the journal cannot be written: \(Journal.plain(e))"
        case .key(let e): e.description
        case .refundExceedsOriginal(let id, let left):
            "the refund is more than is left to refund of \(id) (\(left) minor units)"
        case .notRefundable(let id, let why): "transaction \(id) cannot be refunded: \(why)"
        case .moneyConflict(let id, let why): "transaction \(id): \(why)"
        case .wrongKey(let j, let c):
            "the journal was sealed with key \(j), but the configured key is \(c): install the journal's key (or rotate with `tapctl journal rekey`)"
        }
    }
}

/// The terminal's journal: sales, the store-and-forward queue, counters and the audit log in one
/// SQLite database, with card data sealed.
public final class Journal: Sendable {
    let db: DatabasePool
    let key: JournalKey
    /// The path of the journal's database file.
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
            // Deleted card data is overwritten, not left in free pages (PCI DSS 3.2).
            try db.execute(sql: "PRAGMA secure_delete = ON")
            // No checkpoint inside a commit: SQLite's automatic one (every 1000 pages) would land on whichever write
            // crosses the mark — the online request's, on the way to the wire. tapd checkpoints between sales
            // (`checkpoint()`).
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
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
        try Self.checkKey(db, key)
        // Best effort: format-1 values still open, so a full disk here must not keep tapd (and its owed reversals)
        // from starting; the next open tries again.
        _ = try? Self.upgradeSealedFormat(db, key)
    }

    /// A storage error in words, without SQLite's statement dump.
    static func plain(_ e: any Error) -> String {
        if let d = e as? DatabaseError {
            switch d.resultCode {
            case .SQLITE_FULL: return "the disk is full"
            case .SQLITE_READONLY: return "the journal is read-only"
            case .SQLITE_IOERR: return "an I/O error on the journal's disk"
            case .SQLITE_BUSY, .SQLITE_LOCKED: return "the journal is locked by another process"
            case .SQLITE_CORRUPT, .SQLITE_NOTADB: return "the journal file is damaged"
            default: return d.message ?? "SQLite error \(d.resultCode.rawValue)"
            }
        }
        return "\(e)"
    }

    /// Runs one journal transaction on GRDB's writer queue; SQLite's refusals become `JournalError.storage`.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await db.write(body) } catch let e as JournalError { throw e } catch {
            throw JournalError.storage(error)
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await db.read(body) } catch let e as JournalError { throw e } catch {
            throw JournalError.storage(error)
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

    // MARK: Counters

    /// The next STAN (000001…999999, rolling), persisted before it is returned.
    public func nextSTAN() async throws -> String {
        try await write { db in try Self.nextSTAN(db) }
    }

    static func nextSTAN(_ db: Database) throws -> String {
        let current = try Int.fetchOne(db.cachedStatement(sql: "SELECT value FROM counter WHERE name = 'stan'")) ?? 0
        let next = current >= 999_999 ? 1 : current + 1
        try db.cachedStatement(
            sql:
                "INSERT INTO counter (name, value) VALUES ('stan', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value"
        ).execute(arguments: [next])
        let s = String(next)
        return String(repeating: "0", count: 6 - s.count) + s
    }

    /// Copies the write-ahead log into the database file (a passive checkpoint: it waits for no reader). tapd calls
    /// it after each sale's end, after a store-and-forward drain that delivered something and on the store-and-forward
    /// tick, so the log stays small without a checkpoint ever running inside a sale's own commit.
    public func checkpoint() async throws {
        do { try await db.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) } } catch {
            throw JournalError.storage(error)
        }
    }

    // MARK: Audit

    /// Appends a line to the audit log: who (`actor`) did what (`event`), with optional details.
    public func audit(actor: String, event: String, details: String? = nil, now: Date = Date()) async throws {
        try await write { db in try Self.audit(db, actor: actor, event: event, details: details, now: now) }
    }

    static func audit(_ db: Database, actor: String, event: String, details: String?, now: Date) throws {
        try db.execute(
            sql: "INSERT INTO audit (at, actor, event, details) VALUES (?, ?, ?, ?)",
            arguments: [sqlDate(now), actor, event, details])
    }

    /// One line of the audit log.
    public struct AuditEntry: Sendable, Equatable {
        /// When it happened.
        public let at: Date
        /// Who did it (e.g. "tapctl", "acquirer", an operator).
        public let actor: String
        /// What happened (e.g. "reversal queued").
        public let event: String
        /// More about it; nil when none were given.
        public let details: String?
    }

    /// The audit log, newest first, at most `limit` lines.
    public func auditLog(limit: Int = 100) async throws -> [AuditEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
                AuditEntry(at: Self.date($0, "at"), actor: $0["actor"], event: $0["event"], details: $0["details"])
            }
        }
    }

    /// SQLite's own integrity check ("ok" when sound), for diagnostics.
    public func integrityCheck() async throws -> String {
        try await read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "unknown" }
    }
}

/// A read-only look at a journal without its key (for `tapctl diagnose`): SQLite's integrity check and the
/// store-and-forward queue's state. Nothing sealed is opened.
public enum JournalInspection {
    /// What `inspect(path:)` found.
    public struct Report: Sendable {
        /// SQLite's integrity check result ("ok" when sound).
        public let integrity: String
        /// How many follow-ups wait for delivery.
        public let pending: Int
        /// How many follow-ups are quarantined, waiting for an operator.
        public let quarantined: Int
        /// When the oldest pending follow-up was queued; nil when none is pending.
        public let oldestPending: Date?
        /// Why each quarantined message left the queue (newest first, at most 10).
        public let quarantineReasons: [String]
    }

    /// Opens the journal at `path` read-only and reports on it; throws when it cannot be opened or read.
    public static func inspect(path: String) throws -> Report {
        let db = try Journal.openReadOnly(path, busyTimeout: 5)
        return try db.read { db in
            let integrity = try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "unknown"
            let hasSAF = try db.tableExists("saf")
            let pending =
                hasSAF ? try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM saf WHERE status = 'pending'") ?? 0 : 0
            let quarantined =
                hasSAF ? try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM saf WHERE status = 'quarantined'") ?? 0 : 0
            let oldest =
                hasSAF
                ? try String.fetchOne(db, sql: "SELECT MIN(created_at) FROM saf WHERE status = 'pending'").flatMap(
                    UTCTime.parseSQL) : nil
            let reasons =
                hasSAF
                ? try Row.fetchAll(
                    db,
                    sql: """
                        SELECT id, kind, mti, last_error FROM saf WHERE status = 'quarantined' ORDER BY id DESC LIMIT 10
                        """
                ).map { row -> String in
                    let id: Int64 = row["id"]
                    let kind: String = row["kind"]
                    let mti: String = row["mti"]
                    let why: String? = row["last_error"]
                    return "#\(id) \(kind) \(mti): \(why ?? "no reason recorded")"
                } : []
            return Report(
                integrity: integrity, pending: pending, quarantined: quarantined, oldestPending: oldest,
                quarantineReasons: reasons)
        }
    }
}
