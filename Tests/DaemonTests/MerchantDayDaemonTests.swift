// The merchant's day end to end through the real daemon binary: sales, a linked refund and one that would refund too
// much, a pre-authorisation completed within its tolerance and one released, receipts at every printer width, the
// batch close and the day's report — over PC/SC (a real pcscd with vpcd and tapd-vicc, as root) for the refund and
// the libnfc PN532 emulator for the rest, every answer checked against the OpenAPI document, tapctl driving the same
// flows, and the acquirer simulator's ledger as the proof of the money.

import ControlAPI
import Foundation
import Simulators
import TapdCore
import TestSupport
import XCTest

final class MerchantDayDaemonTests: XCTestCase {
    func testTheMerchantsDayThroughTheDaemon() async throws {
        let lab = try? PCSCLab.shared.get()  // nil when not root: the PC/SC refund is then made over libnfc
        let h = try await DaemonHarness()
        addTeardownBlock { await h.shutdown() }
        await h.simulator.setCaptureTolerance(20)
        try h.writeConfig(
            pcsc: lab != nil,
            extra: "")
        // [daemon] and [merchant] settings for the day: a 20 % tolerance, the shop's name on receipts.
        var text = try String(contentsOfFile: h.directory + "/tapd.toml", encoding: .utf8)
        text = text.replacingOccurrences(
            of: "shutdown_grace = 5\n",
            with:
                "shutdown_grace = 5\ncompletion_tolerance_percent = 20\n\n[merchant]\nname = \"Café Ünïcode ☕ of the very long name that never fits\"\nlocation = \"1 Rue de l'Exemple, Paris\"\n"
        )
        try text.write(toFile: h.directory + "/tapd.toml", atomically: true, encoding: .utf8)
        try await h.start()
        let nfc = h.emulator.connstring
        try await h.waitForReaders([nfc] + (lab != nil ? ["Virtual PCD 00 00"] : []))
        let spec = try await h.client.get("/v1/openapi.json")
        let v = try OpenAPIValidator(spec.body)
        func check(_ r: APIResponse, _ schema: String, list: Bool = false, _ what: String) {
            let ref: [String: Any] = ["$ref": "#/components/schemas/\(schema)"]
            guard let json = r.json else { return XCTFail("\(what): not JSON: \(r.status)") }
            let problems = v.validate(json, against: list ? ["type": "array", "items": ref] : ref)
            XCTAssertTrue(problems.isEmpty, "\(what): \(problems)")
        }

        // A sale of 10.00 over libnfc.
        h.emulator.present(try VirtualCard(.visaCard()))
        let started = try await h.sale(1000, reader: nfc)
        let sale = try XCTUnwrap(started.body["id"] as? String)
        let sold = try await h.wait(sale)
        XCTAssertEqual(sold["status"] as? String, "approved", "\(sold)")
        h.emulator.present(nil)

        // A refund of 4.00 of it: over PC/SC when the lab is there.
        let refundID: String
        if let lab {
            // The card arrives after the refund starts, as at a real counter.
            let (code, body) = try await h.refund(400, original: sale, reader: "Virtual PCD 00 00")
            XCTAssertEqual(code, 201, "\(body)")
            refundID = try XCTUnwrap(body["id"] as? String)
            _ = try await h.wait(refundID, for: "waiting") { $0["status"] as? String == "waiting_for_card" }
            let (vicc, _) = try lab.insert("visa-card")
            defer {
                if vicc.isRunning { vicc.terminate() }
                vicc.waitUntilExit()
            }
            _ = try await h.wait(refundID)
        } else {
            h.emulator.present(try VirtualCard(.visaCard()))
            let (code, body) = try await h.refund(400, original: sale, reader: nfc)
            XCTAssertEqual(code, 201, "\(body)")
            refundID = try XCTUnwrap(body["id"] as? String)
        }
        let refunded = try await h.wait(refundID)
        XCTAssertEqual(refunded["status"] as? String, "approved", "\(refunded)")
        XCTAssertEqual(refunded["type"] as? String, "refund")
        XCTAssertEqual(refunded["original_id"] as? String, sale)
        check(try await h.client.get("/v1/transactions/\(refundID)"), "Transaction", "a refund")
        h.emulator.present(nil)
        // 7.00 more is more than the 6.00 left: refused before any card is asked for.
        let (tooMuch, tooMuchBody) = try await h.refund(700, original: sale, reader: nfc)
        XCTAssertEqual(tooMuch, 409, "\(tooMuchBody)")
        XCTAssertTrue(
            ((tooMuchBody["error"] as? [String: Any])?["message"] as? String ?? "").contains("600"), "\(tooMuchBody)")

        // A linked refund goes back to the card that paid: another card is refused.
        h.emulator.present(try VirtualCard(.mastercardCard()))
        let (_, wrongBody) = try await h.refund(100, original: sale, reader: nfc)
        let wrong = try await h.wait(try XCTUnwrap(wrongBody["id"] as? String))
        XCTAssertEqual(wrong["status"] as? String, "declined", "\(wrong)")
        XCTAssertTrue((wrong["reason"] as? String ?? "").contains("not the one that paid"), "\(wrong)")
        h.emulator.present(nil)

        // A pre-authorisation of 100.00, completed for 115.00 (within 20 %); another released.
        h.emulator.present(try VirtualCard(.mastercardCard()))
        let preauth = try await h.preauth(10_000, reader: nfc)
        let pre = try XCTUnwrap(preauth.body["id"] as? String)
        let held = try await h.wait(pre)
        XCTAssertEqual(held["status"] as? String, "approved", "\(held)")
        h.emulator.present(nil)
        check(try await h.client.get("/v1/preauthorisations"), "Transaction", list: true, "open pre-authorisations")
        let over = try await h.client.post("/v1/transactions/\(pre)/complete", json: ["amount": 12_001])
        XCTAssertEqual(over.status, 409, "above what the pre-authorisation allows")
        check(over, "Error", "a completion above the tolerance")
        let completion = try await h.client.post("/v1/transactions/\(pre)/complete", json: ["amount": 11_500])
        XCTAssertEqual(completion.status, 200, String(decoding: completion.body, as: UTF8.self))
        check(completion, "Transaction", "POST complete")
        let completed = try await h.wait(pre, for: "captured") { t in
            t["status"] as? String == "completed"
                && ((t["follow_ups"] as? [[String: Any]]) ?? []).allSatisfy { $0["status"] as? String == "delivered" }
        }
        XCTAssertEqual(completed["completed_amount"] as? Int, 11_500)
        h.emulator.present(try VirtualCard(.visaCard()))
        let second = try await h.preauth(5_000, reader: nfc)
        let other = try XCTUnwrap(second.body["id"] as? String)
        _ = try await h.wait(other)
        h.emulator.present(nil)
        let released = try await h.client.post("/v1/transactions/\(other)/cancel")
        XCTAssertEqual((released.json as? [String: Any])?["status"] as? String, "voided", "the release reversed it")

        // Receipts: every width, both copies, text and JSON.
        for width in [32, 42, 48] {
            let r = try await h.client.get("/v1/transactions/\(sale)/receipt?copy=customer&format=text&width=\(width)")
            XCTAssertEqual(r.status, 200)
            let lines = String(decoding: r.body, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            XCTAssertTrue(lines.allSatisfy { $0.count <= width }, "a line wider than \(width)")
            let text = String(decoding: r.body, as: UTF8.self)
            XCTAssertTrue(text.contains("**** 0119"), text)
            XCTAssertTrue(text.contains("10.00 EUR"), text)
            XCTAssertTrue(text.contains("Café Ünïcode ☕"), text)
            XCTAssertTrue(text.contains("A0000000031010"), text)
            XCTAssertTrue(text.contains("contactless"), text)
            XCTAssertFalse(text.contains(CardProfile.visaCard().pan))
        }
        let merchantCopy = try await h.client.get("/v1/transactions/\(pre)/receipt?copy=merchant")
        check(merchantCopy, "Receipt", "a merchant's receipt")
        let receipt = try XCTUnwrap(merchantCopy.json as? [String: Any])
        XCTAssertEqual(receipt["pan"] as? String, "541333******0011")
        XCTAssertEqual(receipt["transaction_type"] as? String, "COMPLETION")
        XCTAssertEqual(receipt["amount_text"] as? String, "115.00 EUR")
        check(try await h.client.get("/v1/transactions/\(refundID)/receipt"), "Receipt", "a refund's receipt")
        let badWidth = try await h.client.get("/v1/transactions/\(sale)/receipt?width=80")
        XCTAssertEqual(badWidth.status, 422)

        // tapctl on the same day: a receipt, the report, then the batch close.
        func tapctl(_ args: [String]) throws -> (Int32, String) {
            try Tool.run(Tool.buildDirectory + "/tapctl", args + ["--socket", h.socket])
        }
        let (rc, printed) = try tapctl(["receipt", refundID, "--width", "32"])
        XCTAssertEqual(rc, 0, printed)
        XCTAssertTrue(printed.contains("REFUND"), printed)
        let (reportCode, report) = try tapctl(["report"])
        XCTAssertEqual(reportCode, 0, report)
        XCTAssertTrue(report.contains("success rate"), report)
        check(try await h.client.get("/v1/reports"), "Report", "today's report")
        let badDay = try await h.client.get("/v1/reports?day=2026-02-31")
        XCTAssertEqual(badDay.status, 422)

        let (settleCode, settled) = try tapctl(["settle"])
        XCTAssertEqual(settleCode, 0, settled)
        XCTAssertTrue(settled.contains("batch 1: closed"), settled)
        let batches = try await h.client.get("/v1/batches")
        check(batches, "Batch", list: true, "GET /v1/batches")
        let batch = try XCTUnwrap((batches.json as? [[String: Any]])?.first)
        let totals = try XCTUnwrap(batch["totals"] as? [String: Any])
        XCTAssertEqual(totals["debits"] as? Int, 2, "the sale and the completion")
        XCTAssertEqual(totals["debits_amount"] as? Int, 12_500)
        XCTAssertEqual(totals["credits"] as? Int, 1)
        XCTAssertEqual(totals["credits_amount"] as? Int, 400)
        XCTAssertEqual(batch["net"] as? Int, 12_100)
        let byBatch = try await h.client.get("/v1/reports?batch=1")
        check(byBatch, "Report", "a batch's report")
        let r = try XCTUnwrap(byBatch.json as? [String: Any])
        XCTAssertEqual(
            (r["total"] as? [String: Any])?["count"] as? Int, 5, "sale, refund, refused refund, two pre-authorisations")
        XCTAssertEqual(r["net"] as? Int, 12_100)
        // Settled: the sale cannot be voided any more, only refunded.
        let void = try await h.client.post("/v1/transactions/\(sale)/void")
        XCTAssertEqual(void.status, 409)

        // The acquirer's view: nothing twice, nothing lost, the batch closed once.
        let ledger = await h.simulator.ledger()
        XCTAssertEqual(ledger.violations, [])
        let closed = await h.simulator.closedBatches
        XCTAssertEqual(closed, ["TAPD0001/1"])
        XCTAssertFalse(h.logText().contains(CardProfile.visaCard().pan), "no full PAN in the daemon's log")
    }
}
