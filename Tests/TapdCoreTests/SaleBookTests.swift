// The SaleBook — the one owner of sale state — on real parts: the journal on a real SQLite file, the acquirer
// simulator over mutual TLS on loopback, real cryptograms from the virtual cards through the real kernels. Each
// money rule of the sale's life is a test here, and its proof is the acquirer's own ledger (what it received and
// answered), not what tapd says of itself. (Card data is compared with ==, never printed.)

import EMVKernel
import Foundation
import GRDB
import ISO8583
import Simulators
import TLV
import XCTest

@testable import Acquirer
@testable import Journal
@testable import TapdCore

final class SaleBookTests: XCTestCase {
    var dir: String!
    var certs: TestCertificates!
    var simulator: AcquirerSimulator!
    var port = 0
    var journal: Journal!
    var events: EventHub!
    var metrics: TapdMetrics!

    override func setUp() async throws {
        dir = NSTemporaryDirectory() + "tapd-book-\(UUID().uuidString)"
        certs = try TestCertificates.generate(in: dir)
        simulator = try AcquirerSimulator(
            certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile, clientCAFile: certs.caFile)
        port = try await simulator.start()
        journal = try Journal(
            path: dir + "/journal.sqlite", key: try JournalKey(bytes: [UInt8](repeating: 7, count: 32)))
        events = EventHub()
        metrics = TapdMetrics()
    }

    override func tearDown() async throws {
        await simulator?.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func config(timeout: Double = 1.0, _ change: (inout AcquirerConfiguration) -> Void = { _ in })
        -> AcquirerConfiguration
    {
        var c = AcquirerConfiguration(
            host: "127.0.0.1", port: port, caFile: certs.caFile, clientCertificateFile: certs.clientCertificateFile,
            clientKeyFile: certs.clientKeyFile, terminalID: "TAPD0001", merchantID: "TAPD00000000001")
        c.responseTimeout = timeout
        c.connectTimeout = 2
        c.acquirerInstitutionID = "123456"
        c.safRetryInterval = 30
        change(&c)
        return c
    }

    func book(_ c: AcquirerConfiguration? = nil, voidWindow: VoidWindow = .sameDay) throws -> SaleBook {
        let j = journal!
        let acquirer = try AcquirerService(
            link: try AcquirerLink(configuration: c ?? config()), stan: { try await j.nextSTAN() })
        return SaleBook(
            journal: j, acquirer: acquirer, events: events, metrics: metrics, voidWindow: voidWindow, autoDrain: false)
    }

    /// A real tap with a virtual card, as the daemon maps it, and a sale opened for it.
    func sale(_ b: SaleBook, _ profile: CardProfile = .visaCard(), amount: UInt64) async throws -> (
        id: String, card: CardTransaction
    ) {
        var keys = try CAKeyStore.bundled(includeTestKeys: true)
        try VirtualCard.pki(for: profile.scheme).register(in: &keys)
        let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
        let txn = TransactionParameters(amount: amount, date: EMVDate(year: 2026, month: 11, day: 26)!)
        let o = await ep.process(card: try VirtualCard(profile), transaction: txn, combinations: ep.preProcess(txn)!)
        XCTAssertEqual(o.kind, .onlineRequest)
        let card = try OnlineRequest.cardTransaction(from: o)
        let (v, _) = try await b.open(
            idempotencyKey: UUID().uuidString, amount: Int64(amount), currency: 978, message: "Present card")
        return (v.id, card)
    }

    func facts() -> SaleBook.CardFacts { .init(maskedPAN: "476173******0119", scheme: "visa") }

    /// Makes every queued entry due now (instead of waiting out the backoff in a test).
    func makeDue() async throws {
        try await journal.write { db in
            try db.execute(
                sql: "UPDATE saf SET next_attempt_at = ?", arguments: [Journal.sqlDate(Date().addingTimeInterval(-1))])
        }
    }

    func ledger() async -> (entries: [AcquirerSimulator.LedgerEntry], violations: [String]) { await simulator.ledger() }

    func recentEvents(_ kind: TapdEvent.Kind) async -> [TapdEvent] {
        var out: [TapdEvent] = []
        let stream = events.subscribe(replay: 64)
        let t = Task {
            for await e in stream { out.append(e) }
            return out
        }
        try? await Task.sleep(for: .milliseconds(50))
        t.cancel()
        return await t.value.filter { $0.type == kind }
    }

    // MARK: Online

    func testApprovedWithARPCForBothSchemes() async throws {
        let b = try book()
        for (p, arpcLength) in [(CardProfile.visaCard(), 8), (.mastercardCard(), 10)] {
            let (id, card) = try await sale(b, p, amount: 1234)
            let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
            XCTAssertEqual(v.status, .approved, v.reason ?? "")
            XCTAssertEqual(v.journalState, "approved")
            XCTAssertEqual(v.responseCode, "00")
            XCTAssertTrue(v.final)
            let stored = try await journal.request(of: id)
            let kept = try XCTUnwrap(stored.map { try ISO8583Codec(spec: .iso87ASCII).unpack($0) })
            XCTAssertNil(kept[35], "an answered request keeps no track 2 (PCI DSS 3.2)")
            XCTAssertNil(kept.bytes(55), "and no chip data")
            _ = arpcLength
        }
        let seen = await simulator.received
        XCTAssertEqual(seen.map(\.mti), ["0200", "0200"])
        XCTAssertEqual(seen.first?[22], "072")
        XCTAssertNotNil(seen.first?.bytes(55))
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertEqual(l.entries.filter(\.charged).count, 2)
    }

    func testDeclineAndCryptogramMismatch() async throws {
        let b = try book()
        let (id, card) = try await sale(b, amount: 1251)
        let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        XCTAssertEqual(v.status, .declined)
        XCTAssertEqual(v.responseCode, "51")
        let stored = try await journal.request(of: id)
        XCTAssertTrue(stored == nil, "a declined sale keeps no card data")
        var (id2, card2) = try await sale(b, amount: 1234)
        card2.amount = 1299  // the cryptogram no longer matches the data: the issuer refuses (05)
        let v2 = try await b.authorize(id2, card: card2, facts: facts(), message: "Authorising")
        XCTAssertEqual(v2.responseCode, "05")
        XCTAssertEqual(v2.status, .declined)
    }

    /// acquirer-link notes §5: no answer within the timeout — the request may have reached the issuer, so it is
    /// reversed with the same STAN and DE 90 naming it, exactly once.
    func testNoAnswerIsReversedWithTheSameSTANExactlyOnce() async throws {
        let b = try book(config(timeout: 0.5))
        let (id, card) = try await sale(b, .mastercardCard(), amount: 1291)
        let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        XCTAssertEqual(v.status, .failed)
        XCTAssertEqual(v.journalState, "unanswered")
        XCTAssertEqual(v.followUps.map(\.kind), ["reversal"])
        _ = await b.deliverQueue()
        let after = try await XCTUnwrapAsync(try await b.view(id))
        XCTAssertEqual(after.followUps.first?.status, "delivered")
        let stored = try await journal.request(of: id)
        XCTAssertTrue(stored == nil, "card data deleted once the reversal is acknowledged")
        let seen = await simulator.received
        let reversals = seen.filter { $0.mtiClass == "4" }
        XCTAssertEqual(reversals.count, 1)
        XCTAssertEqual(reversals[0][11], v.stan)
        XCTAssertEqual(reversals[0][90]?.prefix(10), "0200" + v.stan!)
        XCTAssertEqual(reversals[0][4], seen[0][4])
        XCTAssertNil(reversals[0][35], "a reversal carries no track 2")
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertFalse(l.entries[0].charged)
    }

    /// Issue rule: "transmitted" is persisted before the bytes are written. The STAN, the sealed request and
    /// request_transmitted are one journal transaction: a journal that refuses it leaves nothing half-written (no STAN
    /// used, no request stored) and not one byte goes to the acquirer; once it is accepted, what the acquirer gets is
    /// exactly the stored request under the stored STAN.
    func testTheRequestIsNumberedStoredAndMarkedTransmittedInOneTransactionBeforeTheFirstByte() async throws {
        let b = try book()
        let (id, card) = try await sale(b, amount: 1234)
        try await journal.db.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA query_only = 1") }
        do {
            _ = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
            XCTFail("a read-only journal cannot record the sale's end either")
        } catch {}
        try await journal.db.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA query_only = 0") }
        let received = await simulator.received.count
        XCTAssertEqual(received, 0, "nothing leaves before the journal holds it")
        let refused = try await XCTUnwrapAsync(try await journal.sale(id))
        XCTAssertEqual(refused.state, .waitingForCard, "no half-written online state")
        XCTAssertNil(refused.stan)
        let storedBefore = try await journal.request(of: id)
        XCTAssertTrue(storedBefore == nil)

        let (id2, card2) = try await sale(b, amount: 1234)
        let v = try await b.authorize(id2, card: card2, facts: facts(), message: "Authorising")
        XCTAssertEqual(v.status, .approved)
        XCTAssertEqual(v.stan, "000001", "the refused attempt used no STAN")
        let next = try await journal.nextSTAN()
        XCTAssertEqual(next, "000002", "one STAN per online request")
        let seen = await simulator.received
        XCTAssertEqual(seen.count, 1)
        XCTAssertEqual(seen[0][11], v.stan)
        let stored = try await XCTUnwrapAsync(try await journal.request(of: id2))
        let kept = try ISO8583Codec(spec: try XCTUnwrap(config().spec)).unpack(stored)
        for field in [2, 3, 4, 7, 11, 12, 13, 37, 41, 42, 49] {
            XCTAssertTrue(kept[field] == seen[0][field], "DE \(field): the stored request is the one sent")
        }
    }

    /// An answer that does not match its request (another STAN, terminal, amount or currency) is no answer: reversed.
    func testAnAnswerIsCheckedAgainstItsRequest() async throws {
        let b = try book(config(timeout: 0.5))
        for (field, value) in [(11, "999999"), (41, "OTHER001"), (4, "000000009999"), (49, "840")] {
            await simulator.setRule { m in
                guard m.mtiClass == "2", m.mtiFunction == "0" else { return nil }
                var a = try? AcquirerSimulator.answer(to: m, responseCode: "00")
                a?[field] = value
                guard let a, let codec = try? ISO8583Codec(spec: .iso87ASCII), let body = try? codec.pack(a),
                    let framed = try? ISOFraming.frame(body, codec.spec.framing)
                else { return nil }
                return .raw(framed)
            }
            let (id, card) = try await sale(b, amount: 1234)
            let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
            XCTAssertEqual(v.status, .failed, "DE \(field) = \(value): \(v)")
            XCTAssertEqual(v.journalState, "unanswered", "DE \(field)")
        }
        // The checks themselves (what AnswerCheck decides), without a network.
        var request = ISOMessage(mti: "0200")
        request[4] = "000000001234"
        request[11] = "000042"
        request[41] = "TAPD0001"
        request[49] = "978"
        var answer = ISOMessage(mti: "0210")
        answer[4] = "000000001234"
        answer[11] = "000042"
        answer[41] = "TAPD0001"
        answer[49] = "978"
        answer[39] = "00"
        XCTAssertEqual(AnswerCheck.authorization(answer, for: request), .approved(try AuthorizationResponse(answer)))
        var wrongMTI = answer
        wrongMTI.mti = "0110"
        guard case .invalid = AnswerCheck.authorization(wrongMTI, for: request) else {
            return XCTFail("0110 answers no 0200")
        }
        var partial = answer
        partial[39] = "10"
        partial[4] = "000000001000"
        XCTAssertEqual(
            AnswerCheck.authorization(partial, for: request),
            .partiallyApproved(try AuthorizationResponse(partial), amount: 1000))
        var more = answer
        more[4] = "000000009999"
        guard case .invalid = AnswerCheck.authorization(more, for: request) else {
            return XCTFail("approving another amount is not an answer")
        }
        var partialWithoutAmount = answer
        partialWithoutAmount[39] = "10"
        partialWithoutAmount[4] = nil
        guard case .invalid = AnswerCheck.authorization(partialWithoutAmount, for: request) else {
            return XCTFail("a partial approval without DE 4 is not shown as a full approval")
        }
        var declined = answer
        declined[39] = "51"
        declined[4] = nil
        guard case .declined = AnswerCheck.authorization(declined, for: request) else { return XCTFail() }
    }

    func testMalformedAndOversizedAnswersAreReversed() async throws {
        let b = try book(config(timeout: 0.5))
        await simulator.setRule { m in m.mtiClass == "2" ? .raw([0x00, 0x04] + Array("XXXX".utf8)) : nil }
        let (id, card) = try await sale(b, amount: 1234)
        let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        XCTAssertEqual(v.journalState, "unanswered")
        await simulator.setRule { m in m.mtiClass == "2" ? .raw([0xFF, 0xFF, 0x30, 0x32]) : nil }
        let (id2, card2) = try await sale(b, amount: 1234)
        let v2 = try await b.authorize(id2, card: card2, facts: facts(), message: "Authorising")
        XCTAssertEqual(
            v2.journalState, "unanswered", "an oversized frame closes the connection; the request is reversed")
        await simulator.setRule(nil)
        _ = await b.deliverQueue()
        let counts = try await journal.queueCounts()
        XCTAssertEqual(counts.pending, 0)
        let reversed = await simulator.received.filter { $0.mtiClass == "4" }.map { $0[11] }
        XCTAssertEqual(Set(reversed), [v.stan, v2.stan])
        XCTAssertEqual(reversed.count, 2, "each reversed once")
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
    }

    /// TLS that fails verification: nothing reached the acquirer, so the sale fails without a reversal.
    func testTLSFailsClosedAndNothingIsReversed() async throws {
        for (name, cert, key) in [
            ("server certificate from another CA", certs.foreignServerCertificateFile, certs.foreignServerKeyFile),
            ("expired server certificate", certs.expiredServerCertificateFile, certs.serverKeyFile),
        ] {
            let bad = try AcquirerSimulator(certificateFile: cert, keyFile: key, clientCAFile: certs.caFile)
            let badPort = try await bad.start()
            let b = try book(config { $0.port = badPort })
            let (id, card) = try await sale(b, amount: 1234)
            let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
            XCTAssertEqual(v.status, .failed, name)
            XCTAssertEqual(v.journalState, "failed", "\(name): never sent, so nothing to reverse")
            XCTAssertEqual(v.followUps.count, 0, name)
            XCTAssertTrue(
                v.reason?.contains("certificate") == true, "\(name): the reason says it in words: \(v.reason ?? "")")
            XCTAssertFalse(v.reason?.contains("/") == true, "\(name): no library dump or file path: \(v.reason ?? "")")
            let seen = await bad.received
            XCTAssertTrue(seen.isEmpty, "\(name): nothing may reach a server that failed verification")
            await bad.stop()
        }
    }

    // MARK: Partial approvals

    func testAPartialApprovalIsReversedAndDeclinedByDefault() async throws {
        let b = try book()
        await simulator.setRule { m in m.mti == "0200" ? .partial(amount: 1000) : nil }
        let (id, card) = try await sale(b, amount: 1234)
        let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        XCTAssertEqual(v.status, .declined, "never shown as the full amount approved")
        XCTAssertTrue(v.reason?.contains("1000 of 1234") == true, v.reason ?? "")
        await simulator.setRule(nil)
        _ = await b.deliverQueue()
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertEqual(l.entries.first?.reversalAccepted, true, "the partial approval is undone at the acquirer")
        XCTAssertEqual(l.entries.first?.charged, false)
        let reversal = await simulator.received.first { $0.mtiClass == "4" }
        XCTAssertEqual(reversal?[4], "000000001000", "the reversal carries what the issuer approved")
        XCTAssertNotNil(reversal?[38], "and its approval code")
    }

    func testAPartialApprovalAcceptedShowsTheApprovedAmount() async throws {
        let b = try book(config { $0.partialApprovals = "accept" })
        await simulator.setRule { m in m.mti == "0200" ? .partial(amount: 1000) : nil }
        let (id, card) = try await sale(b, amount: 1234)
        let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        XCTAssertEqual(v.status, .partiallyApproved)
        XCTAssertEqual(v.amount, 1234)
        XCTAssertEqual(v.approvedAmount, 1000, "the point of sale sees what was approved")
        XCTAssertEqual(v.followUps.count, 0)
    }

    // MARK: Dual-message mode

    /// Issue rule: in dual-message mode (0100) an approved authorisation is captured by a completion (0220, final
    /// amount, DE 90 naming the 0100) through store-and-forward; offline approvals are advised with 0120.
    func testDualMessageModeCapturesApprovedAuthorisations() async throws {
        let b = try book(config { $0.requestMTI = "0100" })
        let (id, card) = try await sale(b, amount: 1234)
        let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        XCTAssertEqual(v.status, .approved)
        XCTAssertEqual(v.followUps.map(\.kind), ["capture"])
        _ = await b.deliverQueue()
        let (id2, card2) = try await sale(b, amount: 850)
        let off = try await b.approveOffline(id2, card: card2, facts: facts())
        XCTAssertEqual(Set(off.followUps.map(\.kind)), ["advice", "capture"])
        _ = await b.deliverQueue()
        let seen = await simulator.received
        XCTAssertEqual(seen.map(\.mti), ["0100", "0220", "0120", "0220"])
        let capture = seen[1]
        XCTAssertEqual(capture[4], "000000001234")
        XCTAssertEqual(capture[90]?.prefix(10), "0100" + (seen[0][11] ?? ""))
        XCTAssertNil(capture[35])
        XCTAssertNil(capture.bytes(55))
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertEqual(l.entries.first?.captures, 1)
        // A void after the capture reverses the capture.
        let voided = try await b.void(id, requester: "test")
        XCTAssertEqual(voided.status, .voided)
        let reversal = await simulator.received.last
        XCTAssertEqual(reversal?.mti, "0400")
        XCTAssertEqual(reversal?[90]?.prefix(4), "0220", "DE 90 names the capture as it was first sent")
        let after = await ledger()
        XCTAssertEqual(after.violations, [])
        XCTAssertEqual(after.entries.first?.captured, false, "the void undid the capture")
    }

    /// A void behind a capture that may have reached the acquirer waits (withdrawing it could not take it back); a
    /// capture the void withdrew can never be sent afterwards.
    func testAVoidNeverRacesACaptureInFlight() async throws {
        let b = try book(config { $0.requestMTI = "0100" })
        let (id, card) = try await sale(b, amount: 1234)
        let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        let capture = try XCTUnwrap(v.followUps.first)
        try await journal.markTransmitted(capture.id)  // as the drain does just before writing it
        do {
            _ = try await b.void(id, requester: "test")
            XCTFail("must wait for the capture")
        } catch TapdError.conflict(let why) {
            XCTAssertTrue(why.contains("capture"), why)
        }
        // A second sale: voided before its capture left; the withdrawn capture cannot be marked transmitted any more.
        let (id2, card2) = try await sale(b, amount: 1234)
        let v2 = try await b.authorize(id2, card: card2, facts: facts(), message: "Authorising")
        let capture2 = try XCTUnwrap(v2.followUps.first)
        let voided = try await b.void(id2, requester: "test")
        XCTAssertEqual(voided.status, .voided)
        XCTAssertEqual(voided.followUps.first { $0.kind == "capture" }?.status, "withdrawn")
        do {
            try await journal.markTransmitted(capture2.id)
            XCTFail("a withdrawn capture never leaves")
        } catch JournalError.notFound {}
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertFalse(
            l.entries.contains { $0.stan == v2.stan && ($0.captured || $0.charged) },
            "voided before capture: nothing held")
    }

    // MARK: Offline approvals

    /// An offline approval and its advice (0220, DE 39 Y1) are one journal transaction; the advice is delivered.
    func testOfflineApprovalAndItsAdviceAreOneStepAndDeliveredOnce() async throws {
        let b = try book(config { $0.signOn = true })
        let (id, card) = try await sale(b, amount: 850)
        let v = try await b.approveOffline(id, card: card, facts: facts())
        XCTAssertEqual(v.status, .approved)
        XCTAssertEqual(v.journalState, "approved_offline")
        XCTAssertEqual(v.followUps.map(\.kind), ["advice"])
        _ = await b.deliverQueue()
        let seen = await simulator.received
        XCTAssertEqual(seen.first?.mti, "0800")
        XCTAssertEqual(seen.first?[70], "001", "sign-on first")
        XCTAssertEqual(seen.last?.mti, "0220")
        XCTAssertEqual(seen.last?[39], "Y1")
        XCTAssertNil(seen.last?[35], "the advice carries no track 2")
        let after = try await b.view(id)
        XCTAssertEqual(after?.followUps.first?.status, "delivered")
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertEqual(l.entries.filter(\.charged).count, 1)
    }

    // MARK: Store-and-forward

    func testTheQueueWaitsForTheAcquirerAndDrainsInOrderWithRepeats() async throws {
        let b = try book(config(timeout: 0.5))
        await simulator.setRule { _ in .noAnswer }
        var stans: [String] = []
        for _ in 0..<3 {
            let (id, card) = try await sale(b, amount: 1234)
            let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
            XCTAssertEqual(v.journalState, "unanswered")
            stans.append(v.stan!)
        }
        // A drain while the acquirer is silent: the head goes out, has no answer, and waits (not counted).
        _ = await b.deliverQueue()
        let head = try await journal.queueHead()?.entry
        XCTAssertEqual(head?.rejections, 0, "no answer is not a refusal")
        XCTAssertEqual(head?.transmitted, true)
        let none = await b.deliverQueue()
        XCTAssertEqual(none, 0, "a head whose retry time has not come waits")
        await simulator.setRule(nil)
        try await makeDue()
        let n = await b.deliverQueue()
        XCTAssertEqual(n, 3)
        let reversals = await simulator.received.filter { $0.mtiClass == "4" }
        XCTAssertEqual(reversals.map { $0[11]! }.uniqued(), stans, "FIFO")
        let firstStan = reversals.filter { $0[11] == stans[0] }.map(\.mti)
        XCTAssertEqual(firstStan, ["0400", "0401"], "once it may have left, only repeats")
        XCTAssertEqual(reversals.filter { $0[11] != stans[0] }.map(\.mti), ["0400", "0400"])
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertTrue(l.entries.allSatisfy { !$0.charged })
    }

    /// Issue rule: a refused reversal is counted, retried with backoff, then quarantined with an alert event and a
    /// metric; it is never recorded as delivered, and the void it carried never shows "voided".
    func testARefusedVoidIsCountedThenQuarantinedAndNeverShownVoided() async throws {
        let b = try book(config { $0.safMaxAttempts = 2 })
        let (id, card) = try await sale(b, amount: 1234)
        _ = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        await simulator.setRule { m in m.mtiClass == "4" ? .answer(responseCode: "12") : nil }
        let first = try await b.void(id, requester: "test")
        XCTAssertEqual(first.status, .voidPending, "\(first)")
        XCTAssertEqual(first.followUps.first?.rejections, 1)
        try await makeDue()
        _ = await b.deliverQueue()
        let after = try await XCTUnwrapAsync(try await b.view(id))
        XCTAssertEqual(after.status, .approved, "a refused void leaves the sale approved")
        XCTAssertEqual(after.journalState, "approved")
        XCTAssertEqual(after.followUps.first?.status, "quarantined")
        XCTAssertTrue(after.reason?.contains("refused") == true, after.reason ?? "")
        let alerts = await recentEvents(.moneyAlert)
        XCTAssertEqual(alerts.count, 1)
        XCTAssertTrue(alerts.first?.detail?.contains("tapctl saf list") == true)
        XCTAssertTrue(metrics.exposition().contains("tapd_saf_quarantined 1"), metrics.exposition())
        let l = await ledger()
        XCTAssertEqual(l.entries.first?.charged, true, "the acquirer still has the sale, and tapd says so")
        // The acquirer's help desk fixes it; an operator retries: now it is accepted and the sale is voided.
        await simulator.setRule(nil)
        let retried = try await b.retryFollowUp(after.followUps[0].id, actor: "uid=0")
        XCTAssertEqual(retried.status, "delivered")
        let voided = try await b.view(id)
        XCTAssertEqual(voided?.status, .voided)
        let audit = try await journal.auditLog().map(\.event)
        XCTAssertTrue(audit.contains("follow-up retried"))
    }

    /// Issue rule: a failed journal write never makes the drain loop spin (and nothing is sent that was not first
    /// recorded as transmitted).
    func testAFailedJournalWriteNeverMakesTheDrainSpin() async throws {
        let b = try book(config(timeout: 0.5))
        await simulator.setRule { _ in .noAnswer }
        let (id, card) = try await sale(b, amount: 1234)
        _ = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        await simulator.setRule(nil)
        try await makeDue()
        let before = await simulator.received.count
        try await journal.db.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA query_only = 1") }
        let started = ContinuousClock.now
        // A drain that spun would never return: race it against a deadline so the test fails instead of hanging.
        let n = await withTaskGroup(of: Int?.self) { g in
            g.addTask { await b.deliverQueue() }
            g.addTask {
                try? await Task.sleep(for: .seconds(20))
                return nil
            }
            let first = await g.next() ?? nil
            g.cancelAll()
            return first
        }
        XCTAssertNotNil(n, "the drain did not end within 20 s")
        let took = ContinuousClock.now - started
        XCTAssertEqual(n, 0)
        let sent = await simulator.received.count - before
        XCTAssertLessThanOrEqual(sent, 1, "one try at most, then the drain ends")
        XCTAssertLessThan(took, .seconds(5), "the drain ended instead of looping")
        try await journal.db.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA query_only = 0") }
        try await makeDue()
        let delivered = await b.deliverQueue()
        XCTAssertEqual(delivered, 1)
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
    }

    /// Issue rule: a stored message that cannot be opened is quarantined with an alert; it never blocks the queue.
    func testAnUnreadableStoredMessageIsQuarantinedAndTheQueueGoesOn() async throws {
        let b = try book(config(timeout: 0.5))
        await simulator.setRule { _ in .noAnswer }
        var ids: [String] = []
        for _ in 0..<2 {
            let (id, card) = try await sale(b, amount: 1234)
            _ = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
            ids.append(id)
        }
        await simulator.setRule(nil)
        let head = try await XCTUnwrapAsync(try await journal.queueHead())
        try await journal.write { db in
            try db.execute(sql: "UPDATE saf SET message = x'00112233' WHERE id = ?", arguments: [head.entry.id])
        }
        try await makeDue()
        let n = await b.deliverQueue()
        XCTAssertEqual(n, 1, "the second reversal went through")
        let first = try await journal.followUp(head.entry.id)
        XCTAssertEqual(first?.status, .quarantined)
        XCTAssertTrue(first?.lastError?.contains("cannot be opened") == true, first?.lastError ?? "")
        let alerts = await recentEvents(.moneyAlert)
        XCTAssertEqual(alerts.first?.transactionID, ids[0])
        // tapd still starts: recovery and the drain pass over it.
        let again = try self.book()
        _ = try await again.recover()
        _ = await again.deliverQueue()
    }

    /// Issue rule: a reversal is never dropped by age; one waiting longer than saf_alert_after raises an alert.
    func testAReversalIsNeverDroppedByAge() async throws {
        let b = try book(config(timeout: 0.5) { $0.safAlertAfter = 3600 })
        await simulator.setRule { _ in .noAnswer }
        let (id, card) = try await sale(b, amount: 1234)
        _ = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        // 40 days later (the acquirer was down all that time).
        try await journal.write { db in
            try db.execute(
                sql: "UPDATE saf SET created_at = ?",
                arguments: [Journal.sqlDate(Date().addingTimeInterval(-40 * 86_400))])
        }
        try await makeDue()
        _ = await b.deliverQueue()
        let waiting = await recentEvents(.moneyAlert)
        XCTAssertTrue(waiting.contains { $0.status == "pending" && $0.transactionID == id }, "\(waiting)")
        let still = try await b.view(id)
        XCTAssertEqual(still?.followUps.first?.status, "pending")
        await simulator.setRule(nil)
        try await makeDue()
        let n = await b.deliverQueue()
        XCTAssertEqual(n, 1)
        let l = await ledger()
        XCTAssertEqual(l.entries.first?.reversalAccepted, true)
    }

    /// An operator closes an entry with a reason (audited); without a reason it is refused.
    func testOperatorsResolveWithAReason() async throws {
        let b = try book(config(timeout: 0.5))
        await simulator.setRule { _ in .noAnswer }
        let (id, card) = try await sale(b, amount: 1234)
        let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        let fid = try XCTUnwrap(v.followUps.first?.id)
        do {
            _ = try await b.resolveFollowUp(fid, reason: " ", actor: "uid=0")
            XCTFail()
        } catch TapdError.invalid {}
        let resolved = try await b.resolveFollowUp(
            fid, reason: "reversed by the acquirer's help desk, ticket 4711", actor: "uid=0 pid=1")
        XCTAssertEqual(resolved.status, "resolved")
        let listed = try await b.followUps(status: .resolved)
        XCTAssertEqual(listed.map(\.id), [fid])
        let audit = try await journal.auditLog()
        XCTAssertTrue(
            audit.contains {
                $0.event == "follow-up resolved" && $0.actor == "uid=0 pid=1" && $0.details?.contains("4711") == true
            })
        let n = await b.deliverQueue()
        XCTAssertEqual(n, 0, "a resolved entry is not sent")
        _ = id
    }

    // MARK: Voids

    /// Issue rule: two concurrent voids of one sale queue one reversal (the journal's unique index).
    func testConcurrentVoidsQueueOneReversal() async throws {
        let b = try book()
        let (id, card) = try await sale(b, amount: 1234)
        _ = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        let results = await withTaskGroup(of: String.self) { g in
            for _ in 0..<6 { g.addTask { (try? await b.void(id, requester: "test").status.rawValue) ?? "error" } }
            return await g.reduce(into: [String]()) { $0.append($1) }
        }
        XCTAssertTrue(results.allSatisfy { $0 == "voided" || $0 == "void_pending" }, "\(results)")
        let final = try await b.view(id)
        XCTAssertEqual(final?.status, .voided)
        XCTAssertEqual(final?.followUps.count, 1)
        let reversals = await simulator.received.filter { $0.mtiClass == "4" }
        XCTAssertEqual(reversals.count, 1)
        XCTAssertEqual(reversals.first?[38], final?.approvalCode, "the void's reversal carries the approval code")
        let again = try await b.void(id, requester: "test")
        XCTAssertEqual(again.status, .voided, "voiding a voided sale is harmless")
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertFalse(l.entries[0].charged)
    }

    func testAVoidIsAllowedOnlyInsideItsWindowAndOnlyForOnlineApprovals() async throws {
        let b = try book(voidWindow: .seconds(600))
        let (id, card) = try await sale(b, amount: 1234)
        _ = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        do {
            _ = try await b.void(id, requester: "test", now: Date().addingTimeInterval(3600))
            XCTFail()
        } catch TapdError.conflict(let why) {
            XCTAssertTrue(why.contains("void window"), why)
        }
        let (id2, card2) = try await sale(b, amount: 850)
        _ = try await b.approveOffline(id2, card: card2, facts: facts())
        do {
            _ = try await b.void(id2, requester: "test")
            XCTFail()
        } catch TapdError.conflict(let why) {
            XCTAssertTrue(why.contains("refund"), why)
        }
        let (id3, card3) = try await sale(b, amount: 1251)
        _ = try await b.authorize(id3, card: card3, facts: facts(), message: "Authorising")
        do {
            _ = try await b.void(id3, requester: "test")
            XCTFail()
        } catch TapdError.conflict {}
        // Same business day: until local midnight.
        var noon = DateComponents()
        noon.year = 2026
        noon.month = 12
        noon.day = 6
        noon.hour = 12
        let day = try XCTUnwrap(Calendar.current.date(from: noon))
        XCTAssertTrue(VoidWindow.sameDay.allows(created: day, now: day.addingTimeInterval(11 * 3600)))
        XCTAssertFalse(VoidWindow.sameDay.allows(created: day, now: day.addingTimeInterval(12 * 3600 + 1)))
        XCTAssertEqual(VoidWindow("30m"), .seconds(1800))
        XCTAssertNil(VoidWindow("soon"))
    }

    // MARK: Recovery

    func testRecoveryReversesWhatMayHaveLeftAndFailsWhatDidNot() async throws {
        let b = try book()
        let codec = try ISO8583Codec(spec: .iso87ASCII)
        // 1. Transmitted, then the process died before the answer.
        let (sent, card) = try await sale(b, amount: 1234)
        let stan = try await journal.nextSTAN()
        let request = Messages.request("0200", card, terminal: config().identity, stan: stan, rrn: "633000000001")
        var persist = SaleChange(.requestPersisted)
        persist.stan = stan
        persist.mti = "0200"
        persist.request = .store(try codec.pack(request))
        try await journal.apply(sent, persist)
        try await journal.apply(sent, SaleChange(.requestTransmitted))
        // 2. Persisted, never transmitted.
        let (kept, card2) = try await sale(b, amount: 1234)
        var persist2 = SaleChange(.requestPersisted)
        persist2.request = .store(
            try codec.pack(Messages.request("0200", card2, terminal: config().identity, stan: "000777", rrn: "1")))
        try await journal.apply(kept, persist2)
        // 3. Still waiting for a card.
        let (waiting, _) = try await sale(b, amount: 1234)

        let touched = try await b.recover()
        XCTAssertEqual(touched, 3)
        let again = try await b.recover()
        XCTAssertEqual(again, 0, "a second start does not reverse again")
        _ = await b.deliverQueue()
        let reversals = await simulator.received.filter { $0.mtiClass == "4" }
        XCTAssertEqual(reversals.map { $0[11] }, [stan])
        let v1 = try await b.view(sent)
        let v2 = try await b.view(kept)
        let v3 = try await b.view(waiting)
        XCTAssertEqual(v1?.journalState, "unanswered")
        XCTAssertEqual(v1?.followUps.first?.status, "delivered")
        XCTAssertEqual(v2?.journalState, "failed")
        XCTAssertEqual(v2?.followUps.count, 0, "it never left: nothing to reverse")
        XCTAssertEqual(v3?.status, .failed)
    }

    /// A sale left in request_transmitted while tapd runs (the journal refused to record its answer) is settled on
    /// the next tick as a restart would: reversed once, and not again.
    func testAStrandedSaleIsSettledWhileTapdRuns() async throws {
        let b = try book()
        let codec = try ISO8583Codec(spec: .iso87ASCII)
        let (id, card) = try await sale(b, amount: 1234)
        let stan = try await journal.nextSTAN()
        var persist = SaleChange(.requestPersisted)
        persist.stan = stan
        persist.request = .store(
            try codec.pack(Messages.request("0200", card, terminal: config().identity, stan: stan, rrn: "1")))
        try await journal.apply(id, persist)
        try await journal.apply(id, SaleChange(.requestTransmitted))
        let n = await b.settleStranded()
        XCTAssertEqual(n, 1)
        let again = await b.settleStranded()
        XCTAssertEqual(again, 0)
        let v = try await b.view(id)
        XCTAssertEqual(v?.journalState, "unanswered")
        XCTAssertEqual(v?.followUps.map(\.kind), ["reversal"])
    }

    /// A request that may have left but whose stored copy no longer opens is still owed a reversal: it is listed,
    /// quarantined, with a money alert, until an operator settles it — never silently forgotten.
    func testAnUnreversibleRequestIsListedForAnOperator() async throws {
        let b = try book()
        let (id, _) = try await sale(b, amount: 1234)
        var persist = SaleChange(.requestPersisted)
        persist.stan = "000321"
        persist.request = .store([0x00, 0x01])  // not an ISO 8583 message: cannot be unpacked
        try await journal.apply(id, persist)
        try await journal.apply(id, SaleChange(.requestTransmitted))
        _ = try await b.recover()
        let v = try await XCTUnwrapAsync(try await b.view(id))
        XCTAssertEqual(v.journalState, "unanswered")
        XCTAssertEqual(v.followUps.map { "\($0.kind) \($0.status)" }, ["reversal quarantined"])
        XCTAssertTrue(v.followUps.first?.lastError?.contains("000321") == true, "\(v.followUps)")
        let alerts = await recentEvents(.moneyAlert)
        XCTAssertTrue(alerts.contains { $0.transactionID == id })
        let report = try JournalInspection.inspect(path: journal.path)
        XCTAssertEqual(report.quarantined, 1, "tapctl diagnose FAILs on it")
    }

    /// Start-up recovery also finds offline approvals without an advice (journals from before v4).
    func testRecoveryAdvisesAnOfflineApprovalWithoutAdvice() async throws {
        let b = try book()
        let (id, card) = try await sale(b, amount: 850)
        let codec = try ISO8583Codec(spec: .iso87ASCII)
        var change = SaleChange(.approvedOffline)
        change.request = .store(
            try codec.pack(Messages.advice(card, terminal: config().identity, stan: "000500", rrn: "1")))
        try await journal.apply(id, change)
        let n = try await b.recover()
        XCTAssertEqual(n, 1)
        _ = await b.deliverQueue()
        let advices = await simulator.received.filter { $0.mti == "0220" }
        XCTAssertEqual(advices.count, 1)
        let again = try await b.recover()
        XCTAssertEqual(again, 0)
    }

    /// In dual-message mode an offline approval found without its advice gets the advice and the completion that
    /// captures it: the merchant is paid for it exactly once.
    func testRecoveryInDualMessageModeAlsoCapturesAnOfflineApproval() async throws {
        let b = try book(config { $0.requestMTI = "0100" })
        let (id, card) = try await sale(b, amount: 850)
        let codec = try ISO8583Codec(spec: .iso87ASCII)
        var change = SaleChange(.approvedOffline)
        change.request = .store(
            try codec.pack(Messages.advice(card, mti: "0120", terminal: config().identity, stan: "000501", rrn: "1")))
        try await journal.apply(id, change)
        let n = try await b.recover()
        XCTAssertEqual(n, 1)
        _ = await b.deliverQueue()
        let seen = await simulator.received.map(\.mti)
        XCTAssertEqual(seen, ["0120", "0220"])
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertEqual(l.entries.first?.captured, true)
        let again = try await b.recover()
        XCTAssertEqual(again, 0)
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

func XCTUnwrapAsync<T>(_ value: T?, file: StaticString = #filePath, line: UInt = #line) async throws -> T {
    try XCTUnwrap(value, file: file, line: line)
}
