// Runs the real `tapd run` binary against real parts: the acquirer simulator over mutual TLS on loopback, a journal
// on a real SQLite file, a libnfc PN532 on the emulator's pseudo-terminal, and (as root) the vpcd readers of a real
// pcscd in private namespaces. Tests talk to it only through its API socket, as a point of sale would.

import ControlAPI
import EMVKernel
import Foundation
import Simulators
import TLV
import TestSupport
import XCTest

final class DaemonHarness: @unchecked Sendable {
    let directory: String
    let certificates: TestCertificates
    let simulator: AcquirerSimulator
    let acquirerPort: Int
    let emulator: PN532Emulator
    var socket: String { directory + "/api.sock" }
    var journal: String { directory + "/journal.sqlite" }
    var client: APIClient { APIClient(socketPath: socket) }
    private(set) var process: Process?
    var stderrFile: String { directory + "/tapd.log" }

    static var tapdBinary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tapd").path
    }

    init() async throws {
        directory = NSTemporaryDirectory() + "tapd-daemon-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        certificates = try TestCertificates.generate(in: directory + "/tls")
        simulator = try AcquirerSimulator(
            certificateFile: certificates.serverCertificateFile, keyFile: certificates.serverKeyFile,
            clientCAFile: certificates.caFile)
        acquirerPort = try await simulator.start()
        emulator = try PN532Emulator()
        // One test PKI for this process, the daemon and any tapd-vicc: written out and named in the environment.
        try VirtualCard.exportedTestPKI.write(toFile: directory + "/test-pki.txt", atomically: true, encoding: .utf8)
        setenv("TAPD_TEST_PKI", directory + "/test-pki.txt", 1)
        try VirtualCard.testCAKeyFile.write(toFile: directory + "/test-ca.capk", atomically: true, encoding: .utf8)
        var rng = SystemRandomNumberGenerator()
        let key = Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
        FileManager.default.createFile(
            atPath: directory + "/journal.key", contents: key, attributes: [.posixPermissions: 0o600])
    }

    /// The configuration file: PC/SC on or off, the emulated PN532 as a libnfc reader, the simulator as acquirer.
    /// `offlineFloorLimit`: a terminal configuration with the demo's Visa floor limit (10.00), so an offline card
    /// below it is approved offline.
    func writeConfig(
        pcsc: Bool, cardTimeout: Double = 8, responseTimeout: Double = 3, offlineFloorLimit: Bool = false,
        extra: String = ""
    ) throws {
        var terminalLine = ""
        if offlineFloorLimit {
            let path = directory + "/terminal.json"
            try JSONEncoder().encode(KernelDemo.demoTerminal()).write(to: URL(fileURLWithPath: path))
            terminalLine = "configuration = \"\(path)\""
        }
        try """
        # tapd test configuration
        [daemon]
        socket = "\(socket)"
        log_level = "debug"
        card_timeout = \(cardTimeout)
        remove_card_timeout = 1
        shutdown_grace = 5

        [journal]
        path = "\(journal)"
        key_file = "\(directory)/journal.key"

        [terminal]
        test_keys = true
        ca_keys = "\(directory)/test-ca.capk"
        \(terminalLine)

        [readers]
        pcsc = \(pcsc)
        virtual_readers = \(pcsc)
        libnfc = ["\(emulator.connstring)"]
        ignore = ["PCD 00 01"]

        [acquirer]
        host = "127.0.0.1"
        port = \(acquirerPort)
        ca_file = "\(certificates.caFile)"
        client_certificate_file = "\(certificates.clientCertificateFile)"
        client_key_file = "\(certificates.clientKeyFile)"
        terminal_id = "TAPD0001"
        merchant_id = "TAPDTEST0000001"
        response_timeout = \(responseTimeout)
        saf_retry_interval = 1
        \(extra)
        """.write(toFile: directory + "/tapd.toml", atomically: true, encoding: .utf8)
    }

    /// Starts `tapd run` and waits until /v1/health answers. `fault` names the point where a debug build of tapd
    /// SIGKILLs itself (TAPD_FAULT, the crash matrix).
    func start(fault: String? = nil) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.tapdBinary)
        p.arguments = ["run", "--config", directory + "/tapd.toml"]
        var env = ProcessInfo.processInfo.environment
        env["TAPD_FAULT"] = fault
        p.environment = env
        FileManager.default.createFile(atPath: stderrFile, contents: nil)
        let log = FileHandle(forWritingAtPath: stderrFile)!
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if !p.isRunning {
                throw NSError(
                    domain: "DaemonHarness", code: 1, userInfo: [NSLocalizedDescriptionKey: "tapd exited: \(logText())"]
                )
            }
            if let r = try? await client.get("/v1/health"), r.status == 200 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw NSError(
            domain: "DaemonHarness", code: 2,
            userInfo: [NSLocalizedDescriptionKey: "tapd never became ready: \(logText())"])
    }

    func logText() -> String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }

    /// SIGTERM (as systemd stops it) and wait.
    func stop() {
        guard let p = process else { return }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        process = nil
    }

    /// Waits for the process to end by itself (a fault point killed it); true when it did.
    func waitForExit(seconds: Double = 20) async -> Bool {
        guard let p = process else { return true }
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while p.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if p.isRunning { return false }
        process = nil
        return true
    }

    /// SIGKILL: no chance to clean up.
    func kill9() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    func shutdown() async {
        stop()
        emulator.stop()
        await simulator.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: API helpers

    func sale(_ amount: Int, reader: String? = nil, key: String = UUID().uuidString) async throws -> (
        status: Int, body: [String: Any]
    ) {
        var body: [String: Any] = ["amount": amount, "idempotency_key": key]
        if let reader { body["reader"] = reader }
        let r = try await client.post("/v1/transactions", json: body)
        return (r.status, r.json as? [String: Any] ?? [:])
    }

    /// Starts a pre-authorisation of `amount` minor units.
    func preauth(_ amount: Int, reader: String? = nil, key: String = UUID().uuidString) async throws -> (
        status: Int, body: [String: Any]
    ) {
        var body: [String: Any] = ["type": "preauth", "amount": amount, "idempotency_key": key]
        if let reader { body["reader"] = reader }
        let r = try await client.post("/v1/transactions", json: body)
        return (r.status, r.json as? [String: Any] ?? [:])
    }

    /// Starts a refund of `amount`, linked to `original` when given.
    func refund(_ amount: Int, original: String? = nil, reader: String? = nil) async throws -> (
        status: Int, body: [String: Any]
    ) {
        var body: [String: Any] = ["type": "refund", "amount": amount, "idempotency_key": UUID().uuidString]
        if let original { body["original_id"] = original }
        if let reader { body["reader"] = reader }
        let r = try await client.post("/v1/transactions", json: body)
        return (r.status, r.json as? [String: Any] ?? [:])
    }

    func transaction(_ id: String) async throws -> [String: Any] {
        (try await client.get("/v1/transactions/\(id)")).json as? [String: Any] ?? [:]
    }

    /// Polls until the transaction satisfies `condition` (e.g. final); returns its last view.
    func wait(
        _ id: String, for what: String = "final", seconds: Double = 20,
        _ condition: ([String: Any]) -> Bool = { $0["final"] as? Bool == true }
    ) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        var t: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            t = try await transaction(id)
            if condition(t) { return t }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw NSError(
            domain: "DaemonHarness", code: 3,
            userInfo: [NSLocalizedDescriptionKey: "transaction never became \(what): \(t)"])
    }

    func waitForReaders(_ names: [String]) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let list = (try await client.get("/v1/readers")).json as? [[String: Any]] ?? []
            let have = Set(list.compactMap { $0["name"] as? String })
            if names.allSatisfy(have.contains) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw NSError(
            domain: "DaemonHarness", code: 4, userInfo: [NSLocalizedDescriptionKey: "readers \(names) never attached"])
    }
}
