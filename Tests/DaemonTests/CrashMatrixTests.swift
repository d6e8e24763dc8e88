// The crash matrix: a real tapd process (debug build) against the acquirer simulator over mutual TLS, SIGKILLed by
// itself at a named point (TAPD_FAULT) at every journal transition and around every socket write of a sale's life,
// then restarted. The proof is the acquirer's own ledger — every message it received and what it answered — set
// against what tapd says of each sale after the restart: no second financial message without the repeat MTI, every
// request that may have left without a recorded answer reversed exactly once, every offline approval advised exactly
// once, and nothing tapd calls approved that the acquirer does not hold, nor the other way round.

import Foundation
import Simulators
import XCTest

final class CrashMatrixTests: XCTestCase {
    enum Step {
        case onlineSale(amount: Int)
        case offlineSale, voidOfApprovedSale
        /// A pre-authorisation approved, then completed: tapd dies around the completion.
        case preauthCompletion
        /// A sale approved, then the batch closed: tapd dies around the reconciliation.
        case batchClose
    }

    /// Each fault point (FaultPoint.hit in the sources) and the sale that passes through it.
    static let matrix: [(point: String, step: Step)] = [
        ("online_before_persist", .onlineSale(amount: 1234)),  // connection up, request not yet on disk
        ("request_transmitted", .onlineSale(amount: 1234)),  // STAN, request and "transmitted" on disk, no byte written
        ("sent:0200", .onlineSale(amount: 1234)),  // request written to the socket
        ("answer_received", .onlineSale(amount: 1234)),  // approved by the acquirer, not yet recorded
        ("answer_written", .onlineSale(amount: 1234)),  // approval recorded
        ("saf.transmitted:reversal", .onlineSale(amount: 1291)),  // no answer; reversal marked transmitted
        ("sent:0400", .onlineSale(amount: 1291)),  // reversal written
        ("saf.answer_received:reversal", .onlineSale(amount: 1291)),  // reversal accepted, not yet recorded
        ("saf.delivered:reversal", .onlineSale(amount: 1291)),  // reversal recorded as delivered
        ("offline_before_record", .offlineSale),  // offline approval decided, not recorded
        ("offline_recorded", .offlineSale),  // offline approval and its advice recorded
        ("saf.transmitted:advice", .offlineSale),  // advice marked transmitted
        ("sent:0220", .offlineSale),  // advice written
        ("saf.answer_received:advice", .offlineSale),  // advice accepted, not yet recorded
        ("void_queued", .voidOfApprovedSale),  // the void's reversal queued, not delivered
        // A partial approval (the simulator approves half of an amount ending in .94); the default is to reverse it.
        ("answer_received", .onlineSale(amount: 1294)),  // partial approval received, not recorded
        ("saf.transmitted:reversal", .onlineSale(amount: 1294)),  // its reversal marked transmitted
        ("completion_before_record", .preauthCompletion),  // completion asked for, nothing recorded
        ("completion_recorded", .preauthCompletion),  // completed, its 0220 queued in the same transaction
        ("saf.transmitted:capture", .preauthCompletion),  // the 0220 marked transmitted
        ("saf.answer_received:capture", .preauthCompletion),  // the 0220 accepted, not yet recorded
        ("batch_started", .batchClose),  // batch taken and counted, no 0500 yet
        ("batch_transmitted", .batchClose),  // 0500 marked transmitted, no byte written
        ("sent:0500", .batchClose),  // 0500 written
        ("batch_answered", .batchClose),  // the acquirer's answer recorded
    ]

    /// The same in dual-message mode (0100 authorisations, 0220 completions, 0120 advices): around the capture.
    static let dualMatrix: [(point: String, step: Step)] = [
        ("answer_written", .onlineSale(amount: 1234)),  // approved; its capture queued in the same transaction
        ("saf.transmitted:capture", .onlineSale(amount: 1234)),  // capture marked transmitted
        ("sent:0220", .onlineSale(amount: 1234)),  // capture written
        ("saf.answer_received:capture", .onlineSale(amount: 1234)),  // capture accepted, not recorded
        ("saf.delivered:capture", .onlineSale(amount: 1234)),  // capture recorded
        ("sent:0120", .offlineSale),  // the offline approval's advice written
        ("void_queued", .voidOfApprovedSale),  // a void after the capture: its reversal names the capture
    ]

    func testEveryFaultPointLeavesEachSaleExactlyOnceAtTheAcquirer() async throws {
        try await run(Self.matrix, dualMessage: false)
    }

    func testEveryFaultPointOfDualMessageModeLeavesEachSaleCapturedExactlyOnce() async throws {
        try await run(Self.dualMatrix, dualMessage: true)
    }

    func run(_ matrix: [(point: String, step: Step)], dualMessage: Bool) async throws {
        let h = try await DaemonHarness()
        addTeardownBlock { await h.shutdown() }
        try h.writeConfig(
            pcsc: false, cardTimeout: 8, responseTimeout: 1.5, offlineFloorLimit: true,
            extra: dualMessage ? "request_mti = \"0100\"" : "")
        var results: [String] = []
        for (point, step) in matrix {
            try await h.start(fault: point)
            try await h.waitForReaders([h.emulator.connstring])
            var id = ""
            switch step {
            case .onlineSale(let amount):
                h.emulator.present(try VirtualCard(.visaCard()))
                id = did(try await h.sale(amount).body)
            case .offlineSale:
                h.emulator.present(try VirtualCard(.visaCard(offline: true)))
                id = did(try await h.sale(850).body)
            case .voidOfApprovedSale:
                h.emulator.present(try VirtualCard(.visaCard()))
                id = did(try await h.sale(1234).body)
                let approved = try await h.wait(id, for: "approved and captured") { t in
                    t["final"] as? Bool == true
                        && !((t["follow_ups"] as? [[String: Any]]) ?? []).contains {
                            $0["status"] as? String == "pending"
                        }
                }
                XCTAssertEqual(approved["status"] as? String, "approved", "\(point): \(approved)")
                _ = try? await h.client.post("/v1/transactions/\(id)/void")  // tapd dies while answering
            case .preauthCompletion:
                h.emulator.present(try VirtualCard(.visaCard()))
                let (_, body) = try await h.preauth(10_000)
                id = did(body)
                let open = try await h.wait(id, for: "approved")
                XCTAssertEqual(open["status"] as? String, "approved", "\(point): \(open)")
                _ = try? await h.client.post("/v1/transactions/\(id)/complete", json: ["amount": 10_000])
            case .batchClose:
                h.emulator.present(try VirtualCard(.visaCard()))
                id = did(try await h.sale(1234).body)
                _ = try await h.wait(id)
                _ = try? await h.client.post("/v1/batches")  // tapd dies during the close
            }
            XCTAssertFalse(id.isEmpty, "\(point): the sale did not start")
            let died = await h.waitForExit(seconds: 20)
            XCTAssertTrue(died, "\(point): tapd never reached this fault point")
            if !died { h.kill9() }
            h.emulator.present(nil)
            try await h.start()
            if case .preauthCompletion = step {
                // The point of sale's retry: the same completion again (a no-op when it was recorded).
                let retry = try await h.client.post("/v1/transactions/\(id)/complete", json: ["amount": 10_000])
                XCTAssertEqual(retry.status, 200, "\(point): \(String(decoding: retry.body, as: UTF8.self))")
            }
            if case .batchClose = step {
                // The close under way is resumed by tapd at its start and closed exactly once.
                let deadline = ContinuousClock.now + .seconds(30)
                var state = ""
                while ContinuousClock.now < deadline {
                    let list = (try? await h.client.get("/v1/batches"))?.json as? [[String: Any]] ?? []
                    state = list.first?["state"] as? String ?? "none"
                    if state == "closed" { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                XCTAssertEqual(state, "closed", "\(point): the batch close was not finished after the restart")
            }
            let settled = try await h.wait(id, for: "settled", seconds: 30) { t in
                t["final"] as? Bool == true
                    && !((t["follow_ups"] as? [[String: Any]]) ?? []).contains { $0["status"] as? String == "pending" }
                    && t["status"] as? String != "void_pending"
            }
            let problems = await consistency(h, dualMessage: dualMessage)
            XCTAssertEqual(problems, [], "\(point)")
            let follow = ((settled["follow_ups"] as? [[String: Any]]) ?? []).map {
                "\($0["kind"] ?? "?") \($0["status"] ?? "?")"
            }
            results.append(
                "\(point): \(settled["status"] ?? "?") (\(settled["journal_state"] ?? "?"))\(follow.isEmpty ? "" : ", " + follow.joined(separator: ", "))"
            )
            h.stop()
        }
        let ledger = await h.simulator.ledger()
        let orphans = await h.simulator.lastOrphans
        print(
            "crash matrix\(dualMessage ? " (dual-message)" : ""): \(matrix.count) points, \(ledger.entries.count) messages at the acquirer, \(orphans) reversal(s) of requests that never left"
        )
        for r in results { print("  " + r) }
    }

    func did(_ t: [String: Any]) -> String { t["id"] as? String ?? "" }

    /// Every sale tapd knows set against the acquirer's ledger; returns what disagrees.
    func consistency(_ h: DaemonHarness, dualMessage: Bool) async -> [String] {
        let ledger = await h.simulator.ledger()
        var problems = ledger.violations
        let sales = ((try? await h.client.get("/v1/transactions?limit=200"))?.json as? [[String: Any]]) ?? []
        for t in sales {
            let status = t["status"] as? String ?? "?"
            let state = t["journal_state"] as? String ?? "?"
            let stan = t["stan"] as? String
            let entries = ledger.entries.filter { $0.stan == stan && stan != nil }
            // Single-message: the approval or advice is the charge. Dual-message: the completion is (a held
            // authorisation without a capture charges nothing; a reversed capture undoes it).
            let charged = dualMessage ? entries.contains(where: \.captured) : entries.contains(where: \.charged)
            let id = String((t["id"] as? String ?? "?").prefix(8))
            if entries.count > 1 { problems.append("\(id): \(entries.count) originals with STAN \(stan ?? "")") }
            if let e = entries.first, e.reversals > 0, !e.reversalAccepted {
                problems.append("\(id): \(e.reversals) reversal message(s) and none accepted")
            }
            switch status {
            case "approved" where state == "approved_offline":
                if !charged { problems.append("\(id): approved offline but the acquirer has no accepted advice") }
            case "approved", "partially_approved":
                if !charged { problems.append("\(id): tapd says approved, the acquirer holds nothing") }
            case "completed":
                let captures = entries.first?.captures ?? 0
                if captures != 1 || entries.first?.captureReversed == true {
                    problems.append("\(id): completed, the acquirer took \(captures) completion(s)")
                }
            case "voided", "failed", "declined", "cancelled", "timed_out":
                if charged { problems.append("\(id): tapd says \(status), the acquirer holds the money") }
            default:
                problems.append("\(id): not settled (\(status), \(state))")
            }
        }
        return problems
    }
}
