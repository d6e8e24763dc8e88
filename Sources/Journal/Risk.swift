// The risk team's levers, kept in the journal so they survive a restart: acceptance frozen for a scope (the whole
// terminal, a scheme, an AID, one card by its salted PAN hash), with a reason, who froze it and an optional end;
// and the exception file in force. Each change is one transaction with its audit line.

import EMVCrypto
import Foundation
import GRDB

/// A freeze of acceptance as the journal holds it.
public struct FreezeRecord: Sendable, Equatable {
    /// The freeze's number (for lifting it).
    public let id: Int64
    /// What is frozen: `terminal`, `scheme`, `aid` or `card`.
    public let scope: String
    /// The scheme name, the AID in hex, or the card's keyed PAN hash in hex; nil for the terminal.
    public let value: String?
    /// What people see of the value: the masked PAN for a card, else the value itself.
    public let label: String?
    /// Why, as the risk team gave it.
    public let reason: String
    /// Who froze it (the API caller's uid and pid, or tapctl).
    public let createdBy: String
    /// When it was frozen.
    public let createdAt: Date
    /// When it ends by itself; nil until lifted.
    public let endsAt: Date?
    /// When it was lifted, and by whom; nil while it stands.
    public let liftedAt: Date?
    /// Who lifted it.
    public let liftedBy: String?

    /// Whether it stops acceptance at `now`.
    public func isActive(at now: Date) -> Bool { liftedAt == nil && (endsAt.map { $0 > now } ?? true) }
}

/// The exception file in force, as loaded.
public struct StoredExceptionFile: Sendable, Equatable {
    /// The file's text (salt line and salted PAN hashes: no PAN).
    public let text: String
    /// Who loaded it.
    public let loadedBy: String
    /// When it was loaded.
    public let loadedAt: Date
}

extension Journal {
    /// Records a freeze (with its audit line) and returns it.
    public func addFreeze(
        scope: String, value: String?, label: String?, reason: String, by actor: String, endsAt: Date?,
        now: Date = Date()
    ) async throws -> FreezeRecord {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO risk_freeze (scope, value, label, reason, created_by, created_at, ends_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [scope, value, label, reason, actor, Self.sqlDate(now), endsAt.map(Self.sqlDate)])
            let id = db.lastInsertedRowID
            try Self.audit(
                db, actor: actor, event: "acceptance frozen",
                details: "#\(id) \(scope)\(label.map { " " + $0 } ?? ""): \(reason)", now: now)
            return try Self.freeze(db, id: id)
        }
    }

    /// Lifts a freeze (audited); throws `JournalError.notFound` when there is none with this id. Lifting a freeze
    /// already lifted or ended returns it as it is.
    public func liftFreeze(_ id: Int64, by actor: String, now: Date = Date()) async throws -> FreezeRecord {
        try await write { db in
            let f = try Self.freeze(db, id: id)
            guard f.isActive(at: now) else { return f }
            try db.execute(
                sql: "UPDATE risk_freeze SET lifted_at = ?, lifted_by = ? WHERE id = ?",
                arguments: [Self.sqlDate(now), actor, id])
            try Self.audit(db, actor: actor, event: "acceptance unfrozen", details: "#\(id) \(f.scope)", now: now)
            return try Self.freeze(db, id: id)
        }
    }

    /// Freezes standing at `now`, oldest first.
    public func activeFreezes(at now: Date = Date()) async throws -> [FreezeRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM risk_freeze WHERE lifted_at IS NULL ORDER BY id").map(Self.freeze)
                .filter { $0.isActive(at: now) }
        }
    }

    /// Replaces the exception file in force (audited with its entry count).
    public func storeExceptionFile(_ text: String, entries: Int, by actor: String, now: Date = Date()) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO risk_exception_file (id, text, loaded_by, loaded_at) VALUES (1, ?, ?, ?)",
                arguments: [text, actor, Self.sqlDate(now)])
            try Self.audit(db, actor: actor, event: "exception file replaced", details: "\(entries) entries", now: now)
        }
    }

    /// The exception file in force, or nil when none was loaded.
    public func exceptionFile() async throws -> StoredExceptionFile? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM risk_exception_file WHERE id = 1").map {
                StoredExceptionFile(text: $0["text"], loadedBy: $0["loaded_by"], loadedAt: Self.date($0, "loaded_at"))
            }
        }
    }

    /// A small named value the risk controls keep (e.g. the hash of the exception file last loaded from the
    /// configuration); nil when none was kept.
    public func riskNote(_ name: String) async throws -> String? {
        try await read { db in
            let has = try Bool.fetchOne(db, sql: "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'meta'") ?? false
            guard has else { return nil }
            return try String.fetchOne(
                db, sql: "SELECT CAST(value AS TEXT) FROM meta WHERE name = ?", arguments: ["risk:" + name])
        }
    }

    /// Keeps a named value for the risk controls.
    public func setRiskNote(_ name: String, _ value: String) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO meta (name, value) VALUES (?, CAST(? AS BLOB))",
                arguments: ["risk:" + name, value])
        }
    }

    static let cardHashKeyContext = "meta:card_hash_key"

    /// The secret key of card freezes' PAN hashes (HMAC-SHA-256; 32 random bytes made on first use), kept in the
    /// journal sealed under the journal key: a freeze list, a log line or the API never lets a PAN be recomputed.
    public func cardHashKey() async throws -> [UInt8] {
        let key = self.key
        return try await write { db in
            if let s = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'card_hash_key'") {
                do { return try key.open([UInt8](s), context: Self.cardHashKeyContext) } catch {
                    throw JournalError.sealedDataUnreadable("the card hash key", cause: error)
                }
            }
            let secret = secureRandomBytes(32)
            try db.execute(
                sql: "INSERT INTO meta (name, value) VALUES ('card_hash_key', ?)",
                arguments: [Data(try key.seal(secret, context: Self.cardHashKeyContext))])
            return secret
        }
    }

    static func freeze(_ db: Database, id: Int64) throws -> FreezeRecord {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM risk_freeze WHERE id = ?", arguments: [id]) else {
            throw JournalError.notFound("freeze #\(id)")
        }
        return freeze(row)
    }

    static func freeze(_ r: Row) -> FreezeRecord {
        let ends: String? = r["ends_at"]
        let lifted: String? = r["lifted_at"]
        return FreezeRecord(
            id: r["id"], scope: r["scope"], value: r["value"], label: r["label"], reason: r["reason"],
            createdBy: r["created_by"],
            createdAt: date(r, "created_at"), endsAt: ends == nil ? nil : date(r, "ends_at"),
            liftedAt: lifted == nil ? nil : date(r, "lifted_at"), liftedBy: r["lifted_by"])
    }
}
