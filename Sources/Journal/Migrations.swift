// The journal's schema and its history. v1–v3 are as earlier versions wrote them; v4 gives each sale one state
// (the money's and the point of sale's, which used to be two columns written by two components) and turns the
// store-and-forward queue into follow-ups that know whether they may have left and how often they were refused.
import Foundation
import GRDB

extension Journal {
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
                t.column("request", .blob)  // sealed
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
                t.column("message", .blob)  // sealed; nulled when done
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
        m.registerMigration("v2") { db in
            try db.alter(table: "saf") { t in t.add(column: "tries", .integer).notNull().defaults(to: 0) }
        }
        m.registerMigration("v3") { db in
            try db.alter(table: "txn") { t in
                t.add(column: "status", .text)
                t.add(column: "reason", .text)
                t.add(column: "reader", .text)
                t.add(column: "scheme", .text)
                t.add(column: "voided", .boolean).notNull().defaults(to: false)
            }
        }
        m.registerMigration("v4", migrate: migrateToOneState)
        m.registerMigration("v5") { db in
            // The risk team's levers: acceptance frozen for a scope, and the exception file in force.
            try db.create(table: "risk_freeze") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("scope", .text).notNull()
                t.column("value", .text)
                t.column("label", .text)
                t.column("reason", .text).notNull()
                t.column("created_by", .text).notNull()
                t.column("created_at", .datetime).notNull()
                t.column("ends_at", .datetime)
                t.column("lifted_at", .datetime)
                t.column("lifted_by", .text)
            }
            try db.create(table: "risk_exception_file") { t in
                t.column("id", .integer).primaryKey()
                t.column("text", .text).notNull()
                t.column("loaded_by", .text).notNull()
                t.column("loaded_at", .datetime).notNull()
            }
        }
        m.registerMigration("v6") { db in
            // The merchant's day: what a transaction is (sale, refund, pre-authorisation), the sale a refund gives
            // money back from, and what a pre-authorisation's completion captured.
            try db.alter(table: "txn") { t in
                t.add(column: "kind", .text).notNull().defaults(to: "sale")
                t.add(column: "original_id", .text)
                t.add(column: "completed_amount", .integer)
            }
            try db.execute(sql: "CREATE INDEX txn_original ON txn(original_id) WHERE original_id IS NOT NULL")
            try db.execute(sql: "CREATE INDEX txn_kind_state ON txn(kind, state)")
        }
        m.registerMigration("v7") { db in
            // End of day: the batch each transaction was settled in, the batches themselves, and the times a report
            // averages. The history's and the follow-ups' lookups get their indexes (a journal of a million sales).
            try db.create(table: "batch") { t in
                t.column("id", .integer).primaryKey()  // the batch number
                t.column("state", .text).notNull()  // closing, uploading, reconciling, closed, out_of_balance
                t.column("opened_at", .datetime).notNull()
                t.column("closed_at", .datetime)
                t.column("debits", .integer).notNull()
                t.column("debits_amount", .integer).notNull()
                t.column("debit_reversals", .integer).notNull()
                t.column("debit_reversals_amount", .integer).notNull()
                t.column("credits", .integer).notNull()
                t.column("credits_amount", .integer).notNull()
                t.column("credit_reversals", .integer).notNull()
                t.column("credit_reversals_amount", .integer).notNull()
                t.column("stan", .text)
                t.column("transmitted", .boolean).notNull().defaults(to: false)
                t.column("response_code", .text)
                t.column("uploaded", .integer).notNull().defaults(to: 0)
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("last_error", .text)
            }
            try db.alter(table: "txn") { t in
                t.add(column: "batch_id", .integer)
                t.add(column: "tap_ms", .integer)
                t.add(column: "online_ms", .integer)
            }
            try db.execute(sql: "CREATE INDEX txn_batch ON txn(batch_id)")
            // The history's order and a report's period, covering what a report sums: a day's report reads this
            // index alone, never the wide rows (the kernel output is two thirds of a row).
            try db.execute(
                sql: """
                    CREATE INDEX txn_created ON txn(created_at, scheme, kind, state, amount, approved_amount,
                      completed_amount, tap_ms, online_ms)
                    """)
            try db.execute(sql: "CREATE INDEX saf_txn ON saf(txn_id)")
        }
        return m
    }

    /// v4: one state per sale; follow-ups with `transmitted`, `rejections` and the last answer; one open follow-up
    /// per sale and kind, enforced by a unique index.
    static func migrateToOneState(_ db: Database) throws {
        try db.alter(table: "txn") { t in
            t.add(column: "approved_amount", .integer)
            t.add(column: "cvm", .text)
            t.add(column: "message", .text)
            t.add(column: "kernel_output", .text)
        }
        try db.alter(table: "saf") { t in
            t.add(column: "transmitted", .boolean).notNull().defaults(to: false)
            t.add(column: "response_code", .text)
            t.add(column: "resolution", .text)
        }
        // The old pair (money state, POS status) → the one state.
        for row in try Row.fetchAll(db, sql: "SELECT id, state, status, response_code, voided FROM txn") {
            let id: String = row["id"]
            let old: String = row["state"]
            let status: String? = row["status"]
            let rc: String? = row["response_code"]
            let voided: Bool = row["voided"] ?? false
            let new: SaleState
            switch old {
            case "created", "card_read":
                new = status.flatMap(SaleState.init(rawValue:)).flatMap { $0.isFinal ? $0 : nil } ?? .failed
            case "request_persisted", "sent":
                new = .requestTransmitted  // unknown whether it left: recovery reverses it
            case "timed_out":
                // Earlier versions wrote timed_out and queued its reversal in two steps: without a reversal row,
                // recovery must still reverse it.
                let reversed =
                    try Bool.fetchOne(
                        db, sql: "SELECT EXISTS (SELECT 1 FROM saf WHERE txn_id = ? AND kind = 'reversal')",
                        arguments: [id]) ?? false
                new = reversed ? .unanswered : .requestTransmitted
            case "reversal_queued", "reversed":
                new = voided ? (old == "reversed" ? .voided : .approved) : .unanswered
            case "answered":
                new = rc.map { ["00", "08", "10", "11"].contains($0) } == true ? .approved : .declined
            case "approved_offline", "advice_queued", "advice_delivered":
                new = .approvedOffline
            case "declined", "failed", "cancelled":
                new = SaleState(rawValue: old) ?? .failed
            default:
                new = .failed
            }
            let final = status == "timed_out" && new == .cancelled ? SaleState.timedOut : new
            try db.execute(sql: "UPDATE txn SET state = ? WHERE id = ?", arguments: [final.rawValue, id])
        }
        try db.execute(sql: "UPDATE saf SET status = 'delivered' WHERE status = 'done'")
        // An open entry may have reached the acquirer (earlier versions did not record it): it goes again as a repeat,
        // which is always safe. Refusals are counted afresh under the new rules (earlier versions counted every try).
        try db.execute(sql: "UPDATE saf SET transmitted = 1 WHERE status IN ('pending', 'quarantined')")
        try db.execute(sql: "UPDATE saf SET attempts = 0 WHERE status = 'pending'")
        // Duplicates (two voids of one sale raced before): the oldest stays, later copies of the same message go.
        try db.execute(
            sql: """
                UPDATE saf SET status = 'withdrawn', message = NULL, resolution = 'duplicate of an older follow-up (journal v4)'
                WHERE status IN ('pending', 'quarantined') AND EXISTS (
                  SELECT 1 FROM saf o WHERE o.txn_id = saf.txn_id AND o.kind = saf.kind AND o.status IN ('pending', 'quarantined') AND o.id < saf.id)
                """)
        try db.execute(
            sql: "CREATE UNIQUE INDEX saf_one_open ON saf(txn_id, kind) WHERE status IN ('pending', 'quarantined')")
        try db.execute(sql: "CREATE INDEX saf_status ON saf(status, id)")
        try db.execute(sql: "CREATE INDEX txn_state ON txn(state)")
        try db.alter(table: "txn") { t in
            t.drop(column: "status")
            t.drop(column: "voided")
        }
        try db.alter(table: "saf") { t in
            t.drop(column: "expires_at")
            t.rename(column: "attempts", to: "rejections")
        }
    }
}
