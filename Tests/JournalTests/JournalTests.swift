// The journal on a real SQLite file in a temporary directory.
import XCTest
import Foundation
@testable import Journal

final class JournalTests: XCTestCase {
    var dir: URL!
    let key = try! JournalKey(bytes: [UInt8](repeating: 0x42, count: 32))
    let pan = "4761739001010119"

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tapd-journal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    var dbPath: String { dir.appendingPathComponent("journal.sqlite").path }

    func testLifecycleAndIdempotency() throws {
        let j = try Journal(path: dbPath, key: key)
        let (t, created) = try j.createTransaction(idempotencyKey: "pos-1", amount: 1234, currency: 978)
        XCTAssertTrue(created)
        let (again, created2) = try j.createTransaction(idempotencyKey: "pos-1", amount: 9999, currency: 978)
        XCTAssertFalse(created2, "a retried request never starts a second sale")
        XCTAssertEqual(again.id, t.id)
        XCTAssertEqual(again.amount, 1234)

        try j.update(t.id, to: .cardRead, maskedPAN: "476173******0119")
        try j.persistRequest(t.id, mti: "0200", stan: "000001", rrn: "633009000001", message: Array(("0200" + pan).utf8))
        try j.update(t.id, to: .sent)
        try j.update(t.id, to: .answered, responseCode: "00", approvalCode: "A1B2C3")
        let done = try XCTUnwrap(try j.transaction(t.id))
        XCTAssertEqual(done.state, .answered)
        XCTAssertEqual(done.responseCode, "00")
        XCTAssertEqual(done.maskedPAN, "476173******0119")
        XCTAssertThrowsError(try j.update(t.id, to: .created)) { e in
            XCTAssertEqual(e as? JournalError, .invalidTransition(t.id, from: .answered, to: .created))
        }
        XCTAssertThrowsError(try j.update("nope", to: .sent))
    }

    func testCardDataIsSealedOnDisk() throws {
        let j = try Journal(path: dbPath, key: key)
        let (t, _) = try j.createTransaction(idempotencyKey: nil, amount: 1, currency: 978)
        try j.update(t.id, to: .cardRead)
        try j.persistRequest(t.id, mti: "0200", stan: "000001", rrn: "1", message: Array(("DE2=" + pan).utf8))
        try j.enqueue(.reversal, transactionID: t.id, mti: "0400", message: Array(("DE2=" + pan).utf8))
        // Assertions on stored requests never print them: they hold card data.
        XCTAssertTrue(try j.request(of: t.id) == Array(("DE2=" + pan).utf8))
        // Every file of the database (main, WAL): the PAN never appears in clear.
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
            let data = try Data(contentsOf: dir.appendingPathComponent(f))
            XCTAssertNil(data.range(of: Data(pan.utf8)), "PAN in clear in \(f)")
        }
        // Another key cannot open it.
        let other = try Journal(path: dbPath, key: try JournalKey(bytes: [UInt8](repeating: 0x43, count: 32)))
        XCTAssertThrowsError(try other.request(of: t.id))
    }

    func testDurableAcrossReopenAndUnresolvedAfterACrash() throws {
        var id = ""
        do {
            let j = try Journal(path: dbPath, key: key)
            let (t, _) = try j.createTransaction(idempotencyKey: "k", amount: 500, currency: 978)
            id = t.id
            try j.update(id, to: .cardRead)
            try j.persistRequest(id, mti: "0200", stan: try j.nextSTAN(), rrn: "1", message: [1, 2, 3])
            try j.update(id, to: .sent)
            // "Crash": the journal is dropped here without any orderly shutdown.
        }
        let j = try Journal(path: dbPath, key: key)
        XCTAssertEqual(try j.unresolved().map(\.id), [id], "sent without an answer: a restart must reverse it")
        XCTAssertEqual(try j.request(of: id), [1, 2, 3])
        XCTAssertEqual(try j.nextSTAN(), "000002", "the STAN continues where it was")
        XCTAssertEqual(try j.integrityCheck(), "ok")
    }

    func testSTANRollsOver() throws {
        let j = try Journal(path: dbPath, key: key)
        for _ in 0..<3 { _ = try j.nextSTAN() }
        try j.db.write { db in try db.execute(sql: "UPDATE counter SET value = 999998 WHERE name = 'stan'") }
        XCTAssertEqual(try j.nextSTAN(), "999999")
        XCTAssertEqual(try j.nextSTAN(), "000001")
    }

    func testStoreAndForwardFIFOQuarantineAndDeletion() throws {
        let j = try Journal(path: dbPath, key: key)
        var ids: [String] = []
        for i in 0..<3 {
            let (t, _) = try j.createTransaction(idempotencyKey: "t\(i)", amount: Int64(i), currency: 978)
            try j.update(t.id, to: .cardRead)
            try j.persistRequest(t.id, mti: "0200", stan: try j.nextSTAN(), rrn: "\(i)", message: [UInt8(i)])
            try j.update(t.id, to: .sent)
            try j.update(t.id, to: .timedOut)
            try j.enqueue(.reversal, transactionID: t.id, mti: "0400", message: [0x04, UInt8(i)])
            ids.append(t.id)
        }
        XCTAssertEqual(try j.safDepth(), 3)
        XCTAssertEqual(try j.transaction(ids[0])?.state, .reversalQueued)
        // Strict FIFO: the head stays the head until it is delivered or quarantined.
        let head = try XCTUnwrap(try j.safHead())
        XCTAssertEqual(head.transactionID, ids[0])
        XCTAssertEqual(head.message, [0x04, 0])
        try j.safAttemptFailed(head.id, error: "no answer", counted: false, retryAt: Date().addingTimeInterval(30))
        XCTAssertEqual(try j.safHead()?.id, head.id)
        XCTAssertEqual(try j.safHead()?.attempts, 0, "no answer is not counted")
        try j.safAttemptFailed(head.id, error: "DE39 96", counted: true, retryAt: Date())
        XCTAssertEqual(try j.safHead()?.attempts, 1)
        try j.safDelivered(head.id)
        XCTAssertEqual(try j.transaction(ids[0])?.state, .reversed)
        XCTAssertTrue(try j.request(of: ids[0]) == nil, "card data deleted once the reversal is acknowledged")
        // A poison message leaves the queue so it cannot block the rest.
        let second = try XCTUnwrap(try j.safHead())
        try j.safQuarantine(second.id, reason: "expired")
        XCTAssertEqual(try j.safHead()?.transactionID, ids[2])
        XCTAssertEqual(try j.quarantined().map(\.transactionID), [ids[1]])
        XCTAssertEqual(try j.safDepth(), 1)
    }

    func testRetentionAuditAndListing() throws {
        let j = try Journal(path: dbPath, key: key)
        let (t, _) = try j.createTransaction(idempotencyKey: nil, amount: 1, currency: 978, now: Date(timeIntervalSinceNow: -10 * 86400))
        try j.update(t.id, to: .cardRead, now: Date(timeIntervalSinceNow: -10 * 86400))
        try j.persistRequest(t.id, mti: "0200", stan: "000001", rrn: "1", message: [9], now: Date(timeIntervalSinceNow: -10 * 86400))
        try j.update(t.id, to: .sent, now: Date(timeIntervalSinceNow: -10 * 86400))
        try j.update(t.id, to: .answered, responseCode: "00", now: Date(timeIntervalSinceNow: -10 * 86400))
        XCTAssertEqual(try j.purgeCardData(olderThan: 7 * 86400), 1)
        XCTAssertTrue(try j.request(of: t.id) == nil)
        try j.audit(actor: "uid=1000 pid=42", event: "sale", details: "amount 1")
        XCTAssertEqual(try j.auditLog().first?.event, "sale")
        XCTAssertEqual(try j.transactions(limit: 10).count, 1)
    }

    func testKeyFiles() throws {
        let path = dir.appendingPathComponent("journal.key").path
        XCTAssertThrowsError(try JournalKey.load(path: path), "missing and not asked to create")
        _ = try JournalKey.load(path: path, createIfMissing: true)
        let perm = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        XCTAssertEqual(perm, 0o600)
        XCTAssertNoThrow(try JournalKey.load(path: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        XCTAssertThrowsError(try JournalKey.load(path: path)) { e in
            XCTAssertTrue("\(e)".contains("chmod 600"))
        }
        let short = dir.appendingPathComponent("short.key").path
        FileManager.default.createFile(atPath: short, contents: Data([1, 2, 3]), attributes: [.posixPermissions: 0o600])
        XCTAssertThrowsError(try JournalKey.load(path: short))
    }
}

final class JournalDateTests: XCTestCase {
    /// UTCTime against Foundation and GRDB: the ISO 8601 text equals Date.ISO8601Format (what the API's
    /// .iso8601 strategy wrote before), GRDB's decoder and ours read the stored text as the same instant, and
    /// anything that is not a stored date is refused.
    func testUTCTimeAgreesWithFoundationAndGRDB() throws {
        let instants: [Double] = [0, 1_795_000_000.123, 1_795_000_000.9996, 951_782_400.5, 1_709_251_199.999, 1_735_689_600, 4_102_444_799.25]
            + stride(from: 1_767_225_600.0, to: 1_767_225_600 + 400 * 86_400, by: 86_400 * 7 + 3_671.337).map { $0 }
        for t in instants {
            let d = Date(timeIntervalSince1970: t)
            XCTAssertEqual(UTCTime.iso8601(d), d.ISO8601Format(), "\(t)")
            let stored = UTCTime.sql(d)
            let ours = try XCTUnwrap(UTCTime.parseSQL(stored), stored)
            let grdb = try XCTUnwrap(Date.fromDatabaseValue(stored.databaseValue), stored)
            XCTAssertEqual(ours.timeIntervalSince1970, grdb.timeIntervalSince1970, accuracy: 0.0005, stored)
            XCTAssertEqual(ours.timeIntervalSince1970, t, accuracy: 0.0006, stored)
        }
        XCTAssertEqual(UTCTime.iso8601(Date(timeIntervalSince1970: 1_795_000_000.12), milliseconds: true), "2026-11-18T11:06:40.120Z")
        XCTAssertEqual(UTCTime.httpDate(Date(timeIntervalSince1970: 784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT")   // RFC 9110's example
        let http = DateFormatter()
        http.locale = Locale(identifier: "en_US_POSIX"); http.timeZone = TimeZone(identifier: "GMT"); http.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        for t in instants { XCTAssertEqual(UTCTime.httpDate(Date(timeIntervalSince1970: t)), http.string(from: Date(timeIntervalSince1970: t.rounded(.down))), "\(t)") }
        XCTAssertEqual(UTCTime.parseSQL("2026-11-18 11:06:40"), Date(timeIntervalSince1970: 1_795_000_000))
        XCTAssertEqual(UTCTime.parseSQL("2026-11-18T11:06:40.5"), Date(timeIntervalSince1970: 1_795_000_000.5))
        for bad in ["", "2026-11-18", "2026-13-18 11:06:40", "2026-11-18 24:00:00", "2026-11-18 11:06:40.", "2026-11-18 11:06:40.1234567890",
                    "2026-11-18 11:06:4x", "20261118 110640000", "2026-11-18 11:06:40Z", "２０２６-11-18 11:06:40"] {
            XCTAssertNil(UTCTime.parseSQL(bad), bad)
        }
    }

    /// The journal writes dates itself in GRDB's storage format (GRDB's own encoder would bring up ICU); the two must
    /// agree to the millisecond, and reading back must give the same instant.
    func testDatesAreWrittenInGRDBsFormat() throws {
        for t in [0.0, 1_795_000_000.123, 1_795_000_000.9996, 951_782_400.5 /* 2000-02-29 */, 64_092_211_200] {
            let d = Date(timeIntervalSince1970: t)
            XCTAssertEqual(Journal.sqlDate(d), d.databaseValue.storage.value as? String, "\(t)")
        }
        XCTAssertEqual(Journal.sqlDate(Date(timeIntervalSince1970: 1_795_000_000.123)), "2026-11-18 11:06:40.123")
        let dir = NSTemporaryDirectory() + "tapd-jdate-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let j = try Journal(path: dir + "/j.sqlite", key: try JournalKey(bytes: [UInt8](repeating: 1, count: 32)))
        let now = Date(timeIntervalSince1970: 1_795_000_000.25)
        let (r, _) = try j.createTransaction(idempotencyKey: "d", amount: 1, currency: 978, now: now)
        XCTAssertEqual(try j.transaction(r.id)?.createdAt.timeIntervalSince1970 ?? 0, now.timeIntervalSince1970, accuracy: 0.001)
        XCTAssertEqual(try j.transactions(limit: 5, before: now.addingTimeInterval(1)).count, 1)
        XCTAssertEqual(try j.transactions(limit: 5, before: now).count, 0)
    }
}
