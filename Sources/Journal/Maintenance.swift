// Keeping a journal a technician can trust: which key seals it (a key check value stored in the journal, so tapd
// refuses a wrong key at start instead of quarantining every stored message), rotating that key (every sealed row
// re-sealed in one transaction), an online backup (SQLite's backup API, consistent while tapd runs) and the
// verification of a copy (SQLite's integrity check, every sealed row opens, sales and follow-ups consistent).

import EMVCrypto
import Foundation
import GRDB

extension Journal {
    static let keyCheckPlaintext = Array("tapd journal key check v1".utf8)
    static let keyCheckContext = "meta:key_check"

    /// The key's short id: the first 4 bytes of SHA-256 of the key, in hex (safe to show and log).
    public var keyID: String { key.id }

    /// On open: the journal remembers which key seals it. A journal without a check value gets one; a check value
    /// that does not open with this key means the configured key is not the journal's.
    static func checkKey(_ db: DatabasePool, _ key: JournalKey) throws {
        try db.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL)")
            if let stored = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'key_check'") {
                guard (try? key.open(Array(stored), context: keyCheckContext)) == keyCheckPlaintext else {
                    let id =
                        try String.fetchOne(db, sql: "SELECT CAST(value AS TEXT) FROM meta WHERE name = 'key_id'")
                        ?? "unknown"
                    throw JournalError.wrongKey(journalKeyID: id, configuredKeyID: key.id)
                }
            } else {
                try writeKeyCheck(db, key)
            }
        }
    }

    static func writeKeyCheck(_ db: Database, _ key: JournalKey) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO meta (name, value) VALUES ('key_check', ?)",
            arguments: [Data(try key.seal(keyCheckPlaintext, context: keyCheckContext))])
        try db.execute(
            sql: "INSERT OR REPLACE INTO meta (name, value) VALUES ('key_id', CAST(? AS BLOB))", arguments: [key.id])
    }

    /// Re-seals every sealed row (stored requests, queued messages) and the key check under `newKey`, in one
    /// transaction: either all of the journal is under the new key or none of it. Run with tapd stopped, then
    /// install the new key file. Returns how many rows were re-sealed.
    @discardableResult
    public func rekey(to newKey: JournalKey) async throws -> Int {
        let old = key
        return try await write { db in
            let n = try Self.reseal(db, from: old, to: newKey, onlyOlderFormats: false)
            try Self.writeKeyCheck(db, newKey)
            try Self.audit(
                db, actor: "tapctl", event: "journal rekeyed", details: "key \(old.id) → \(newKey.id), \(n) rows",
                now: Date())
            return n
        }
    }

    /// On open for writing: values sealed in format 1 (no key id) are re-sealed in format 2 under the same key, in
    /// one transaction, so every sealed row names its key from then on. Returns how many rows were re-sealed.
    static func upgradeSealedFormat(_ db: DatabasePool, _ key: JournalKey) throws -> Int {
        // Once every row is in format 2 under this key, the journal says so: opening a journal of a million sales
        // does not read them all again at every start.
        let upgradedFor = try db.read { db in
            try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'sealed_format_2'")
        }
        if let upgradedFor, Array(upgradedFor) == Array(key.id.utf8) { return 0 }
        return try db.write { db in
            if let check = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'key_check'"),
                !key.sealedInCurrentFormat(Array(check))
            {
                try writeKeyCheck(db, key)
            }
            let n = try reseal(db, from: key, to: key, onlyOlderFormats: true)
            try db.execute(
                sql:
                    "INSERT INTO meta (name, value) VALUES ('sealed_format_2', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                arguments: [Data(key.id.utf8)])
            if n > 0 {
                try audit(
                    db, actor: "tapd", event: "sealed rows upgraded",
                    details: "\(n) rows now name key \(key.id) (format 2)", now: Date())
            }
            return n
        }
    }

    /// Re-seals stored requests and queued messages from `old` to `new` (all, or only values of an older format).
    static func reseal(_ db: Database, from old: JournalKey, to new: JournalKey, onlyOlderFormats: Bool) throws -> Int {
        var n = 0
        let hasMeta = try Bool.fetchOne(db, sql: "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'meta'") ?? false
        if hasMeta, let sealed = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'card_hash_key'"),
            !(onlyOlderFormats && old.sealedInCurrentFormat([UInt8](sealed)))
        {
            let secret = try old.open([UInt8](sealed), context: cardHashKeyContext)
            try db.execute(
                sql: "UPDATE meta SET value = ? WHERE name = 'card_hash_key'",
                arguments: [Data(try new.seal(secret, context: cardHashKeyContext))])
            n += 1
        }
        for row in try Row.fetchAll(db, sql: "SELECT id, request FROM txn WHERE request IS NOT NULL") {
            let id: String = row["id"]
            let sealed = [UInt8](row["request"] as Data)
            if onlyOlderFormats, old.sealedInCurrentFormat(sealed) { continue }
            let context = "txn:" + id
            let plain: [UInt8]
            do { plain = try old.open(sealed, context: context) } catch {
                // On open, a damaged row must not stop tapd: the sale's own path reports it. A rekey must not leave
                // a row behind under the old key: it stops.
                if onlyOlderFormats { continue }
                throw JournalError.sealedDataUnreadable("the stored request of \(id)", cause: error)
            }
            try db.execute(
                sql: "UPDATE txn SET request = ? WHERE id = ?",
                arguments: [Data(try new.seal(plain, context: context)), id])
            n += 1
        }
        for row in try Row.fetchAll(db, sql: "SELECT id, message FROM saf WHERE message IS NOT NULL") {
            let id: Int64 = row["id"]
            let sealed = [UInt8](row["message"] as Data)
            if onlyOlderFormats, old.sealedInCurrentFormat(sealed) { continue }
            let context = "saf:\(id)"
            // A message that no longer opens stays as it is (it is quarantined already or will be): re-sealing must
            // not fail the whole journal for one damaged row.
            guard let plain = try? old.open(sealed, context: context) else { continue }
            try db.execute(
                sql: "UPDATE saf SET message = ? WHERE id = ?",
                arguments: [Data(try new.seal(plain, context: context)), id])
            n += 1
        }
        return n
    }

    /// A read-only connection to a journal file (tapctl, diagnose), waiting up to `busyTimeout` seconds for a
    /// writer's lock.
    static func openReadOnly(_ path: String, busyTimeout: TimeInterval = 10) throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(busyTimeout)
        return try DatabaseQueue(path: path, configuration: config)
    }

    /// Writes a consistent copy of the journal at `path` (SQLite's online backup: safe while tapd runs). The copy
    /// is sealed like the journal; it is created with mode 0600 and never overwrites a file.
    public static func backup(journal source: String, to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw JournalError.notFound("\(path) exists already; name a new file")
        }
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw JournalError.notFound("\(path) cannot be created")
        }
        do {
            let from = try openReadOnly(source)
            let to = try DatabaseQueue(path: path)
            try from.backup(to: to)
            try to.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            try to.close()
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw JournalError.storage(error)
        }
    }

    /// What `tapctl journal verify` found in a journal file (a backup or the live one).
    public struct Verification: Sendable {
        /// SQLite's integrity check result ("ok" when sound).
        public var integrity = "unknown"
        /// The key the file says sealed it, and whether the given key opens its check value.
        public var keyID: String?
        /// Whether the given key is the one that sealed the journal.
        public var keyMatches = false
        /// How many sales are in each state, by the state's stored name.
        public var salesByState: [String: Int] = [:]
        /// How many follow-ups are in each status, by the status's stored name.
        public var followUpsByStatus: [String: Int] = [:]
        /// How many sealed rows (stored requests and queued messages) were checked.
        public var sealedRows = 0
        /// Sealed rows that do not open (what, why), and inconsistencies between sales and follow-ups.
        public var problems: [String] = []
        /// True when the integrity check passed, the key matches and no problem was found.
        public var ok: Bool { integrity == "ok" && keyMatches && problems.isEmpty }
    }

    /// Checks a journal file: SQLite's integrity check, the key, every sealed row opens, and the sales agree with
    /// their follow-ups (an unanswered sale has its reversal, a voided sale a delivered reversal, an offline
    /// approval with a stored advice its advice). Opens the file read-only.
    public static func verify(path: String, key: JournalKey) throws -> Verification {
        let db: DatabaseQueue
        do { db = try openReadOnly(path) } catch { throw JournalError.storage(error) }
        return try db.read { db in
            var v = Verification()
            v.integrity = try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "unknown"
            guard try db.tableExists("txn"), try db.tableExists("saf") else {
                v.problems.append("not a tapd journal (no txn and saf tables)")
                return v
            }
            if try db.tableExists("meta") {
                v.keyID = try String.fetchOne(db, sql: "SELECT CAST(value AS TEXT) FROM meta WHERE name = 'key_id'")
                if let check = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'key_check'") {
                    v.keyMatches = (try? key.open(Array(check), context: keyCheckContext)) == keyCheckPlaintext
                }
            }
            if !v.keyMatches {
                v.problems.append(
                    "the key \(key.id) is not the one this journal was sealed with (\(v.keyID ?? "unknown"))")
            }
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM txn GROUP BY state") {
                v.salesByState[row["state"]] = row["n"]
            }
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM saf GROUP BY status") {
                v.followUpsByStatus[row["status"]] = row["n"]
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, request FROM txn WHERE request IS NOT NULL") {
                let id: String = row["id"]
                let sealed: Data = row["request"]
                v.sealedRows += 1
                if (try? key.open(Array(sealed), context: "txn:" + id)) == nil {
                    v.problems.append("the stored request of \(id) does not open")
                }
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, message FROM saf WHERE message IS NOT NULL") {
                let id: Int64 = row["id"]
                let sealed: Data = row["message"]
                v.sealedRows += 1
                if (try? key.open(Array(sealed), context: "saf:\(id)")) == nil {
                    v.problems.append("follow-up #\(id)'s message does not open")
                }
            }
            let unreversed = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM txn WHERE state = 'unanswered' AND NOT EXISTS (SELECT 1 FROM saf WHERE saf.txn_id = txn.id AND saf.kind = 'reversal')
                    """)
            for id in unreversed { v.problems.append("sale \(id) is unanswered but has no reversal") }
            let voidedWithout = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM txn WHERE state = 'voided' AND NOT EXISTS
                      (SELECT 1 FROM saf WHERE saf.txn_id = txn.id AND saf.kind = 'reversal' AND saf.status IN ('delivered', 'resolved'))
                    """)
            for id in voidedWithout { v.problems.append("sale \(id) is voided but no reversal was delivered") }
            let unadvised = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM txn WHERE state = 'approved_offline' AND request IS NOT NULL AND NOT EXISTS
                      (SELECT 1 FROM saf WHERE saf.txn_id = txn.id AND saf.kind = 'advice')
                    """)
            for id in unadvised {
                v.problems.append("sale \(id) was approved offline and has no advice (tapd queues it at start)")
            }
            return v
        }
    }
}
