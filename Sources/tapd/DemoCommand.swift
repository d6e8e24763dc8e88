import Acquirer
import ArgumentParser
import ControlAPI
import EMVKernel
import Foundation
import ISO8583
import Journal
import Logging
import Simulators
import TLV
import TapdCore

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run the daemon with no hardware: a virtual reader with virtual cards and phones, real signatures and "
            + "cryptograms, and the acquirer simulator over mutual TLS on loopback; sales go through the API socket.")

    @Flag(help: "Only the kernels: check online cryptograms with the test issuer directly (no daemon, no acquirer).")
    var noAcquirer = false

    @Flag(help: "Keep the daemon running after the demo sales, for tapctl or a point of sale (stop with Ctrl-C).")
    var keepRunning = false

    @Flag(help: "Use the in-process virtual reader even when pcscd with the vpcd driver is available.")
    var inProcessReader = false

    @Option(help: "API socket path (default: in the demo's private temporary directory).")
    var socket: String?

    func run() async throws {
        if noAcquirer {
            let ok = try await KernelDemo.run(date: TransactionCoordinator.utcToday(), version: TapdVersion.string) {
                print($0)
            }
            if !ok { throw ExitCode(1) }
            return
        }
        let host = try await DemoAcquirer.start()
        let ok: Bool
        do {
            ok = try await runDaemonDemo(host)
        } catch {
            await host.stop()
            throw error
        }
        await host.stop()
        if !ok { throw ExitCode(1) }
    }

    func runDaemonDemo(_ host: DemoAcquirer) async throws -> Bool {
        let script = VirtualReaderPool()
        // The real reader stack when this machine has pcscd with the vpcd driver; else the in-process reader.
        let viaPCSC = !inProcessReader && VPCDReaderPool.available()
        let pool: any CardReaderPool = viaPCSC ? VPCDReaderPool(script: script) : script
        var settings = DaemonSettings()
        settings.socket = socket ?? host.directory + "/api.sock"
        settings.cardTimeout = 30
        settings.removeCardTimeout = 1
        settings.shutdownGrace = 5
        var logger = Logger(label: "tapd") { StderrLogHandler(label: $0) }
        logger.logLevel = .warning
        if let p = pool as? VPCDReaderPool {
            await p.manager.start()
            for _ in 0..<100 where await p.manager.snapshot().isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        let runtime = DaemonRuntime(
            settings: settings, journal: host.journal, acquirer: host.service, readers: pool,
            terminal: KernelDemo.demoTerminal(), keys: try KernelDemo.demoKeys(), logger: logger)
        try await runtime.start()
        print("tapd \(TapdVersion.string) — demo: the daemon with a virtual reader; virtual cards and phones with real")
        print(
            "signatures and cryptograms (test PKI generated now, TEST issuer keys); the acquirer simulator over mutual TLS."
        )
        print(
            viaPCSC
                ? "Reader: \(VPCDReaderPool.reader) — virtual cards served to this machine's pcscd through the vpcd driver"
                : "Reader: \(VirtualReaderPool.name) (in process; install pcscd and vsmartcard-vpcd to go through PC/SC)"
        )
        print("API socket: \(settings.socket)")
        print("")
        let client = APIClient(socketPath: settings.socket)
        var allAsExpected = true
        for (n, sale) in KernelDemo.sales.enumerated() {
            print("\(n + 1). \(sale.title)")
            script.present(sale.profile)
            if !(try await Self.sell(sale, number: n + 1, client: client)) { allAsExpected = false }
            print("")
        }
        print(try await host.summary())
        print(allAsExpected ? "Demo complete: every sale ended as expected." : "Demo FAILED: see above.")
        if keepRunning {
            print("")
            print("tapd keeps running with the virtual reader (each sale is tapped with a Visa card). Try:")
            print("  tapctl --socket \(settings.socket) sale 12.34 --wait")
            print("  curl --unix-socket \(settings.socket) http://tapd/v1/status")
            print("Stop with Ctrl-C.")
            await runtime.runUntilSignalled()
        } else {
            await runtime.shutdown()
        }
        if let p = pool as? VPCDReaderPool { await p.manager.stop() }
        return allAsExpected
    }

    /// One sale the way a point of sale makes it: POST, then follow the transaction until it is final.
    static func sell(_ sale: KernelDemo.Sale, number: Int, client: APIClient) async throws -> Bool {
        let r = try await client.post(
            "/v1/transactions",
            json: ["amount": Int(sale.amount), "idempotency_key": "demo-\(number)-\(UUID().uuidString)"])
        guard r.status == 201, let created = r.json as? [String: Any], let id = created["id"] as? String else {
            print("   POST /v1/transactions → HTTP \(r.status): \(r.errorMessage ?? "")")
            return false
        }
        print("   POST /v1/transactions → 201, transaction \(id.prefix(8))…")
        // Follow the sale's events as a point of sale would (recent ones replayed, so nothing is missed).
        final class Last: @unchecked Sendable { var message = "" }
        let last = Last()
        try await client.events(replay: 64) { type, data in
            guard let e = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                e["transaction_id"] as? String == id
            else { return true }
            if type == "ui", let m = e["message"] as? String { last.message = m }
            if type == "transaction", let status = e["status"] as? String {
                print("   [\(last.message)] \(status)")
                if ["approved", "partially_approved", "declined", "failed", "cancelled", "timed_out", "voided"]
                    .contains(status)
                {
                    return false
                }
            }
            return true
        }
        let view = (try await client.get("/v1/transactions/\(id)")).json as? [String: Any] ?? [:]
        func s(_ k: String) -> String { view[k].map { "\($0)" } ?? "-" }
        print(
            "   card \(s("masked_pan")), \(s("scheme")), CVM \(s("cvm")), response \(s("response_code")), approval \(s("approval_code")), STAN \(s("stan"))"
        )
        if let reason = view["reason"] as? String { print("   \(reason)") }
        // Let store-and-forward finish what it started (a reversal, an advice) and show where the money stands.
        var current = view
        func pending(_ v: [String: Any]) -> Bool {
            ((v["follow_ups"] as? [[String: Any]]) ?? []).contains { $0["status"] as? String == "pending" }
        }
        for _ in 0..<100 where pending(current) {
            try await Task.sleep(for: .milliseconds(50))
            current = (try await client.get("/v1/transactions/\(id)")).json as? [String: Any] ?? current
        }
        let journalState = current["journal_state"] as? String ?? "-"
        let status = s("status")
        let code = s("response_code")
        if let stan = view["stan"] as? String, ["approved", "declined", "partially_approved"].contains(journalState) {
            print("   acquirer: 0200 STAN \(stan) answered \(code) (\(status))")
        }
        for f in (current["follow_ups"] as? [[String: Any]]) ?? [] {
            let kind = f["kind"] as? String ?? "?"
            let mti = f["mti"] as? String ?? "?"
            let st = f["status"] as? String ?? "?"
            switch kind {
            case "reversal":
                print("   acquirer: no answer; reversal \(mti) with the same STAN and the original data (DE 90) \(st)")
            case "advice": print("   acquirer: advice \(mti) for the offline approval \(st)")
            default: print("   acquirer: \(kind) \(mti) \(st)")
            }
        }
        print("   journal: \(journalState)")
        let followUpsDelivered =
            !pending(current)
            && ((current["follow_ups"] as? [[String: Any]]) ?? []).allSatisfy { $0["status"] as? String == "delivered" }
        let expected: (String, String?) =
            switch (sale.expected, sale.expectedResponse) {
            case (.onlineRequest, "00"?): ("approved", "approved")
            case (.onlineRequest, "51"?): ("declined", "declined")
            case (.onlineRequest, nil): ("failed", "unanswered")
            case (.approved, _): ("approved", "approved_offline")
            case (.declined, _): ("declined", nil)
            case (.endApplication, _): ("failed", "failed")
            default: ("?", nil)
            }
        let ok = status == expected.0 && (expected.1 == nil || journalState == expected.1) && followUpsDelivered
        if !ok { print("   UNEXPECTED: \(expected.0)\(expected.1.map { " / \($0)" } ?? "") was expected") }
        return ok
    }
}

/// The demo's back office: the acquirer simulator on loopback (certificates generated now), a journal in a private
/// temporary directory under a random key, and the real AcquirerService between them. Removed when the demo ends.
final class DemoAcquirer: Sendable {
    let directory: String
    let simulator: AcquirerSimulator
    let journal: Journal
    let service: AcquirerService

    private init(directory: String, simulator: AcquirerSimulator, journal: Journal, service: AcquirerService) {
        self.directory = directory
        self.simulator = simulator
        self.journal = journal
        self.service = service
    }

    static func start() async throws -> DemoAcquirer {
        let dir = NSTemporaryDirectory() + "tapd-demo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            let certs = try TestCertificates.generate(in: dir)
            let sim = try AcquirerSimulator(
                certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile, clientCAFile: certs.caFile)
            let port = try await sim.start()
            var rng = SystemRandomNumberGenerator()
            let journal = try Journal(
                path: dir + "/journal.sqlite",
                key: try JournalKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }))
            var config = AcquirerConfiguration(
                host: "127.0.0.1", port: port, caFile: certs.caFile,
                clientCertificateFile: certs.clientCertificateFile, clientKeyFile: certs.clientKeyFile,
                terminalID: "TAPD0001", merchantID: "TAPDDEMO0000001")
            config.responseTimeout = 2
            let service = AcquirerService(
                link: try AcquirerLink(configuration: config), stan: { try await journal.nextSTAN() })
            print(
                "acquirer simulator listening on 127.0.0.1:\(port) (mutual TLS, ISO 8583 iso87-ascii); journal in \(dir)"
            )
            return DemoAcquirer(directory: dir, simulator: sim, journal: journal, service: service)
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
    }

    func summary() async throws -> String {
        let counts = try await journal.queueCounts()
        return "Store-and-forward queue: \(counts.pending) pending, \(counts.quarantined) quarantined."
    }

    func stop() async {
        await service.link.close()
        await simulator.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
