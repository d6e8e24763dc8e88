// `systemctl reload tapd` (SIGHUP) against a running tapd with a sale in flight: the new configuration, terminal
// configuration and rules apply to the next sale while the sale in flight finishes with what it started with; a
// file that does not check is refused with one log line and the running configuration stays; a setting only a
// restart applies is named.

import EMVKernel
import Foundation
import Simulators
import TestSupport
import XCTest

final class ReloadTests: XCTestCase {
    func waitForLog(_ h: DaemonHarness, _ text: String, count: Int = 1) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if h.logText().components(separatedBy: text).count - 1 >= count { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("the log never said \"\(text)\" (\(count)×):\n\(h.logText().suffix(3000))")
    }

    func testReloadAppliesToTheNextSaleAndABadFileIsRefused() async throws {
        let h = try await DaemonHarness()
        addTeardownBlock { await h.shutdown() }
        try h.writeConfig(pcsc: false)
        try await h.start()
        try await h.waitForReaders([h.emulator.connstring])
        let pid = try XCTUnwrap(h.process).processIdentifier
        let config = h.directory + "/tapd.toml"
        let original = try String(contentsOfFile: config, encoding: .utf8)

        // A sale starts on the running configuration and waits for its card.
        let (_, a) = try await h.sale(1000)
        let inFlight = a["id"] as? String ?? ""
        _ = try await h.wait(inFlight, for: "waiting") { $0["status"] as? String == "waiting_for_card" }

        // The new configuration: every contactless application limited to 5.00, an alert rule, and a new socket
        // path (a restart-only setting).
        var terminal = TerminalConfiguration()
        for i in terminal.applications.indices { terminal.applications[i].contactlessTransactionLimit = 500 }
        let terminalFile = h.directory + "/terminal-reloaded.json"
        try JSONEncoder().encode(terminal).write(to: URL(fileURLWithPath: terminalFile))
        let reloaded =
            original
            .replacingOccurrences(of: "[terminal]\n", with: "[terminal]\nconfiguration = \"\(terminalFile)\"\n")
            .replacingOccurrences(of: "socket = \"\(h.socket)\"", with: "socket = \"\(h.directory)/other.sock\"")
            + "\n[risk]\nsale_amount_alert = 300\n"
        try reloaded.write(toFile: config, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        try await waitForLog(h, "configuration reloaded")
        XCTAssertTrue(h.logText().contains("daemon.socket"), "the restart-only change is named")

        // The sale in flight finishes with the configuration it started with (1000 is over the new limit).
        h.emulator.present(try VirtualCard(.visaCard()))
        let finished = try await h.wait(inFlight)
        XCTAssertEqual(finished["status"] as? String, "approved", "\(finished)")
        h.emulator.present(nil)
        // The next sale has the new limits; the API is still on the old socket until a restart.
        h.emulator.present(try VirtualCard(.visaCard()))
        let (_, b) = try await h.sale(1000)
        let over = try await h.wait(b["id"] as? String ?? "")
        XCTAssertEqual(over["status"] as? String, "failed", "\(over)")
        XCTAssertEqual(over["message"] as? String, "Insert, swipe or try another card", "\(over)")
        let (_, c) = try await h.sale(400)
        let under = try await h.wait(c["id"] as? String ?? "")
        XCTAssertEqual(under["status"] as? String, "approved", "\(under)")
        h.emulator.present(nil)
        let risk = (try await h.client.get("/v1/risk")).json as? [String: Any]
        XCTAssertEqual((risk?["rules"] as? [String: Any])?["sale_amount_alert"] as? Int, 300, "\(risk ?? [:])")

        // A file that does not check: refused, logged, and the running configuration stays.
        try reloaded.replacingOccurrences(of: "card_timeout =", with: "card_timout =")
            .write(toFile: config, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        try await waitForLog(h, "reload refused")
        XCTAssertTrue(h.logText().contains("card_timout"), "the log line names what is wrong")
        // A terminal configuration that does not parse is refused the same way.
        try "{ not json".write(toFile: terminalFile, atomically: true, encoding: .utf8)
        try reloaded.write(toFile: config, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        try await waitForLog(h, "reload refused", count: 2)
        h.emulator.present(try VirtualCard(.visaCard()))
        let (_, d) = try await h.sale(1000)
        let still = try await h.wait(d["id"] as? String ?? "")
        XCTAssertEqual(still["status"] as? String, "failed", "the last good configuration is still in force")
        h.emulator.present(nil)
        let health = try await h.client.get("/v1/health")
        XCTAssertEqual(health.status, 200)
    }
}
