// The risk team's levers against a running tapd (real process, libnfc PN532 emulator, acquirer simulator over
// mutual TLS): freezes stop acceptance at once for their scope — a sale already waiting for its card included —
// with the Book A message the customer should see and nothing sent to the acquirer; the exception file is replaced
// without a restart (a bad one refused, the old one kept); both survive a restart; every change is audited with
// the caller and raises an alert (event, metric).

import ControlAPI
import EMVCrypto
import Foundation
import Journal
import Simulators
import TLV
import TestSupport
import XCTest

final class RiskControlTests: XCTestCase {
    func daemon() async throws -> DaemonHarness {
        let h = try await DaemonHarness()
        addTeardownBlock { await h.shutdown() }
        try h.writeConfig(pcsc: false, extra: "")
        try await h.start()
        try await h.waitForReaders([h.emulator.connstring])
        return h
    }

    func status(_ h: DaemonHarness) async throws -> [String: Any] {
        let r = try await h.client.get("/v1/risk")
        return try XCTUnwrap(r.json as? [String: Any])
    }

    func financialRequests(_ h: DaemonHarness) async -> Int {
        await h.simulator.received.filter { $0.mti == "0200" }.count
    }

    func testFreezesStopAcceptanceAtOnceForTheirScopeAndSurviveARestart() async throws {
        let h = try await daemon()
        let tapctl = Tool.buildDirectory + "/tapctl"
        let open = try await status(h)
        XCTAssertEqual((open["frozen"] as? [Any])?.count, 0)

        // A scheme: a Visa card is refused with "try another card", nothing goes to the acquirer; a Mastercard passes.
        let (rc, text) = try Tool.run(
            tapctl, ["risk", "freeze", "--scheme", "visa", "--reason", "fraud ring on visa", "--socket", h.socket])
        XCTAssertEqual(rc, 0, text)
        XCTAssertTrue(text.contains("scheme visa"), text)
        h.emulator.present(try VirtualCard(.visaCard()))
        let (_, v) = try await h.sale(1000)
        let refused = try await h.wait(v["id"] as? String ?? "")
        XCTAssertEqual(refused["status"] as? String, "declined", "\(refused)")
        XCTAssertEqual(refused["message"] as? String, "Insert, swipe or try another card")
        XCTAssertTrue((refused["reason"] as? String ?? "").contains("fraud ring on visa"), "\(refused)")
        let afterVisa = await financialRequests(h)
        XCTAssertEqual(afterVisa, 0, "a frozen scheme sends nothing")
        h.emulator.present(nil)
        h.emulator.present(try VirtualCard(.mastercardCard()))
        let (_, m) = try await h.sale(1000)
        let passed = try await h.wait(m["id"] as? String ?? "")
        XCTAssertEqual(passed["status"] as? String, "approved", "\(passed)")
        h.emulator.present(nil)

        // One card, its PAN read from standard input (never argv); tapd answers with the masked PAN only.
        let (crc, ctext) = try Tool.run(
            tapctl, ["risk", "freeze", "--card", "--reason", "reported stolen", "--socket", h.socket],
            input: "5413330089020011\n")
        XCTAssertEqual(crc, 0, ctext)
        XCTAssertFalse(ctext.contains("5413330089020011"), "the PAN is never answered")
        XCTAssertTrue(ctext.contains("541333******0011"), ctext)
        h.emulator.present(try VirtualCard(.mastercardCard()))
        let (_, c) = try await h.sale(1000)
        let card = try await h.wait(c["id"] as? String ?? "")
        XCTAssertEqual(card["status"] as? String, "declined")
        XCTAssertEqual(card["message"] as? String, "Not authorised")
        h.emulator.present(nil)

        // The terminal, while a sale waits for its card: that sale ends declined once the card is read, and a new
        // sale is refused at once (409: the risk team's decision, not an outage).
        let (_, waiting) = try await h.sale(1000)
        let waitingID = waiting["id"] as? String ?? ""
        _ = try await h.wait(waitingID, for: "waiting") { $0["status"] as? String == "waiting_for_card" }
        let frozen = try await h.client.post(
            "/v1/risk/freeze", json: ["scope": "terminal", "reason": "terminal compromised"])
        XCTAssertEqual(frozen.status, 201)
        let terminalFreeze = try XCTUnwrap((frozen.json as? [String: Any])?["id"] as? Int)
        h.emulator.present(try VirtualCard(.visaCard()))
        let inFlight = try await h.wait(waitingID)
        XCTAssertEqual(inFlight["status"] as? String, "declined", "\(inFlight)")
        XCTAssertEqual(inFlight["message"] as? String, "Not authorised")
        let refusedSale = try await h.client.post(
            "/v1/transactions", json: ["amount": 1000, "idempotency_key": UUID().uuidString])
        XCTAssertEqual(refusedSale.status, 409)
        XCTAssertTrue(
            (refusedSale.errorMessage ?? "").contains("terminal compromised"), "\(refusedSale.errorMessage ?? "")")
        h.emulator.present(nil)
        let stillOne = await financialRequests(h)
        XCTAssertEqual(stillOne, 1, "only the Mastercard sale went to the acquirer")

        // Bad requests are refused with the rule that was broken; a PAN is never accepted as a card value.
        let bad = try await h.client.post(
            "/v1/risk/freeze", json: ["scope": "card", "value": "5413330089020011", "reason": "x"])
        XCTAssertEqual(bad.status, 422)
        let noPAN = try await h.client.post("/v1/risk/freeze", json: ["scope": "card", "pan": "4111", "reason": "x"])
        XCTAssertEqual(noPAN.status, 422)
        let badScope = try await h.client.post("/v1/risk/freeze", json: ["scope": "planet", "reason": "x"])
        XCTAssertEqual(badScope.status, 422)

        // No full PAN and no card hash anywhere the risk team or a log reader sees.
        let riskText = String(decoding: (try await h.client.get("/v1/risk")).body, as: UTF8.self)
        XCTAssertFalse(riskText.contains("5413330089020011"))
        XCTAssertFalse(h.logText().contains("5413330089020011"), "the PAN is never logged")
        // Alerts, metrics and the audit log know what happened.
        let metrics = String(decoding: (try await h.client.get("/metrics")).body, as: UTF8.self)
        XCTAssertTrue(metrics.contains("tapd_risk_frozen_scopes 3"), metrics)
        XCTAssertTrue(metrics.contains("tapd_risk_alerts_total{kind=\"frozen\"}"), metrics)
        let now = try await status(h)
        XCTAssertEqual((now["frozen"] as? [Any])?.count, 3)
        XCTAssertTrue(
            (now["recent_alerts"] as? [[String: Any]] ?? []).contains { ($0["kind"] as? String) == "frozen" })

        // A restart keeps every freeze; lifting one opens its scope again.
        h.stop()
        _ = await h.waitForExit()
        try await h.start()
        try await h.waitForReaders([h.emulator.connstring])
        let restarted = try await status(h)
        XCTAssertEqual((restarted["frozen"] as? [Any])?.count, 3, "freezes stand across a restart")
        let lifted = try await h.client.request("DELETE", "/v1/risk/freeze/\(terminalFreeze)")
        XCTAssertEqual(lifted.status, 200)
        XCTAssertEqual((lifted.json as? [String: Any])?["active"] as? Bool, false)
        let (src, stext) = try Tool.run(tapctl, ["risk", "status", "--socket", h.socket])
        XCTAssertEqual(src, 0, stext)
        XCTAssertTrue(stext.contains("2 freeze(s)") && stext.contains("reported stolen"), stext)
        // Audited with the caller: the API's uid and pid, tapctl's as well.
        let journal = try Journal(path: h.journal, key: try JournalKey.read(h.directory + "/journal.key"))
        let audit = try await journal.auditLog(limit: 50)
        let frozenLines = audit.filter { $0.event == "acceptance frozen" }
        XCTAssertEqual(frozenLines.count, 3)
        XCTAssertTrue(frozenLines.allSatisfy { $0.actor.contains("uid") }, "\(frozenLines.map(\.actor))")
        XCTAssertTrue(audit.contains { $0.event == "acceptance unfrozen" })
    }

    /// A Mastercard sale through the daemon, and the first byte of the TVR its request carried in DE 55.
    func tvrByte1OfAMastercardSale(_ h: DaemonHarness) async throws -> UInt8 {
        h.emulator.present(try VirtualCard(.mastercardCard()))
        let (_, t) = try await h.sale(1000)
        _ = try await h.wait(t["id"] as? String ?? "")
        h.emulator.present(nil)
        let received = await h.simulator.received
        let request = try XCTUnwrap(received.last { $0.mti == "0200" })
        let icc = try TLVParser.parse(request.bytes(55) ?? [])
        return try XCTUnwrap(Array(try XCTUnwrap(icc.first { $0.tag == Tag(0x95) }?.value)).first)
    }

    func testTheExceptionFileIsReplacedWithoutARestartAndABadOneIsRefused() async throws {
        let h = try await daemon()
        let tapctl = Tool.buildDirectory + "/tapctl"
        let salt = [UInt8](repeating: 0x5A, count: 16)
        func line(_ pan: String) -> String { Hex.encode(Digest.sha256(salt + Array(pan.utf8))) }
        let file = h.directory + "/exceptions.txt"
        try "# test list\nsalt \(Hex.encode(salt))\n\(line("5413330089020011"))  mastercard test card\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let (rc, text) = try Tool.run(tapctl, ["risk", "exceptions", "load", file, "--socket", h.socket])
        XCTAssertEqual(rc, 0, text)
        XCTAssertTrue(text.contains("1 cards"), text)
        let first = try await status(h)
        let loaded = try XCTUnwrap(first["exception_file"] as? [String: Any])
        XCTAssertEqual(loaded["entries"] as? Int, 1)

        // The next card is checked against it (Book 3 §10.6.1: TVR byte 1 bit 5; M/Chip sends the terminal's TVR to
        // the card in CDOL1 and to the acquirer in DE 55).
        let onFile = try await tvrByte1OfAMastercardSale(h)
        XCTAssertEqual(onFile & 0x10, 0x10, "card appears on the terminal exception file")

        // A file that is not an exception file is refused, naming the line; the one in force stays.
        let bad = try await h.client.request(
            "PUT", "/v1/risk/exception-file", body: Data("salt 00\nnot-a-hash\n".utf8))
        XCTAssertEqual(bad.status, 422)
        XCTAssertTrue((bad.errorMessage ?? "").contains("line 1"), bad.errorMessage ?? "")
        let kept = try await status(h)
        let after = try XCTUnwrap(kept["exception_file"] as? [String: Any])
        XCTAssertEqual(after["sha256"] as? String, loaded["sha256"] as? String)

        // Replaced by an empty list: the same card is no longer on it.
        let empty = try await h.client.request(
            "PUT", "/v1/risk/exception-file", body: Data("salt \(Hex.encode(salt))\n".utf8))
        XCTAssertEqual(empty.status, 200)
        let offFile = try await tvrByte1OfAMastercardSale(h)
        XCTAssertEqual(offFile & 0x10, 0)
    }
}
