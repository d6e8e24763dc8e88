// The journal on a real SQLite file in a temporary directory.

import EMVCrypto
import Foundation
import GRDB
import XCTest

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

    /// A sale taken online: request persisted, transmitted.
    func online(_ j: Journal, key k: String? = nil, amount: Int64 = 1234, message: [UInt8] = [1, 2, 3]) async throws
        -> String
    {
        let (t, _) = try await j.createSale(idempotencyKey: k, amount: amount, currency: 978)
        var c = SaleChange(.requestPersisted)
        c.mti = "0200"
        c.stan = try await j.nextSTAN()
        c.request = .store(message)
        try await j.apply(t.id, c)
        try await j.apply(t.id, SaleChange(.requestTransmitted))
        return t.id
    }

    func testOneStateForTheWholeSaleAndIdempotency() async throws {
        let j = try Journal(path: dbPath, key: key)
        let (t, created) = try await j.createSale(idempotencyKey: "pos-1", amount: 1234, currency: 978)
        XCTAssertTrue(created)
        XCTAssertEqual(t.state, .waitingForCard)
        let (again, created2) = try await j.createSale(idempotencyKey: "pos-1", amount: 9999, currency: 978)
        XCTAssertFalse(created2, "a retried request never starts a second sale")
        XCTAssertEqual(again.id, t.id)
        XCTAssertEqual(again.amount, 1234)

        var card = SaleChange(.processing)
        card.maskedPAN = "476173******0119"
        try await j.apply(t.id, card)
        var persist = SaleChange(.requestPersisted)
        persist.request = .store(Array(("0200" + pan).utf8))
        persist.stan = "000001"
        try await j.apply(t.id, persist)
        try await j.apply(t.id, SaleChange(.requestTransmitted))
        var answer = SaleChange(.approved)
        answer.responseCode = "00"
        answer.approvalCode = "A1B2C3"
        answer.request = .erase
        let done = try await j.apply(t.id, answer)
        XCTAssertEqual(done.state, .approved)
        XCTAssertEqual(done.responseCode, "00")
        XCTAssertEqual(done.maskedPAN, "476173******0119")
        let stored = try await j.request(of: t.id)
        XCTAssertTrue(stored == nil, "an answered request's card data is gone")
        do {
            try await j.apply(t.id, SaleChange(.declined))
            XCTFail("approved → declined must be refused")
        } catch JournalError.invalidTransition(let id, let from, let to) {
            XCTAssertEqual([id, from.rawValue, to.rawValue], [t.id, "approved", "declined"])
        }
        do {
            try await j.apply("nope", SaleChange(.failed))
            XCTFail()
        } catch JournalError.notFound {}
    }

    func testTheStateMachineOnlyMovesForward() {
        // What the SaleBook relies on: a request that may have left can only end answered or unanswered (reversed).
        XCTAssertFalse(SaleState.requestTransmitted.allows(.failed))
        XCTAssertFalse(SaleState.requestTransmitted.allows(.cancelled))
        XCTAssertTrue(SaleState.requestTransmitted.allows(.unanswered))
        XCTAssertFalse(
            SaleState.requestPersisted.allows(.approved), "no answer without the transmitted step on disk first")
        XCTAssertTrue(SaleState.approved.allows(.voided))
        XCTAssertFalse(SaleState.approvedOffline.allows(.voided))
        for s in SaleState.allCases where s.isFinal && s != .approved && s != .partiallyApproved {
            XCTAssertTrue(SaleState.allCases.allSatisfy { $0 == s || !s.allows($0) }, "\(s) is final")
        }
    }

    func testCardDataIsSealedOnDisk() async throws {
        let j = try Journal(path: dbPath, key: key)
        let id = try await online(j, message: Array(("DE2=" + pan).utf8))
        var c = SaleChange(.unanswered)
        c.enqueue = [NewFollowUp(kind: .reversal, mti: "0400", message: Array(("DE2=" + pan).utf8))]
        try await j.apply(id, c)
        // Assertions on stored requests never print them: they hold card data.
        let stored = try await j.request(of: id)
        XCTAssertTrue(stored == Array(("DE2=" + pan).utf8))
        let head = try await j.queueHead()
        XCTAssertTrue(try j.open(XCTUnwrap(head)) == Array(("DE2=" + pan).utf8))
        // Every file of the database (main, WAL): the PAN never appears in clear.
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
            let data = try Data(contentsOf: dir.appendingPathComponent(f))
            XCTAssertNil(data.range(of: Data(pan.utf8)), "PAN in clear in \(f)")
        }
        // Another key cannot open it: the journal refuses it at open, naming both keys by their ids.
        let wrong = try JournalKey(bytes: [UInt8](repeating: 0x43, count: 32))
        XCTAssertThrowsError(try Journal(path: dbPath, key: wrong)) { e in
            guard case JournalError.wrongKey(let journalKey, let configured)? = e as? JournalError else {
                return XCTFail("\(e)")
            }
            XCTAssertEqual([journalKey, configured], [key.id, wrong.id])
            XCTAssertTrue("\(e)".contains("tapctl journal rekey"), "\(e)")
        }
        let sealed = try await XCTUnwrapAsync(await j.queueHead())
        XCTAssertThrowsError(try wrong.open(Array(sealed.sealed ?? []), context: "saf:\(sealed.entry.id)"))
        let secureDelete = try await j.read { db in try Int.fetchOne(db, sql: "PRAGMA secure_delete") }
        XCTAssertEqual(secureDelete, 1, "deleted card data is overwritten (PCI DSS 3.2)")
    }

    /// Issue rule: "a key id in the sealed format". Every sealed value names the key that sealed it, and that
    /// header is authenticated: a value moved under another key id, or read with another key, is refused naming both.
    func testEverySealedValueNamesTheKeyThatSealedIt() async throws {
        let j = try Journal(path: dbPath, key: key)
        let id = try await online(j, message: Array("card data".utf8))
        let raw = try await j.read { db in
            try Data.fetchOne(db, sql: "SELECT request FROM txn WHERE id = ?", arguments: [id])
        }
        let sealed = [UInt8](try XCTUnwrap(raw))
        XCTAssertEqual(sealed.first, 0x02, "format 2")
        XCTAssertEqual(JournalKey.keyID(of: sealed), key.id)
        var forged = sealed
        forged[1] ^= 0x01  // another key id in the header
        XCTAssertThrowsError(try key.open(forged, context: "txn:" + id), "the header is authenticated")
        let other = try JournalKey(bytes: [UInt8](repeating: 0x43, count: 32))
        XCTAssertThrowsError(try other.open(sealed, context: "txn:" + id)) { e in
            guard case JournalError.wrongKey(let sealedBy, let configured)? = e as? JournalError else {
                return XCTFail("\(e)")
            }
            XCTAssertEqual([sealedBy, configured], [key.id, other.id])
        }
    }

    /// A journal written before sealed values named their key (format 1: nonce, ciphertext, tag) opens, and its rows
    /// are re-sealed in format 2 under the same key in one transaction, audited; a row that does not open is left
    /// for the sale's own path and does not stop the journal from opening.
    func testValuesOfTheOlderSealedFormatAreUpgradedOnOpen() async throws {
        var id = ""
        var damaged = ""
        do {
            let j = try Journal(path: dbPath, key: key)
            id = try await online(j, message: Array("old request".utf8))
            damaged = try await online(j, message: Array("damaged".utf8))
            let v1 = try AESGCM.seal(
                Array("old request".utf8), key: [UInt8](repeating: 0x42, count: 32),
                authenticating: Array(("txn:" + id).utf8))
            let (first, second) = (id, damaged)
            try await j.write { db in
                try db.execute(sql: "UPDATE txn SET request = ? WHERE id = ?", arguments: [Data(v1), first])
                try db.execute(
                    sql: "UPDATE txn SET request = ? WHERE id = ?", arguments: [Data([0x55, 1, 2, 3]), second])
                // A journal of an earlier version has not said that it is all in format 2.
                try db.execute(sql: "DELETE FROM meta WHERE name = 'sealed_format_2'")
            }
            let reads = try await j.request(of: id)
            XCTAssertTrue(reads == Array("old request".utf8), "format 1 still opens")
        }
        let j = try Journal(path: dbPath, key: key)
        let upgraded = id
        let raw = try await j.read { db in
            try Data.fetchOne(db, sql: "SELECT request FROM txn WHERE id = ?", arguments: [upgraded])
        }
        XCTAssertEqual(JournalKey.keyID(of: [UInt8](try XCTUnwrap(raw))), key.id, "re-sealed in format 2")
        let reads = try await j.request(of: id)
        XCTAssertTrue(reads == Array("old request".utf8))
        let audit = try await j.auditLog(limit: 10)
        XCTAssertTrue(audit.contains { $0.event == "sealed rows upgraded" })
        XCTAssertFalse(damaged.isEmpty)
    }

    func testDurableAcrossReopen() async throws {
        var id = ""
        do {
            let j = try Journal(path: dbPath, key: key)
            id = try await online(j)
            // "Crash": the journal is dropped here without any orderly shutdown.
        }
        let j = try Journal(path: dbPath, key: key)
        let open = try await j.sales(in: [.requestTransmitted])
        XCTAssertEqual(open.map(\.id), [id], "transmitted without an answer: a restart must reverse it")
        let stored = try await j.request(of: id)
        XCTAssertEqual(stored, [1, 2, 3])
        let stan = try await j.nextSTAN()
        XCTAssertEqual(stan, "000002", "the STAN continues where it was")
        let integrity = try await j.integrityCheck()
        XCTAssertEqual(integrity, "ok")
    }

    /// No checkpoint runs inside a commit (SQLite's automatic one would land on whichever write crosses its mark,
    /// the online request's among them); `checkpoint()`, run between sales, copies the whole log into the database.
    func testTheLogIsCheckpointedBetweenSalesNeverInsideACommit() async throws {
        let j = try Journal(path: dbPath, key: key)
        let auto = try await j.db.write { db in try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") }
        XCTAssertEqual(auto, 0)
        for i in 0..<40 { _ = try await online(j, key: "k\(i)") }
        let before = try await j.db.writeWithoutTransaction { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM txn") ?? 0
        }
        XCTAssertEqual(before, 40)
        try await j.checkpoint()
        let log = try await j.db.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        XCTAssertGreaterThan(log.walFrameCount, 0, "the log held the sales' writes")
        XCTAssertEqual(log.checkpointedFrameCount, log.walFrameCount, "every frame is in the database file")
        let reopened = try Journal(path: dbPath, key: key)
        let after = try await reopened.sales(limit: 100, before: nil)
        XCTAssertEqual(after.count, 40)
    }

    func testSTANRollsOver() async throws {
        let j = try Journal(path: dbPath, key: key)
        for _ in 0..<3 { _ = try await j.nextSTAN() }
        try await j.write { db in try db.execute(sql: "UPDATE counter SET value = 999998 WHERE name = 'stan'") }
        let a = try await j.nextSTAN()
        let b = try await j.nextSTAN()
        XCTAssertEqual([a, b], ["999999", "000001"])
    }

    func testStoreAndForwardFIFORejectionsQuarantineAndDelivery() async throws {
        let j = try Journal(path: dbPath, key: key)
        var ids: [String] = []
        for i in 0..<3 {
            let id = try await online(j, key: "t\(i)", amount: Int64(i + 1), message: [UInt8(i)])
            var c = SaleChange(.unanswered)
            c.enqueue = [NewFollowUp(kind: .reversal, mti: "0400", message: [0x04, UInt8(i)])]
            try await j.apply(id, c)
            ids.append(id)
        }
        var counts = try await j.queueCounts()
        XCTAssertEqual(counts.pending, 3)
        // Strict FIFO: the head stays the head until it is delivered or quarantined.
        let head = try await XCTUnwrapAsync(await j.queueHead())
        XCTAssertEqual(head.entry.transactionID, ids[0])
        XCTAssertEqual(try j.open(head), [0x04, 0])
        try await j.markTransmitted(head.entry.id)
        var after = try await j.followUpFailed(
            head.entry.id, error: "no answer", rejected: false, retryAt: Date().addingTimeInterval(30),
            quarantineAfter: 2)
        XCTAssertEqual([after.rejections, after.tries], [0, 1], "no answer is not a refusal")
        XCTAssertTrue(after.transmitted, "it may have left: the next send is a repeat")
        let headAgain = try await j.queueHead()?.entry.id
        XCTAssertEqual(headAgain, head.entry.id)
        after = try await j.followUpFailed(
            head.entry.id, error: "refused with response code 12", responseCode: "12", rejected: true, retryAt: Date(),
            quarantineAfter: 2)
        XCTAssertEqual(after.status, .pending)
        XCTAssertEqual(after.rejections, 1)
        var change = SaleChange(.unanswered)
        change.request = .erase
        let delivered = try await j.followUpAccepted(
            head.entry.id, responseCode: "00", saleChange: change, audit: "test")
        XCTAssertEqual(delivered.status, .delivered)
        let stored = try await j.request(of: ids[0])
        XCTAssertTrue(stored == nil, "card data deleted once the reversal is acknowledged")
        let sealedLeft = try await j.read { db in
            try Data.fetchOne(db, sql: "SELECT message FROM saf WHERE id = ?", arguments: [head.entry.id])
        }
        XCTAssertNil(sealedLeft, "a delivered message is deleted")
        // Refused too often: out of the queue, listed, so it cannot block the rest.
        let second = try await XCTUnwrapAsync(await j.queueHead())
        for _ in 0..<2 {
            after = try await j.followUpFailed(
                second.entry.id, error: "refused", responseCode: "30", rejected: true, retryAt: Date(),
                quarantineAfter: 2)
        }
        XCTAssertEqual(after.status, .quarantined)
        let third = try await j.queueHead()?.entry.transactionID
        XCTAssertEqual(third, ids[2])
        let quarantined = try await j.followUps(status: .quarantined)
        XCTAssertEqual(quarantined.map(\.transactionID), [ids[1]])
        counts = try await j.queueCounts()
        XCTAssertEqual([counts.pending, counts.quarantined], [1, 1])
        let report = try JournalInspection.inspect(path: dbPath)
        XCTAssertEqual(report.quarantined, 1)
        XCTAssertTrue(report.quarantineReasons.first?.contains("refused") == true, "\(report.quarantineReasons)")
        // An operator puts it back, then resolves it: both audited.
        let retried = try await j.retryFollowUp(second.entry.id, actor: "uid=0")
        XCTAssertEqual([retried.status.rawValue, "\(retried.rejections)"], ["pending", "0"])
        let resolved = try await j.resolveFollowUp(
            second.entry.id, reason: "reversed by the help desk, ticket 4711", actor: "uid=0")
        XCTAssertEqual(resolved.status, .resolved)
        let audit = try await j.auditLog().map(\.event)
        XCTAssertTrue(
            audit.contains("follow-up resolved") && audit.contains("follow-up retried")
                && audit.contains("reversal quarantined"), "\(audit)")
    }

    /// Issue rule: at most one open message per sale and kind, enforced by the journal (two voids racing queue one
    /// reversal).
    func testOneOpenFollowUpPerSaleAndKind() async throws {
        let j = try Journal(path: dbPath, key: key)
        let id = try await online(j)
        var ok = SaleChange(.approved)
        ok.responseCode = "00"
        try await j.apply(id, ok)
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var c = SaleChange(.approved)
                    c.enqueue = [NewFollowUp(kind: .reversal, mti: "0400", message: [4])]
                    do {
                        try await j.apply(id, c)
                        return true
                    } catch JournalError.followUpExists { return false } catch { return false }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        XCTAssertEqual(results.filter { $0 }.count, 1, "one void's reversal, the others refused")
        let sale = try await j.sale(id)
        XCTAssertEqual(sale?.followUps.count, 1)
    }

    /// An offline approval and its advice are one transaction: if the advice cannot be written, neither is the approval.
    func testTransitionAndItsFollowUpAreOneTransaction() async throws {
        let j = try Journal(path: dbPath, key: key)
        let (t, _) = try await j.createSale(idempotencyKey: nil, amount: 5, currency: 978)
        var c = SaleChange(.approvedOffline)
        c.enqueue = [
            NewFollowUp(kind: .advice, mti: "0220", message: [2]),
            NewFollowUp(kind: .advice, mti: "0220", message: [2]),
        ]
        do {
            try await j.apply(t.id, c)
            XCTFail("a second open advice must be refused")
        } catch JournalError.followUpExists {}
        let sale = try await j.sale(t.id)
        XCTAssertEqual(sale?.state, .waitingForCard, "the approval was rolled back with its advice")
        XCTAssertEqual(sale?.followUps.count, 0)
    }

    /// Disk full (SQLite's page limit) and a read-only journal: the step does not happen, the error says so in words.
    func testFullDiskAndReadOnlyJournalRefuseTheStepInWords() async throws {
        let j = try Journal(path: dbPath, key: key)
        let (t, _) = try await j.createSale(idempotencyKey: nil, amount: 5, currency: 978)
        try await j.write { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 1
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        var big = SaleChange(.requestPersisted)
        big.request = .store([UInt8](repeating: 7, count: 256 * 1024))
        do {
            try await j.apply(t.id, big)
            XCTFail("must not fit")
        } catch let e as JournalError {
            XCTAssertTrue(e.description.contains("the disk is full"), e.description)
        }
        let still = try await j.sale(t.id)
        XCTAssertEqual(still?.state, .waitingForCard)
        try await j.write { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }
        try await j.db.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA query_only = 1") }
        do {
            try await j.apply(t.id, SaleChange(.failed))
            XCTFail()
        } catch let e as JournalError {
            XCTAssertTrue(e.description.contains("read-only"), e.description)
        }
    }

    /// Journals written by earlier versions (v3: two state columns) open as one state per sale; a request that was
    /// sent is "transmitted" (recovery reverses it), and its queued reversal will go as a repeat.
    func testMigrationFromTwoStatesToOne() async throws {
        let queue = try DatabaseQueue(path: dbPath)
        try Journal.migrator.migrate(queue, upTo: "v3")
        try await queue.write { db in
            let now = "2026-11-01 10:00:00.000"
            for (id, state, status, rc, voided) in [
                ("a", "answered", "approved", "00", false), ("b", "sent", "online", nil, false),
                ("c", "reversed", "voided", "00", true), ("d", "advice_queued", "approved", nil, false),
                ("e", "cancelled", "timed_out", nil, false), ("f", "answered", "declined", "51", false),
                ("g", "timed_out", "failed", nil, false),
            ] as [(String, String, String, String?, Bool)] {
                try db.execute(
                    sql:
                        "INSERT INTO txn (id, state, amount, currency, created_at, updated_at, status, response_code, voided) VALUES (?,?,?,?,?,?,?,?,?)",
                    arguments: [id, state, 100, 978, now, now, status, rc, voided])
            }
            try db.execute(
                sql:
                    "INSERT INTO saf (txn_id, kind, mti, message, attempts, next_attempt_at, expires_at, status, last_error, created_at) VALUES ('d','advice','0220',NULL,2,?,?,'pending','no answer',?)",
                arguments: [now, now, now])
        }
        let j = try Journal(path: dbPath, key: key)
        var states: [String: String] = [:]
        for id in ["a", "b", "c", "d", "e", "f", "g"] { states[id] = try await j.sale(id)?.state.rawValue }
        XCTAssertEqual(
            states,
            [
                "a": "approved", "b": "request_transmitted", "c": "voided", "d": "approved_offline", "e": "timed_out",
                "f": "declined",
                "g": "request_transmitted",
            ], "a timed-out request without its reversal row is reversed by recovery")
        let advice = try await j.sale("d")?.followUps.first
        XCTAssertEqual(advice?.rejections, 0, "refusals are counted afresh")
        XCTAssertEqual(advice?.transmitted, true, "an open entry may have left: the next send is a repeat")
    }

    func testRetentionAuditAndListing() async throws {
        let j = try Journal(path: dbPath, key: key)
        let old = Date(timeIntervalSinceNow: -10 * 86400)
        let (t, _) = try await j.createSale(idempotencyKey: nil, amount: 1, currency: 978, now: old)
        var c = SaleChange(.requestPersisted)
        c.request = .store([9])
        try await j.apply(t.id, c, now: old)
        try await j.apply(t.id, SaleChange(.requestTransmitted), now: old)
        var a = SaleChange(.approved)
        a.responseCode = "00"
        a.request = .store([9])
        try await j.apply(t.id, a, now: old)
        let purged = try await j.purgeCardData(olderThan: 7 * 86400)
        XCTAssertEqual(purged, 1)
        let stored = try await j.request(of: t.id)
        XCTAssertTrue(stored == nil)
        try await j.audit(actor: "uid=1000 pid=42", event: "sale", details: "amount 1")
        let first = try await j.auditLog().first?.event
        XCTAssertEqual(first, "sale")
        let listed = try await j.sales(limit: 10)
        XCTAssertEqual(listed.count, 1)
    }

    /// `tapctl journal rekey`: every sealed row re-sealed under the new key in one transaction; the old key no longer
    /// opens the journal, the new one opens every row.
    func testRekeyReSealsEveryRow() async throws {
        let newKey = try JournalKey(bytes: [UInt8](repeating: 0x99, count: 32))
        do {
            let j = try Journal(path: dbPath, key: key)
            let id = try await online(j, message: Array("request-with-card-data".utf8))
            var c = SaleChange(.unanswered)
            c.enqueue = [NewFollowUp(kind: .reversal, mti: "0400", message: Array("reversal".utf8))]
            try await j.apply(id, c)
            let n = try await j.rekey(to: newKey)
            XCTAssertEqual(n, 2)
        }
        XCTAssertThrowsError(try Journal(path: dbPath, key: key), "the old key is refused now")
        let j = try Journal(path: dbPath, key: newKey)
        XCTAssertEqual(j.keyID, newKey.id)
        let head = try await XCTUnwrapAsync(await j.queueHead())
        XCTAssertEqual(try j.open(head), Array("reversal".utf8))
        let sale = try await j.sale(head.entry.transactionID)
        let stored = try await j.request(of: head.entry.transactionID)
        XCTAssertTrue(stored == Array("request-with-card-data".utf8), "\(sale?.state.rawValue ?? "")")
        let audit = try await j.auditLog().map(\.event)
        XCTAssertTrue(audit.contains("journal rekeyed"))
    }

    /// `tapctl journal backup` / `verify`: a copy taken while the journal is open verifies; a damaged row, a wrong
    /// key and a sale without its reversal are each named.
    func testBackupAndVerify() async throws {
        let j = try Journal(path: dbPath, key: key)
        let id = try await online(j)
        var c = SaleChange(.unanswered)
        c.enqueue = [NewFollowUp(kind: .reversal, mti: "0400", message: [4])]
        try await j.apply(id, c)
        let copy = dir.appendingPathComponent("backup.sqlite").path
        try Journal.backup(journal: dbPath, to: copy)
        XCTAssertEqual(
            (try FileManager.default.attributesOfItem(atPath: copy)[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertThrowsError(try Journal.backup(journal: dbPath, to: copy), "never overwrites")
        let v = try Journal.verify(path: copy, key: key)
        XCTAssertTrue(v.ok, "\(v.problems)")
        XCTAssertEqual(v.salesByState, ["unanswered": 1])
        XCTAssertEqual(v.followUpsByStatus, ["pending": 1])
        XCTAssertEqual(v.sealedRows, 2)
        let wrong = try Journal.verify(path: copy, key: try JournalKey(bytes: [UInt8](repeating: 5, count: 32)))
        XCTAssertFalse(wrong.ok)
        XCTAssertFalse(wrong.keyMatches)
        // Damage the copy: a sealed row that no longer opens, a reversal that went missing.
        let q = try DatabaseQueue(path: copy)
        try await q.write { db in
            try db.execute(
                sql: "UPDATE txn SET request = x'0011223344556677889900112233445566778899' WHERE id = ?",
                arguments: [id])
            try db.execute(sql: "DELETE FROM saf")
        }
        try q.close()
        let damaged = try Journal.verify(path: copy, key: key)
        XCTAssertFalse(damaged.ok)
        XCTAssertTrue(damaged.problems.contains { $0.contains("does not open") }, "\(damaged.problems)")
        XCTAssertTrue(
            damaged.problems.contains { $0.contains("unanswered but has no reversal") }, "\(damaged.problems)")
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
        FileManager.default.createFile(
            atPath: short, contents: Data([1, 2, 3]), attributes: [.posixPermissions: 0o600])
        XCTAssertThrowsError(try JournalKey.load(path: short))
    }
}

final class KeyFileRuleTests: XCTestCase {
    /// Issue rule: one key-file rule everywhere — a regular file, no symbolic link, owned by tapd's user (or root),
    /// mode 0600 or 0400 — for the journal key and the TLS client key alike.
    func testOneKeyFileRule() throws {
        let dir = NSTemporaryDirectory() + "tapd-keyfile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default
        let good = dir + "/good.key"
        fm.createFile(atPath: good, contents: Data(repeating: 1, count: 32), attributes: [.posixPermissions: 0o600])
        XCTAssertNoThrow(try JournalKey.read(good))
        let hex = dir + "/hex.key"
        fm.createFile(
            atPath: hex, contents: Data((String(repeating: "ab", count: 32) + "\n").utf8),
            attributes: [.posixPermissions: 0o400])
        XCTAssertNoThrow(try JournalKey.read(hex), "64 hex digits, mode 0400")
        try fm.createSymbolicLink(atPath: dir + "/link.key", withDestinationPath: good)
        XCTAssertThrowsError(try KeyFile.read(dir + "/link.key")) {
            XCTAssertTrue("\($0)".contains("symbolic link"), "\($0)")
        }
        let open = dir + "/open.key"
        fm.createFile(atPath: open, contents: Data(repeating: 1, count: 32), attributes: [.posixPermissions: 0o640])
        XCTAssertThrowsError(try KeyFile.read(open)) { XCTAssertTrue("\($0)".contains("chmod 600"), "\($0)") }
        XCTAssertThrowsError(try KeyFile.read(dir)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
        if geteuid() == 0 {
            let other = dir + "/other.key"
            fm.createFile(
                atPath: other, contents: Data(repeating: 1, count: 32), attributes: [.posixPermissions: 0o600])
            XCTAssertEqual(chown(other, 4242, 4242), 0)
            XCTAssertThrowsError(try KeyFile.read(other)) {
                XCTAssertTrue("\($0)".contains("belongs to uid 4242"), "\($0)")
            }
        }
        XCTAssertThrowsError(try KeyFile.read(dir + "/none.key")) {
            XCTAssertTrue("\($0)".contains("does not exist"), "\($0)")
        }
    }
}

func XCTUnwrapAsync<T>(_ value: T?, file: StaticString = #filePath, line: UInt = #line) async throws -> T {
    try XCTUnwrap(value, file: file, line: line)
}

final class JournalDateTests: XCTestCase {
    /// UTCTime against Foundation and GRDB: the ISO 8601 text equals Date.ISO8601Format (what the API's
    /// .iso8601 strategy wrote before), GRDB's decoder and ours read the stored text as the same instant, and
    /// anything that is not a stored date is refused.
    func testUTCTimeAgreesWithFoundationAndGRDB() throws {
        let instants: [Double] =
            [
                0, 1_795_000_000.123, 1_795_000_000.9996, 951_782_400.5, 1_709_251_199.999, 1_735_689_600,
                4_102_444_799.25,
            ]
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
        XCTAssertEqual(
            UTCTime.iso8601(Date(timeIntervalSince1970: 1_795_000_000.12), milliseconds: true),
            "2026-11-18T11:06:40.120Z")
        // RFC 9110's example
        XCTAssertEqual(UTCTime.httpDate(Date(timeIntervalSince1970: 784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT")
        let http = DateFormatter()
        http.locale = Locale(identifier: "en_US_POSIX")
        http.timeZone = TimeZone(identifier: "GMT")
        http.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        for t in instants {
            XCTAssertEqual(
                UTCTime.httpDate(Date(timeIntervalSince1970: t)),
                http.string(from: Date(timeIntervalSince1970: t.rounded(.down))), "\(t)")
        }
        XCTAssertEqual(UTCTime.parseSQL("2026-11-18 11:06:40"), Date(timeIntervalSince1970: 1_795_000_000))
        XCTAssertEqual(UTCTime.parseSQL("2026-11-18T11:06:40.5"), Date(timeIntervalSince1970: 1_795_000_000.5))
        for bad in [
            "", "2026-11-18", "2026-13-18 11:06:40", "2026-11-18 24:00:00", "2026-11-18 11:06:40.",
            "2026-11-18 11:06:40.1234567890",
            "2026-11-18 11:06:4x", "20261118 110640000", "2026-11-18 11:06:40Z", "２０２６-11-18 11:06:40",
        ] {
            XCTAssertNil(UTCTime.parseSQL(bad), bad)
        }
    }

    /// The journal writes dates itself in GRDB's storage format (GRDB's own encoder would bring up ICU); the two must
    /// agree to the millisecond, and reading back must give the same instant.
    func testDatesAreWrittenInGRDBsFormat() async throws {
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
        let (r, _) = try await j.createSale(idempotencyKey: "d", amount: 1, currency: 978, now: now)
        let created = try await j.sale(r.id)?.createdAt.timeIntervalSince1970 ?? 0
        XCTAssertEqual(created, now.timeIntervalSince1970, accuracy: 0.001)
        let before = try await j.sales(limit: 5, before: now.addingTimeInterval(1)).count
        let none = try await j.sales(limit: 5, before: now).count
        XCTAssertEqual([before, none], [1, 0])
    }
}
