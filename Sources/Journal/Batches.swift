// Batches: the end of the merchant's day as the journal keeps it. Closing a batch takes every transaction whose money
// is settled with the acquirer (final, nothing of it still queued) into a new numbered batch and counts its totals in
// SQL, in one journal transaction; the reconciliation (0500), the batch upload (0320) and their answers are written
// step by step, so a close interrupted anywhere resumes where it stood and settles each transaction exactly once.
//   closing (0500) → closed (00) | uploading (95: one 0320 per standing transaction) → reconciling (0500 again)
//     → closed (00) | out_of_balance (anything else: the acquirer and tapd disagree; an operator takes it up)

import Foundation
import GRDB

/// Where a batch's close stands.
public enum BatchState: String, Codable, Sendable {
    /// Totals counted; the reconciliation request (0500) is owed.
    case closing
    /// The acquirer found it out of balance: the batch upload (0320 per transaction) is under way.
    case uploading
    /// The upload is done; the second reconciliation request (0500) is owed.
    case reconciling
    /// The acquirer agreed: the batch is settled.
    case closed
    /// Still out of balance after the upload: settled by tapd's totals, to be taken up with the acquirer.
    case outOfBalance = "out_of_balance"

    /// Whether the close is still under way (a message is owed).
    public var inProgress: Bool { self == .closing || self == .uploading || self == .reconciling }
}

/// A batch's totals as ISO 8583:1987 counts them (DE 74–77 and 86–89): sales and completions are debits (the
/// cardholder is debited), refunds credits; a transaction voided after its approval counts in its kind's reversals.
public struct BatchTotals: Sendable, Equatable, Codable {
    /// DE 76: debits (sales, completions).
    public var debits: Int64 = 0
    /// DE 88: the debits' amount in minor units.
    public var debitsAmount: Int64 = 0
    /// DE 77: reversals of debits (voids).
    public var debitReversals: Int64 = 0
    /// DE 89: the debit reversals' amount.
    public var debitReversalsAmount: Int64 = 0
    /// DE 74: credits (refunds).
    public var credits: Int64 = 0
    /// DE 86: the credits' amount.
    public var creditsAmount: Int64 = 0
    /// DE 75: reversals of credits (voided refunds).
    public var creditReversals: Int64 = 0
    /// DE 87: the credit reversals' amount.
    public var creditReversalsAmount: Int64 = 0

    /// Zero totals.
    public init() {}

    /// The totals in a row whose columns are named as the batch table's (the totals query names its results so).
    init(_ r: Row) {
        debits = r["debits"]
        debitsAmount = r["debits_amount"]
        debitReversals = r["debit_reversals"]
        debitReversalsAmount = r["debit_reversals_amount"]
        credits = r["credits"]
        creditsAmount = r["credits_amount"]
        creditReversals = r["credit_reversals"]
        creditReversalsAmount = r["credit_reversals_amount"]
    }

    /// DE 97: what the batch moves, debits less credits after reversals, in minor units (negative when refunds
    /// outweigh sales).
    public var net: Int64 { (debitsAmount - debitReversalsAmount) - (creditsAmount - creditReversalsAmount) }

    enum CodingKeys: String, CodingKey {
        case debits
        case debitsAmount = "debits_amount"
        case debitReversals = "debit_reversals"
        case debitReversalsAmount = "debit_reversals_amount"
        case credits
        case creditsAmount = "credits_amount"
        case creditReversals = "credit_reversals"
        case creditReversalsAmount = "credit_reversals_amount"
    }
}

/// How a batch's totals treat voids: as the acquirer's profile expects them.
public enum BatchReversals: String, Codable, Sendable {
    /// A voided transaction counts in its kind and again in its kind's reversals (DE 75/77, 87/89).
    case separate
    /// A voided transaction is left out of the totals altogether.
    case netted
}

/// One batch as the journal holds it.
public struct BatchRecord: Sendable, Equatable {
    /// The batch number (1–999999), sent in the profile's batch field.
    public var id: Int
    /// Where its close stands.
    public var state: BatchState
    /// When its close began (the cut-off: transactions settled before it are in it).
    public var openedAt: Date
    /// When the acquirer agreed (or the close ended out of balance); nil while it is under way.
    public var closedAt: Date?
    /// Its totals, counted when the close began.
    public var totals: BatchTotals
    /// The STAN of the message now owed (the 0500 or the current 0320), once it has one.
    public var stan: String?
    /// Whether that message may have reached the acquirer (the next send is a repeat: 0501, 0321).
    public var transmitted: Bool
    /// The acquirer's last answer (DE 39) to a reconciliation request.
    public var responseCode: String?
    /// Upload messages (0320) the acquirer has accepted.
    public var uploaded: Int
    /// Tries that got no usable answer.
    public var attempts: Int
    /// Why the last try failed.
    public var lastError: String?
}

extension Journal {
    /// The batch whose close is under way, if any.
    public func batchInProgress() async throws -> BatchRecord? {
        try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM batch WHERE state IN ('closing', 'uploading', 'reconciling') ORDER BY rowid"
            ).map(Self.batch)
        }
    }

    /// The batch with this number, or nil.
    public func batch(_ id: Int) async throws -> BatchRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM batch WHERE id = ?", arguments: [id]).map(Self.batch)
        }
    }

    /// The most recent batches, newest first.
    public func batches(limit: Int = 20) async throws -> [BatchRecord] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM batch ORDER BY rowid DESC LIMIT ?", arguments: [max(1, min(limit, 200))]
            )
            .map(Self.batch)
        }
    }

    /// The condition of a transaction whose money moved at the acquirer: an approved 0200 (sale or refund, voided or
    /// not), or a 0220 the acquirer accepted (an offline approval's advice, a completion).
    static let financial = """
        (CASE WHEN txn.mti = '0200' THEN txn.state IN ('approved', 'partially_approved', 'voided')
         ELSE EXISTS (SELECT 1 FROM saf s WHERE s.txn_id = txn.id AND s.mti = '0220' AND s.kind IN ('advice', 'capture') AND s.status = 'delivered') END)
        """

    /// Starts closing a batch: every transaction that has ended with nothing of it still queued (and is not an open
    /// pre-authorisation) joins a new batch, whose totals are counted in SQL — one journal transaction. Throws
    /// `notFound` when a close is already under way (finish that one first).
    public func startBatch(reversals: BatchReversals, now: Date = Date()) async throws -> BatchRecord {
        try await write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM batch WHERE state IN ('closing', 'uploading', 'reconciling')")
                != nil
            {
                throw JournalError.notFound("a new batch: the close of the last one is still under way")
            }
            let current = try Int.fetchOne(db, sql: "SELECT value FROM counter WHERE name = 'batch'") ?? 0
            var number = current >= 999_999 ? 1 : current + 1
            // A number still in the journal (after a wrap) is skipped, never reused.
            while try Int.fetchOne(db, sql: "SELECT 1 FROM batch WHERE id = ?", arguments: [number]) != nil {
                number = number >= 999_999 ? 1 : number + 1
            }
            try db.execute(
                sql:
                    "INSERT INTO counter (name, value) VALUES ('batch', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                arguments: [number])
            let final = SaleState.allCases.filter(\.isFinal).map { "'\($0.rawValue)'" }.joined(separator: ",")
            try db.execute(
                sql: """
                    UPDATE txn SET batch_id = ? WHERE batch_id IS NULL AND state IN (\(final)) AND created_at <= ?
                    AND NOT (kind = 'preauth' AND state IN ('approved', 'partially_approved'))
                    AND NOT EXISTS (SELECT 1 FROM saf s WHERE s.txn_id = txn.id AND s.status IN ('pending', 'quarantined'))
                    """, arguments: [number, Self.sqlDate(now)])
            let totals = try Self.totals(db, batch: number, reversals: reversals)
            try db.execute(
                sql: """
                    INSERT INTO batch (id, state, opened_at, debits, debits_amount, debit_reversals, debit_reversals_amount,
                      credits, credits_amount, credit_reversals, credit_reversals_amount)
                    VALUES (?, 'closing', ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    number, Self.sqlDate(now), totals.debits, totals.debitsAmount, totals.debitReversals,
                    totals.debitReversalsAmount, totals.credits, totals.creditsAmount, totals.creditReversals,
                    totals.creditReversalsAmount,
                ])
            try Self.audit(
                db, actor: "settlement", event: "batch close started",
                details: "batch \(number): \(totals.debits) debits, \(totals.credits) credits, net \(totals.net)",
                now: now)
            return try Self.batch(try Row.fetchOne(db, sql: "SELECT * FROM batch WHERE id = ?", arguments: [number])!)
        }
    }

    /// The totals of `batch`, counted in SQL.
    static func totals(_ db: Database, batch: Int, reversals: BatchReversals) throws -> BatchTotals {
        let voidedCounts = reversals == .separate ? "1" : "0"
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT
                  COALESCE(SUM(CASE WHEN f AND kind != 'refund' AND (voided = 0 OR \(voidedCounts)) THEN 1 ELSE 0 END), 0) AS debits,
                  COALESCE(SUM(CASE WHEN f AND kind != 'refund' AND (voided = 0 OR \(voidedCounts)) THEN base ELSE 0 END), 0) AS debits_amount,
                  COALESCE(SUM(CASE WHEN f AND kind != 'refund' AND voided AND \(voidedCounts) THEN 1 ELSE 0 END), 0) AS debit_reversals,
                  COALESCE(SUM(CASE WHEN f AND kind != 'refund' AND voided AND \(voidedCounts) THEN base ELSE 0 END), 0) AS debit_reversals_amount,
                  COALESCE(SUM(CASE WHEN f AND kind = 'refund' AND (voided = 0 OR \(voidedCounts)) THEN 1 ELSE 0 END), 0) AS credits,
                  COALESCE(SUM(CASE WHEN f AND kind = 'refund' AND (voided = 0 OR \(voidedCounts)) THEN base ELSE 0 END), 0) AS credits_amount,
                  COALESCE(SUM(CASE WHEN f AND kind = 'refund' AND voided AND \(voidedCounts) THEN 1 ELSE 0 END), 0) AS credit_reversals,
                  COALESCE(SUM(CASE WHEN f AND kind = 'refund' AND voided AND \(voidedCounts) THEN base ELSE 0 END), 0) AS credit_reversals_amount
                FROM (SELECT kind, state = 'voided' AS voided, COALESCE(completed_amount, approved_amount, amount) AS base,
                      \(financial) AS f FROM txn WHERE batch_id = ?)
                """, arguments: [batch])!
        return BatchTotals(row)
    }

    /// The transactions of `batch` whose money stands at the acquirer (moved, and not voided since), in the order
    /// they were made: what the batch upload (0320) sends, one message each. A voided transaction moves no money and
    /// is not uploaded; the acquirer rebuilds the batch's standing figures from the upload.
    public func batchUploadTransactions(_ batch: Int) async throws -> [SaleRecord] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT * FROM txn WHERE batch_id = ? AND state != 'voided' AND \(Self.financial) ORDER BY created_at, id",
                arguments: [batch]
            ).map { try Self.record(db, $0) }
        }
    }

    /// The message now owed for the batch may leave: its STAN and "transmitted" recorded before its first byte.
    public func batchTransmitting(_ id: Int, stan: String) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE batch SET stan = ?, transmitted = 1 WHERE id = ?", arguments: [stan, id])
        }
    }

    /// A try of the batch's current message that got no usable answer (it stays owed). `answered`: the acquirer did
    /// answer it (a refusal, a system error): the next try is a new message with a new STAN, not a repeat of one the
    /// acquirer has already answered. Returns the tries so far.
    @discardableResult
    public func batchTryFailed(_ id: Int, error: String, answered: Bool = false) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE batch SET attempts = attempts + 1, last_error = ?,
                    stan = CASE WHEN ? THEN NULL ELSE stan END, transmitted = CASE WHEN ? THEN 0 ELSE transmitted END
                    WHERE id = ?
                    """, arguments: [error, answered, answered, id])
            return try Int.fetchOne(db, sql: "SELECT attempts FROM batch WHERE id = ?", arguments: [id]) ?? 0
        }
    }

    /// The acquirer's answer to a reconciliation request, and the batch's next state, in one transaction.
    @discardableResult
    public func batchReconciled(_ id: Int, responseCode: String, next: BatchState, now: Date = Date()) async throws
        -> BatchRecord
    {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE batch SET state = ?, response_code = ?, stan = NULL, transmitted = 0, last_error = NULL,
                    closed_at = CASE WHEN ? IN ('closed', 'out_of_balance') THEN ? ELSE closed_at END WHERE id = ?
                    """, arguments: [next.rawValue, responseCode, next.rawValue, Self.sqlDate(now), id])
            try Self.audit(
                db, actor: "settlement", event: "batch \(next.rawValue)",
                details: "batch \(id), response \(responseCode)",
                now: now)
            return try Self.batch(try Row.fetchOne(db, sql: "SELECT * FROM batch WHERE id = ?", arguments: [id])!)
        }
    }

    /// One upload message accepted: the count moves on (and the batch to `reconciling` after the last one).
    @discardableResult
    public func batchUploaded(_ id: Int, total: Int) async throws -> BatchRecord {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE batch SET uploaded = uploaded + 1, stan = NULL, transmitted = 0, last_error = NULL,
                    state = CASE WHEN uploaded + 1 >= ? THEN 'reconciling' ELSE state END WHERE id = ?
                    """, arguments: [total, id])
            return try Self.batch(try Row.fetchOne(db, sql: "SELECT * FROM batch WHERE id = ?", arguments: [id])!)
        }
    }

    static func batch(_ r: Row) -> BatchRecord {
        let t = BatchTotals(r)
        let closed: String? = r["closed_at"]
        return BatchRecord(
            id: r["id"], state: BatchState(rawValue: r["state"]) ?? .outOfBalance, openedAt: date(r, "opened_at"),
            closedAt: closed.flatMap(UTCTime.parseSQL), totals: t, stan: r["stan"], transmitted: r["transmitted"],
            responseCode: r["response_code"], uploaded: r["uploaded"], attempts: r["attempts"],
            lastError: r["last_error"])
    }
}

/// One group of a report: the transactions of one scheme, kind and state in the period, counted in SQL.
public struct ReportGroup: Sendable, Equatable {
    /// The card scheme ("visa", …); nil when no card was read.
    public var scheme: String?
    /// Sale, refund or pre-authorisation.
    public var kind: TransactionKind
    /// Their state.
    public var state: SaleState
    /// How many.
    public var count: Int64
    /// Their amount in minor units (the approved, or completed, amount where it differs from the asked one).
    public var amount: Int64
    /// The sum of the measured tap-to-outcome times, in milliseconds.
    public var tapMillisecondsSum: Int64
    /// How many had their tap measured.
    public var tapMeasured: Int64
    /// The sum of the online times, in milliseconds.
    public var onlineMillisecondsSum: Int64
    /// How many went online (and were timed).
    public var onlineMeasured: Int64
    /// Offline approvals' advices accepted by the acquirer.
    public var advicesDelivered: Int64
    /// Offline approvals' advices still owed (pending or quarantined).
    public var advicesOwed: Int64
}

extension Journal {
    /// The transactions made in [`from`, `to`) — or those of batch `batch` — grouped by scheme, kind and state, with
    /// their counts, amounts and times summed in SQL (a page of a million-sale journal reads only its period).
    public func report(from: Date? = nil, to: Date? = nil, batch: Int? = nil) async throws -> [ReportGroup] {
        try await read { db in
            var conditions: [String] = []
            var arguments: [any DatabaseValueConvertible] = []
            if let batch {
                conditions.append("txn.batch_id = ?")
                arguments.append(batch)
            }
            if let from {
                conditions.append("txn.created_at >= ?")
                arguments.append(Self.sqlDate(from))
            }
            if let to {
                conditions.append("txn.created_at < ?")
                arguments.append(Self.sqlDate(to))
            }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            // The sums from the period's index alone (it covers every column they read)…
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT scheme, kind, state, COUNT(*) AS n,
                      SUM(COALESCE(completed_amount, approved_amount, amount)) AS amount,
                      COALESCE(SUM(tap_ms), 0) AS tap_sum, COUNT(tap_ms) AS tap_n,
                      COALESCE(SUM(online_ms), 0) AS online_sum, COUNT(online_ms) AS online_n
                    FROM txn \(whereClause) GROUP BY scheme, kind, state ORDER BY scheme, kind, state
                    """, arguments: StatementArguments(arguments))
            // …and the offline approvals' advices, from those rows alone (CROSS JOIN keeps the period outermost: SQLite
            // would otherwise walk every advice in the journal, and the unary + keeps it off the state index, which
            // lists every offline approval of every year).
            let offlineWhere = (conditions + ["+txn.state = 'approved_offline'"]).joined(separator: " AND ")
            var advices: [String: (done: Int64, owed: Int64)] = [:]
            for r in try Row.fetchAll(
                db,
                sql: """
                    SELECT txn.scheme AS scheme, txn.kind AS kind,
                      SUM(saf.status = 'delivered') AS done, SUM(saf.status IN ('pending', 'quarantined')) AS owed
                    FROM txn CROSS JOIN saf ON saf.txn_id = txn.id AND saf.kind = 'advice'
                    WHERE \(offlineWhere) GROUP BY txn.scheme, txn.kind
                    """, arguments: StatementArguments(arguments))
            {
                let key = "\(r["scheme"] as String? ?? "")/\(r["kind"] as String? ?? "")"
                advices[key] = (r["done"] ?? 0, r["owed"] ?? 0)
            }
            return rows.map { r in
                let state = SaleState(rawValue: r["state"]) ?? .failed
                let key = "\(r["scheme"] as String? ?? "")/\(r["kind"] as String? ?? "")"
                let a: (done: Int64, owed: Int64) = state == .approvedOffline ? advices[key] ?? (0, 0) : (0, 0)
                return ReportGroup(
                    scheme: r["scheme"], kind: TransactionKind(rawValue: r["kind"]) ?? .sale, state: state,
                    count: r["n"], amount: r["amount"] ?? 0, tapMillisecondsSum: r["tap_sum"],
                    tapMeasured: r["tap_n"], onlineMillisecondsSum: r["online_sum"], onlineMeasured: r["online_n"],
                    advicesDelivered: a.done, advicesOwed: a.owed)
            }
        }
    }
}
