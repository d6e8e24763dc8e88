// The risk team's levers on a real journal file: each alert rule fires when its limit is passed and stays quiet
// below it; a freeze with an end stops acceptance until then and no longer; freezes and the exception file are read
// back after a restart; a hostile request (a PAN as a card value, an unknown scope, an end in the past) is refused.

import EMVCrypto
import EMVKernel
import Foundation
import Journal
import TLV
import XCTest

@testable import TapdCore

final class RiskControlsTests: XCTestCase {
    var dir: String!
    var journal: Journal!

    override func setUp() async throws {
        dir = NSTemporaryDirectory() + "tapd-risk-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        journal = try Journal(
            path: dir + "/journal.sqlite", key: try JournalKey(bytes: [UInt8](repeating: 3, count: 32)))
    }

    override func tearDown() async throws { try? FileManager.default.removeItem(atPath: dir) }

    func controls(_ rules: RiskSettings = .init()) -> RiskControls {
        RiskControls(
            journal: journal, events: EventHub(), metrics: TapdMetrics(), manager: RiskManager(), rules: rules)
    }

    func kinds(_ r: RiskControls) async -> [String] { await r.status().recentAlerts.map(\.kind).reversed() }

    func testEachAlertRuleFiresAboveItsLimitAndNotBelow() async throws {
        var rules = RiskSettings()
        rules.cardApprovalsPerDay = 2
        rules.cardAmountPerDay = 5000
        rules.terminalSalesPerHour = 3
        rules.terminalAmountPerHour = 7000
        rules.terminalAmountPerDay = 9000
        rules.saleAmountAlert = 4000
        let r = controls(rules)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        await r.approved(amount: 1000, pan: "4761739001010119", transactionID: "a", now: t0)
        await r.approved(amount: 1000, pan: "4761739001010119", transactionID: "b", now: t0 + 60)
        let quiet = await kinds(r)
        XCTAssertEqual(quiet, [], "at the limits nothing fires")
        await r.approved(amount: 1000, pan: "4761739001010119", transactionID: "c", now: t0 + 120)
        let third = await kinds(r)
        XCTAssertEqual(third, ["card_approvals_per_day"])
        await r.approved(amount: 4500, pan: "5413330089020011", transactionID: "d", now: t0 + 180)
        let fourth = await kinds(r)
        XCTAssertEqual(
            Array(fourth.dropFirst()), ["sale_amount", "terminal_sales_per_hour", "terminal_amount_per_hour"])
        // A day later the card and the terminal start afresh.
        await r.approved(amount: 4700, pan: "4761739001010119", transactionID: "e", now: t0 + 86_400 + 200)
        let later = await kinds(r)
        XCTAssertEqual(later.last, "sale_amount", "\(later)")
        XCTAssertFalse(later.suffix(1).contains("card_approvals_per_day"))
        // Alerts carry at most a masked PAN.
        let messages = await r.status().recentAlerts.map(\.message).joined()
        XCTAssertFalse(messages.contains("4761739001010119"))
        XCTAssertTrue(messages.contains("476173"), messages)
        // Amount per card and per terminal per day.
        await r.approved(amount: 600, pan: "4761739001010119", transactionID: "f", now: t0 + 86_400 + 300)
        let amounts = await kinds(r)
        XCTAssertTrue(amounts.suffix(2).contains("card_amount_per_day"), "\(amounts)")
    }

    func testAFreezeWithAnEndStopsAcceptanceUntilThenAndStandsAcrossARestart() async throws {
        let r = controls()
        try await r.load()
        let now = Date()
        let f = try await r.freeze(
            FreezeRequest(
                scope: "aid", value: "a0000000041010", reason: "BIN attack", until: UTCTime.iso8601(now + 3600)),
            by: "test", now: now)
        XCTAssertEqual(f.value, "A0000000041010")
        let blocked = await r.block(
            scheme: "mastercard", aid: Hex.decode("A0000000041010"), pan: nil, transactionID: nil)
        XCTAssertEqual(blocked?.message, .insertSwipeOrTryAnotherCard)
        let other = await r.block(scheme: "visa", aid: Hex.decode("A0000000031010"), pan: nil, transactionID: nil)
        XCTAssertNil(other)
        let afterEnd = await r.block(
            scheme: "mastercard", aid: Hex.decode("A0000000041010"), pan: nil, transactionID: nil, now: now + 3601)
        XCTAssertNil(afterEnd, "a freeze ends at its until")

        // A card, by its PAN: kept as a keyed hash, shown masked; read back by a new instance (a restart).
        let card = try await r.freeze(
            FreezeRequest(scope: "card", pan: "5413330089020011", reason: "stolen"), by: "test")
        XCTAssertEqual(card.value, "541333******0011")
        let stored = try await journal.activeFreezes().last?.value ?? ""
        XCTAssertEqual(stored.count, 64, "an HMAC-SHA-256, in hex")
        XCTAssertNotEqual(stored, Hex.encode(Digest.sha256(Array("5413330089020011".utf8))).lowercased())
        let restarted = controls()
        try await restarted.load()
        let again = await restarted.block(scheme: "mastercard", aid: nil, pan: "5413330089020011", transactionID: nil)
        XCTAssertEqual(again?.message, .notAuthorised)
        XCTAssertEqual(again?.freeze.reason, "stolen")
        let otherCard = await restarted.block(
            scheme: "mastercard", aid: nil, pan: "5413330089020029", transactionID: nil)
        XCTAssertNil(otherCard)
    }

    func testHostileFreezeRequestsAreRefused() async throws {
        let r = controls()
        try await r.load()
        for bad in [
            FreezeRequest(scope: "card", value: "5413330089020011", reason: "a card is named by pan"),
            FreezeRequest(scope: "card", pan: "54133300", reason: "too short"),
            FreezeRequest(scope: "card", pan: "5413x30089020011", reason: "not digits"),
            FreezeRequest(scope: "scheme", value: "visa", pan: "5413330089020011", reason: "pan on a scheme"),
            FreezeRequest(scope: "galaxy", reason: "unknown scope"),
            FreezeRequest(scope: "scheme", value: "bogus", reason: "unknown scheme"),
            FreezeRequest(scope: "aid", value: "A000", reason: "too short"),
            FreezeRequest(scope: "terminal", value: "x", reason: "a terminal takes no value"),
            FreezeRequest(scope: "terminal", reason: ""),
            FreezeRequest(scope: "terminal", reason: "two\nlines"),
            FreezeRequest(scope: "terminal", reason: "no zone", until: "2099-01-01T00:00:00"),
            FreezeRequest(scope: "terminal", reason: "   "),
            FreezeRequest(scope: "scheme", value: "VISA", reason: "schemes are named in lower case"),
        ] {
            do {
                _ = try await r.freeze(bad, by: "test")
                XCTFail("accepted \(bad)")
            } catch TapdError.invalid {
            } catch { XCTFail("\(error)") }
        }
        let none = await r.status().frozen
        XCTAssertEqual(none, [])
        // An end already past is kept as given: recorded, and ended at once (it stops nothing).
        let ended = try await r.freeze(
            FreezeRequest(scope: "terminal", reason: "past", until: "2020-01-01T00:00:00+02:00"), by: "test")
        XCTAssertFalse(ended.active)
        let stillNone = await r.status().frozen
        XCTAssertEqual(stillNone, [])
        do {
            _ = try await r.unfreeze(4242, by: "test")
            XCTFail("no such freeze")
        } catch TapdError.missing {}
    }
}
