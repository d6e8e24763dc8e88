// Refunds and pre-authorisations on the SaleBook, on real parts: the journal on a real SQLite file, the acquirer
// simulator over mutual TLS, real cryptograms from the virtual cards through the real kernels. The proof of each
// money rule is the acquirer's ledger.

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

extension SaleBookTests {
    /// A real tap of `kind` with a virtual card (a refund runs as 9C 20, a pre-authorisation forced online) and the
    /// transaction opened for it.
    func tap(
        _ b: SaleBook, _ profile: CardProfile = .visaCard(), amount: UInt64, kind: TransactionKind,
        original: String? = nil
    ) async throws -> (id: String, card: CardTransaction) {
        var keys = try CAKeyStore.bundled(includeTestKeys: true)
        try VirtualCard.pki(for: profile.scheme).register(in: &keys)
        let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
        let txn = TransactionParameters(
            amount: amount, type: kind == .refund ? .refund : .purchase, forcedOnline: kind == .preauth,
            date: EMVDate(year: 2026, month: 11, day: 26)!)
        let o = await ep.process(card: try VirtualCard(profile), transaction: txn, combinations: ep.preProcess(txn)!)
        XCTAssertEqual(o.kind, kind == .refund ? .endApplication : .onlineRequest, o.reason ?? "")
        if kind == .refund { XCTAssertEqual(o.cryptogram?.kind, .aac, "cards answer a refund with an AAC") }
        let card = try OnlineRequest.cardTransaction(from: o)
        let (v, _) = try await b.open(
            idempotencyKey: UUID().uuidString, amount: Int64(amount), currency: 978, message: "Present card",
            kind: kind, originalID: original)
        return (v.id, card)
    }

    func testARefundGoesOnlineAs0200WithProcessingCode20AndTheCardsAAC() async throws {
        let b = try book()
        for profile in [CardProfile.visaCard(), .mastercardCard()] {
            let (id, card) = try await tap(b, profile, amount: 700, kind: .refund)
            let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising", kind: .refund)
            XCTAssertEqual(v.status, .approved, v.reason ?? "")
            XCTAssertEqual(v.type, "refund")
        }
        let seen = await simulator.received
        XCTAssertEqual(seen.map(\.mti), ["0200", "0200"])
        XCTAssertEqual(seen.map { $0[3] }, ["200000", "200000"], "DE 3: 20, a return")
        XCTAssertTrue(seen.allSatisfy { $0.bytes(55) != nil }, "DE 55 with the card's cryptogram")
        // The simulator verified each AAC with the issuer key (a mismatch would have answered 05).
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertEqual(l.entries.filter { $0.isCredit && $0.charged }.count, 2)
    }

    func testALinkedRefundCannotExceedWhatIsLeftOfItsSale() async throws {
        let b = try book()
        let (saleID, card) = try await sale(b, amount: 1000)
        _ = try await b.authorize(saleID, card: card, facts: facts(), message: "Authorising")
        let (r1, c1) = try await tap(b, amount: 600, kind: .refund, original: saleID)
        let first = try await b.authorize(r1, card: c1, facts: facts(), message: "Authorising", kind: .refund)
        XCTAssertEqual(first.originalID, saleID)
        let left = try await journal.refundable(saleID, currency: 978)
        XCTAssertEqual(left, 400)
        do {
            _ = try await b.open(
                idempotencyKey: "too-much", amount: 401, currency: 978, message: "", kind: .refund, originalID: saleID)
            XCTFail("a refund of more than is left was opened")
        } catch JournalError.refundExceedsOriginal(let id, let left) {
            XCTAssertEqual(id, saleID)
            XCTAssertEqual(left, 400)
        }
        // A refund still waiting for its card holds its amount: two refunds of the rest cannot both start.
        _ = try await b.open(
            idempotencyKey: "rest", amount: 400, currency: 978, message: "", kind: .refund, originalID: saleID)
        do {
            _ = try await b.open(
                idempotencyKey: "again", amount: 1, currency: 978, message: "", kind: .refund, originalID: saleID)
            XCTFail("the held amount was refunded twice")
        } catch JournalError.refundExceedsOriginal {}
        // Only a sale that took money can be refunded against.
        do {
            _ = try await b.open(
                idempotencyKey: "of-refund", amount: 1, currency: 978, message: "", kind: .refund, originalID: r1)
            XCTFail("a refund of a refund")
        } catch JournalError.notRefundable {}
    }

    func testAPreauthorisationIsCompletedOnceWithinItsToleranceThroughStoreAndForward() async throws {
        await simulator.setCaptureTolerance(20)
        let b = try book()
        let (id, card) = try await tap(b, amount: 10_000, kind: .preauth)
        let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising", kind: .preauth)
        XCTAssertEqual(v.status, .approved, v.reason ?? "")
        XCTAssertTrue(v.followUps.isEmpty, "no capture before the merchant completes it")
        let open = try await b.openPreauthorisations()
        XCTAssertEqual(open.map(\.id), [id])
        // Above the tolerance: refused, nothing queued.
        do {
            _ = try await b.complete(id, amount: 12_001, tolerancePercent: 20, requester: "test")
            XCTFail("a completion above the tolerance")
        } catch TapdError.conflict {}
        let done = try await b.complete(id, amount: 11_500, tolerancePercent: 20, requester: "test")
        XCTAssertEqual(done.status, .completed)
        XCTAssertEqual(done.completedAmount, 11_500)
        // A repeated completion (a POS retry) is the same completion; another amount is a conflict.
        let again = try await b.complete(id, amount: 11_500, tolerancePercent: 20, requester: "test")
        XCTAssertEqual(again.followUps.count, 1)
        do {
            _ = try await b.complete(id, amount: 9_000, tolerancePercent: 20, requester: "test")
            XCTFail("a second completion")
        } catch TapdError.conflict {}
        let delivered = await b.deliverQueue()
        XCTAssertEqual(delivered, 1)
        let seen = await simulator.received
        XCTAssertEqual(seen.map(\.mti), ["0100", "0220"])
        XCTAssertEqual(seen.last?[4], "000000011500")
        XCTAssertEqual(seen.last?[90]?.prefix(10), "0100" + (seen.first?[11] ?? ""), "DE 90 names the 0100")
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertEqual(l.entries.first?.capturedAmount, 11_500)
        let openAfter = try await b.openPreauthorisations()
        XCTAssertTrue(openAfter.isEmpty)
    }

    func testCancellingOrExpiringAPreauthorisationReleasesItWithAReversal() async throws {
        let b = try book()
        let (id, card) = try await tap(b, amount: 5_000, kind: .preauth)
        _ = try await b.authorize(id, card: card, facts: facts(), message: "Authorising", kind: .preauth)
        let released = try await b.void(id, requester: "test", reason: "pre-authorisation released")
        XCTAssertEqual(released.status, .voided, released.reason ?? "")
        // Another one, left open past the expiry: released by the expiry sweep, not before.
        let (id2, card2) = try await tap(b, amount: 6_000, kind: .preauth)
        _ = try await b.authorize(id2, card: card2, facts: facts(), message: "Authorising", kind: .preauth)
        let early = await b.expirePreauthorisations(after: 7 * 86_400)
        XCTAssertEqual(early, 0)
        let expired = await b.expirePreauthorisations(after: 7 * 86_400, now: Date().addingTimeInterval(8 * 86_400))
        XCTAssertEqual(expired, 1)
        let v2 = try await b.view(id2)
        XCTAssertEqual(v2?.status, .voided)
        // A released pre-authorisation cannot be completed.
        do {
            _ = try await b.complete(id, amount: 100, tolerancePercent: 0, requester: "test")
            XCTFail("a released pre-authorisation was completed")
        } catch TapdError.conflict {}
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        XCTAssertEqual(l.entries.count, 2)
        XCTAssertTrue(l.entries.allSatisfy { $0.reversalAccepted && !$0.charged && !$0.captured })
    }
}

// MARK: End of day

extension SaleBookTests {
    /// An approved online sale of `amount` (the default Visa card).
    func approvedSale(_ b: SaleBook, _ amount: UInt64) async throws -> String {
        let (id, card) = try await sale(b, amount: amount)
        let v = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        XCTAssertEqual(v.status, .approved, v.reason ?? "")
        return id
    }

    func testABatchInBalanceClosesWithItsTotalsAndLaterSalesGoToTheNextBatch() async throws {
        let b = try book()
        let kept = try await approvedSale(b, 1000)
        let voided = try await approvedSale(b, 500)
        _ = try await b.void(voided, requester: "test")
        let (refund, card) = try await tap(b, amount: 300, kind: .refund, original: kept)
        _ = try await b.authorize(refund, card: card, facts: facts(), message: "Authorising", kind: .refund)
        let (declined, dcard) = try await sale(b, amount: 1251)
        _ = try await b.authorize(declined, card: dcard, facts: facts(), message: "Authorising")

        let closed = try await b.closeBatch(requester: "test")
        XCTAssertEqual(closed.state, "closed", closed.lastError ?? "")
        XCTAssertEqual(closed.totals.debits, 2, "the kept sale and the voided one")
        XCTAssertEqual(closed.totals.debitsAmount, 1500)
        XCTAssertEqual(closed.totals.debitReversals, 1)
        XCTAssertEqual(closed.totals.debitReversalsAmount, 500)
        XCTAssertEqual(closed.totals.credits, 1)
        XCTAssertEqual(closed.totals.creditsAmount, 300)
        XCTAssertEqual(closed.net, 700)
        let received = await simulator.received
        let reconciliation = try XCTUnwrap(received.last)
        XCTAssertEqual(reconciliation.mti, "0500")
        XCTAssertEqual(reconciliation[97], "D0000000000000700")
        XCTAssertEqual(reconciliation[60], "000001")
        XCTAssertEqual(reconciliation[3], "920000")
        // Settled: no void any more, a refund still.
        do {
            _ = try await b.void(kept, requester: "test")
            XCTFail("a settled sale was voided")
        } catch TapdError.conflict(let why) { XCTAssertTrue(why.contains("batch 1"), why) }
        let declinedRecord = try await journal.sale(declined)
        XCTAssertEqual(declinedRecord?.batchID, 1, "a declined sale is in the batch's report, not its totals")

        let later = try await approvedSale(b, 2000)
        let second = try await b.closeBatch(requester: "test")
        XCTAssertEqual(second.id, 2)
        XCTAssertEqual(second.totals.debits, 1)
        XCTAssertEqual(second.totals.debitsAmount, 2000)
        let laterRecord = try await journal.sale(later)
        XCTAssertEqual(laterRecord?.batchID, 2)
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        let batches = await simulator.closedBatches
        XCTAssertEqual(batches, ["TAPD0001/1", "TAPD0001/2"])
    }

    /// The acquirer approved a sale whose answer came too late for tapd (it reversed it): the acquirer counts a debit
    /// and its reversal, tapd neither, so the first reconciliation is out of balance (95). tapd uploads each
    /// transaction of the batch (0320) and reconciles again (96…): in balance, closed once.
    func testOutOfBalanceUploadsTheBatchAndReconcilesAgain() async throws {
        let b = try book(config(timeout: 0.5))
        _ = try await approvedSale(b, 1000)
        let voided = try await approvedSale(b, 700)  // voided: moves no money, not uploaded
        _ = try await b.void(voided, requester: "test")
        let (late, card) = try await sale(b, amount: 1293)  // answered after 3 s: tapd gives up at 0.5 s
        let v = try await b.authorize(late, card: card, facts: facts(), message: "Authorising")
        XCTAssertEqual(v.journalState, "unanswered")
        try await Task.sleep(for: .seconds(3))  // the late approval reaches the acquirer's ledger
        _ = await b.deliverQueue()  // the reversal
        let (refund, rcard) = try await tap(b, amount: 200, kind: .refund)
        _ = try await b.authorize(refund, card: rcard, facts: facts(), message: "Authorising", kind: .refund)

        let closed = try await b.closeBatch(requester: "test")
        XCTAssertEqual(closed.state, "closed", closed.lastError ?? "")
        XCTAssertEqual(closed.responseCode, "00")
        XCTAssertEqual(closed.uploaded, 2, "the sale and the refund, not the unanswered one")
        let mtis = await simulator.received.map(\.mti).filter { ["0500", "0320"].contains($0) }
        XCTAssertEqual(mtis, ["0500", "0320", "0320", "0500"])
        let all = await simulator.received
        let last = try XCTUnwrap(all.last)
        XCTAssertEqual(last[3], "960000")
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
    }

    /// A reconciliation request that gets no answer leaves the close under way; the next call repeats it (0501) with
    /// the same STAN and the batch is closed once.
    func testAnUnansweredReconciliationIsRepeatedAndTheBatchClosedOnce() async throws {
        let b = try book(config(timeout: 0.5))
        _ = try await approvedSale(b, 1000)
        await simulator.setRule { m in m.mti == "0500" ? .noAnswer : nil }
        let pending = try await b.closeBatch(requester: "test")
        XCTAssertEqual(pending.state, "closing")
        XCTAssertNotNil(pending.lastError)
        // A sale made meanwhile is not in the batch being closed.
        await simulator.setRule(nil)
        _ = try await approvedSale(b, 4000)
        let closed = try await b.closeBatch(requester: "test")
        XCTAssertEqual(closed.id, 1)
        XCTAssertEqual(closed.state, "closed")
        XCTAssertEqual(closed.totals.debitsAmount, 1000)
        // The acquirer's view has the sale made meanwhile too: out of balance, the batch uploaded, then in balance.
        let seen = await simulator.received.filter { $0.mtiClass == "5" || $0.mtiClass == "3" }
        XCTAssertEqual(seen.map(\.mti), ["0500", "0501", "0320", "0500"])
        XCTAssertEqual(seen[0][11], seen[1][11], "the repeat keeps its STAN")
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
        // The acquirer settled only the first sale in batch 1: the second one waits for batch 2 at both ends.
        let next = try await b.closeBatch(requester: "test")
        XCTAssertEqual(next.id, 2)
        XCTAssertEqual(next.state, "closed", next.lastError ?? "")
        XCTAssertEqual(next.totals.debitsAmount, 4000)
    }
}

// MARK: Money moves once (each rule's race checked in the journal's own transaction)

extension SaleBookTests {
    func testARefundedSaleIsNotVoidedAndASaleBeingVoidedIsNotRefunded() async throws {
        let b = try book(config(timeout: 0.5))
        let sale = try await approvedSale(b, 1000)
        let (refund, card) = try await tap(b, amount: 300, kind: .refund, original: sale)
        _ = try await b.authorize(refund, card: card, facts: facts(), message: "Authorising", kind: .refund)
        do {
            _ = try await b.void(sale, requester: "test")
            XCTFail("a refunded sale was voided: the customer would get the money back twice")
        } catch JournalError.moneyConflict {}
        // A void whose reversal waits for the acquirer: no refund beside it.
        let other = try await approvedSale(b, 2000)
        await simulator.setRule { m in m.mtiClass == "4" ? .noAnswer : nil }
        let pending = try await b.void(other, requester: "test")
        XCTAssertEqual(pending.status, .voidPending)
        do {
            _ = try await b.open(
                idempotencyKey: "refund-of-voiding", amount: 100, currency: 978, message: "", kind: .refund,
                originalID: other)
            XCTFail("a sale being voided was refunded")
        } catch JournalError.notRefundable {}
        await simulator.setRule(nil)
        let l = await ledger()
        XCTAssertEqual(l.violations, [])
    }

    func testAPreauthorisationBeingReleasedIsNotCompleted() async throws {
        let b = try book(config(timeout: 0.5))
        let (id, card) = try await tap(b, amount: 5_000, kind: .preauth)
        _ = try await b.authorize(id, card: card, facts: facts(), message: "Authorising", kind: .preauth)
        await simulator.setRule { m in m.mtiClass == "4" ? .noAnswer : nil }
        _ = try await b.void(id, requester: "test", reason: "pre-authorisation released")
        do {
            _ = try await b.complete(id, amount: 5_000, tolerancePercent: 0, requester: "test")
            XCTFail("a completion was queued beside the release")
        } catch let e as TapdError {
            XCTAssertEqual(e.httpStatus, 409, "\(e)")
        }
        await simulator.setRule(nil)
        let record = try await journal.sale(id)
        XCTAssertFalse(record?.followUps.contains { $0.kind == .capture } ?? true, "no capture queued")
    }

    func testTheJournalRefusesAVoidOfASettledSale() async throws {
        let b = try book()
        let sale = try await approvedSale(b, 1000)
        _ = try await journal.startBatch(reversals: .separate)
        // The check inside the transition's transaction, whatever the caller read before.
        var change = SaleChange(.approved)
        change.enqueue = [NewFollowUp(kind: .reversal, mti: "0400", message: [0x30])]
        do {
            _ = try await journal.apply(sale, change)
            XCTFail("a reversal of a settled sale was queued")
        } catch JournalError.moneyConflict(_, let why) { XCTAssertTrue(why.contains("batch 1"), why) }
    }

    func testMessagesOfAWindowThatNeverLeftAreUnmarked() async throws {
        let b = try book(config(timeout: 0.5) { $0.drainBeforeOnline = false })
        for i in 0..<3 {
            let (id, card) = try await sale(b, amount: 1291 + UInt64(i) * 100)  // .91: unanswered, reversal queued
            _ = try await b.authorize(id, card: card, facts: facts(), message: "Authorising")
        }
        try await makeDue()
        // The acquirer drops the connection on the head's reversal: the two behind it in the window never leave.
        await simulator.setRule { m in m.mtiClass == "4" ? .drop : nil }
        _ = await b.deliverQueue()
        let queue = try await journal.followUps(status: .pending)
        XCTAssertEqual(queue.count, 3)
        XCTAssertEqual(queue.first?.transmitted, true, "the head was written")
        XCTAssertEqual(queue.dropFirst().map(\.transmitted), [false, false], "not sent, not marked")
        await simulator.setRule(nil)
    }

    func testAnAnsweredButRefusedReconciliationIsAskedAgainAfreshAndSettlingTwiceAtOnceClosesOneBatch() async throws {
        let b = try book()
        _ = try await approvedSale(b, 1000)
        final class Once: @unchecked Sendable { var done = false }
        let once = Once()
        await simulator.setRule { m in
            guard m.mtiClass == "5", !once.done else { return nil }
            once.done = true
            return .answer(responseCode: "96")
        }
        let refused = try await b.closeBatch(requester: "test")
        XCTAssertEqual(refused.state, "closing")
        async let a = b.closeBatch(requester: "a")
        async let c = b.closeBatch(requester: "c")
        let (first, second) = try await (a, c)
        XCTAssertEqual(first.id, second.id, "one close, shared")
        XCTAssertEqual(first.state, "closed")
        let reconciliations = await simulator.received.filter { $0.mtiClass == "5" }
        XCTAssertEqual(
            reconciliations.map(\.mti), ["0500", "0500"], "a fresh request, not a repeat of the refused one")
        XCTAssertNotEqual(reconciliations[0][11], reconciliations[1][11])
        let batches = try await b.batches()
        XCTAssertEqual(batches.count, 1)
    }
}

extension SaleBookTests {
    func testAReportCountsEachStateWithItsAdvicesHeldAmountsAndTheNet() async throws {
        let b = try book()
        _ = try await approvedSale(b, 1000)
        let (offline, card) = try await sale(b, amount: 850)
        _ = try await b.approveOffline(offline, card: card, facts: facts())
        _ = await b.deliverQueue()
        let (declined, dcard) = try await sale(b, amount: 1251)
        _ = try await b.authorize(declined, card: dcard, facts: facts(), message: "Authorising")
        let (pre, pcard) = try await tap(b, amount: 5_000, kind: .preauth)
        _ = try await b.authorize(pre, card: pcard, facts: facts(), message: "Authorising", kind: .preauth)
        let (refund, rcard) = try await tap(b, amount: 300, kind: .refund)
        _ = try await b.authorize(refund, card: rcard, facts: facts(), message: "Authorising", kind: .refund)
        let groups = try await journal.report(from: Date().addingTimeInterval(-3600), to: Date().addingTimeInterval(60))
        let report = Report(groups, from: nil, to: nil, batch: nil, currency: "EUR")
        XCTAssertEqual(report.total.count, 5)
        XCTAssertEqual(report.total.approved, 3, "the sale, the offline one and the refund")
        XCTAssertEqual(report.total.declined, 1)
        XCTAssertEqual(report.total.offlineApprovals, 1)
        XCTAssertEqual(report.total.advicesDelivered, 1)
        XCTAssertEqual(report.total.held, 1)
        XCTAssertEqual(report.total.heldAmount, 5_000, "a pre-authorisation holds, it is not money")
        XCTAssertEqual(report.net, 1000 + 850 - 300)
        XCTAssertEqual(report.successRate ?? 0, 3.0 / 4.0, accuracy: 0.0001)
        let none = try await journal.report(from: Date().addingTimeInterval(60), to: Date().addingTimeInterval(-60))
        XCTAssertTrue(none.isEmpty, "a period that ends before it begins is empty")
    }
}

extension SaleBookTests {
    /// Card data retention never takes the authorisation an open pre-authorisation is completed or released from.
    func testAnOpenPreauthorisationKeepsItsAuthorisationPastTheRetention() async throws {
        let b = try book()
        let (id, card) = try await tap(b, amount: 5_000, kind: .preauth)
        _ = try await b.authorize(id, card: card, facts: facts(), message: "Authorising", kind: .preauth)
        _ = try await journal.purgeCardData(olderThan: 0, now: Date().addingTimeInterval(30 * 86_400))
        let kept = try await journal.request(of: id)
        XCTAssertNotNil(kept, "purged: the completion could not be built")
        let done = try await b.complete(id, amount: 5_000, tolerancePercent: 0, requester: "test")
        XCTAssertEqual(done.status, .completed)
    }
}
