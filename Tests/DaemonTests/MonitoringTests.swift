// Fleet monitoring as shipped: the Prometheus alert rules pass promtool's own checks and unit tests (each rule fires
// on the recorded samples it is meant for and stays quiet on the others), every metric the rules and the Grafana
// dashboard use is one tapd exposes, and a running tapd serves those metrics on its TCP metrics listener — which
// serves nothing else.

import Foundation
import Simulators
import TestSupport
import XCTest

final class MonitoringTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static var rules: String { root + "/Systemd/prometheus/tapd-alerts.yml" }
    static var dashboard: String { root + "/Systemd/grafana/tapd-dashboard.json" }

    func promtool() throws -> String {
        for p in ["/usr/bin/promtool", "/usr/local/bin/promtool"] where FileManager.default.isExecutableFile(atPath: p)
        {
            return p
        }
        // CI installs it (.ci/run: the prometheus package); a developer machine without it skips, and says so.
        if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("promtool is not installed") }
        throw XCTSkip("promtool is not installed (apt-get install prometheus)")
    }

    func testTheAlertRulesPassPromtoolAndTheirUnitTests() throws {
        let tool = try promtool()
        let (checked, checkText) = try Tool.run(tool, ["check", "rules", Self.rules])
        XCTAssertEqual(checked, 0, checkText)
        XCTAssertTrue(checkText.contains("SUCCESS"), checkText)
        let (tested, testText) = try Tool.run(
            tool, ["test", "rules", "tapd-alerts.test.yml"], directory: Self.root + "/Systemd/prometheus")
        XCTAssertEqual(tested, 0, testText)
        XCTAssertTrue(testText.contains("SUCCESS"), testText)
        // Every rule has its unit test.
        let rules = try String(contentsOfFile: Self.rules, encoding: .utf8)
        let tests = try String(contentsOfFile: Self.root + "/Systemd/prometheus/tapd-alerts.test.yml", encoding: .utf8)
        for line in rules.split(separator: "\n") where line.contains("- alert: ") {
            let name = line.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)
            XCTAssertTrue(tests.contains("alertname: \(name)"), "\(name) has no promtool test")
        }
    }

    /// The metric names tapd declares (Sources/TapdCore/Metrics.swift), labelled ones included (they appear in the
    /// exposition only once something is counted).
    func declaredMetrics() throws -> Set<String> {
        let source = try String(contentsOfFile: Self.root + "/Sources/TapdCore/Metrics.swift", encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: #"metricName: "([a-z_]+)", unitName: "([a-z]*)""#)
        var names = Set<String>()
        for m in pattern.matches(in: source, range: NSRange(source.startIndex..., in: source)) {
            let name = String(source[Range(m.range(at: 1), in: source)!])
            let unit = String(source[Range(m.range(at: 2), in: source)!])
            names.insert("tapd_" + name + (unit.isEmpty ? "" : "_" + unit))
        }
        return names
    }

    func referencedMetrics(_ text: String) throws -> Set<String> {
        let pattern = try NSRegularExpression(pattern: #"tapd_[a-z_]+"#)
        var names = Set<String>()
        for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            var n = String(text[Range(m.range, in: text)!])
            for suffix in ["_bucket", "_count", "_sum"] where n.hasSuffix(suffix) {
                n = String(n.dropLast(suffix.count))
            }
            names.insert(n)
        }
        return names
    }

    func testTheRulesAndTheDashboardUseOnlyMetricsTapdExposesAndTheListenerServesThem() async throws {
        let declared = try declaredMetrics()
        let rules = try referencedMetrics(try String(contentsOfFile: Self.rules, encoding: .utf8))
        let dashboardText = try String(contentsOfFile: Self.dashboard, encoding: .utf8)
        let dashboard = try referencedMetrics(dashboardText)
        XCTAssertTrue(rules.isSubset(of: declared), "rules use unknown metrics: \(rules.subtracting(declared))")
        XCTAssertTrue(dashboard.isSubset(of: declared), "dashboard: unknown \(dashboard.subtracting(declared))")
        // The dashboard is a Grafana dashboard: panels, each with queries.
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(dashboardText.utf8)) as? [String: Any])
        let panels = try XCTUnwrap(json["panels"] as? [[String: Any]])
        XCTAssertGreaterThan(panels.count, 8)
        for p in panels { XCTAssertFalse((p["targets"] as? [Any] ?? []).isEmpty, "\(p["title"] ?? "?")") }

        // A running tapd with its metrics listener: after a sale every metric is there (labelled ones once counted).
        let port = Int.random(in: 30_000...60_000)
        let h = try await DaemonHarness()
        addTeardownBlock { await h.shutdown() }
        try h.writeConfig(pcsc: false)
        let config = h.directory + "/tapd.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: "[daemon]\n", with: "[daemon]\nmetrics_address = \"127.0.0.1:\(port)\"\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        try await h.start()
        try await h.waitForReaders([h.emulator.connstring])
        h.emulator.present(try VirtualCard(.visaCard()))
        let (_, t) = try await h.sale(1000)
        _ = try await h.wait(t["id"] as? String ?? "")
        h.emulator.present(nil)
        _ = try await h.client.post("/v1/risk/freeze", json: ["scope": "scheme", "value": "jcb", "reason": "test"])

        func get(_ path: String, method: String = "GET") throws -> (status: Int, body: String) {
            let script = """
                import sys, urllib.request, urllib.error
                req = urllib.request.Request("http://127.0.0.1:\(port)\(path)", method="\(method)")
                try:
                    r = urllib.request.urlopen(req, timeout=5); print(r.status); print(r.read().decode())
                except urllib.error.HTTPError as e:
                    print(e.code); print(e.read().decode())
                """
            let (rc, out) = try Tool.run("/usr/bin/python3", ["-c", script])
            XCTAssertEqual(rc, 0, out)
            let status = Int(out.prefix { $0 != "\n" }) ?? 0
            return (status, String(out.drop { $0 != "\n" }))
        }
        let scraped = try get("/metrics")
        XCTAssertEqual(scraped.status, 200, scraped.body)
        let exposed = try referencedMetrics(scraped.body)
        let lazy: Set<String> = ["tapd_reader_errors_total"]  // counted only once a reader fails
        let missing = rules.union(dashboard).subtracting(exposed).subtracting(lazy)
        XCTAssertEqual(missing, [], "not in the exposition:\n\(scraped.body)")
        XCTAssertTrue(scraped.body.contains("tapd_acquirer_link_up 1"), scraped.body)
        XCTAssertTrue(scraped.body.contains("tapd_risk_frozen_scopes 1"), scraped.body)
        // Nothing else is served on the TCP listener: no sales, no card data, nothing that changes anything.
        XCTAssertEqual(try get("/v1/transactions").status, 404)
        XCTAssertEqual(try get("/v1/risk").status, 404)
        XCTAssertEqual(try get("/metrics", method: "POST").status, 405)
    }

    /// `tapctl diagnose --json` is a versioned document a fleet tool can collect: what a real run prints (tapd
    /// running) follows the JSON Schema `tapctl diagnose --schema` prints.
    func testTheDiagnoseReportFollowsItsPublishedSchema() async throws {
        let h = try await DaemonHarness()
        addTeardownBlock { await h.shutdown() }
        try h.writeConfig(pcsc: false)
        try await h.start()
        try await h.waitForReaders([h.emulator.connstring])
        let tapctl = Tool.buildDirectory + "/tapctl"
        let (src, schemaText) = try Tool.run(tapctl, ["diagnose", "--schema"])
        XCTAssertEqual(src, 0, schemaText)
        let schema = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(schemaText.utf8)) as? [String: Any])
        let (rc, out) = try Tool.run(
            tapctl, ["diagnose", "--json", "--offline", "--config", h.directory + "/tapd.toml", "--socket", h.socket])
        XCTAssertTrue([0, 1, 2].contains(rc), out)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], out)
        XCTAssertEqual(report["schema"] as? String, "tapd-diagnose/1")
        let wrapper = try JSONSerialization.data(withJSONObject: [
            "openapi": "3.0.3", "paths": [:], "components": ["schemas": ["DiagnoseReport": schema]],
        ])
        let v = try OpenAPIValidator(wrapper)
        let problems = v.validate(report, against: ["$ref": "#/components/schemas/DiagnoseReport"])
        XCTAssertEqual(problems, [], out)
        let verdict = report["verdict"] as? String
        XCTAssertEqual(rc, verdict == "PASS" ? 0 : verdict == "WARN" ? 1 : 2, "the exit code follows the verdict")
    }
}
