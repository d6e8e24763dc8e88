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
        settings.completionTolerancePercent = 20
        var logger = Logger(label: "tapd") { StderrLogHandler(label: $0) }
        logger.logLevel = .warning
        if let p = pool as? VPCDReaderPool {
            await p.manager.start()
            for _ in 0..<100 where await p.manager.snapshot().isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        let runtime = DaemonRuntime(
            settings: settings, journal: host.journal, acquirer: host.service, readers: pool,
            terminal: KernelDemo.demoTerminal(), keys: try KernelDemo.demoKeys(), logger: logger,
            merchant: Self.demoMerchant)
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
        var firstSale: String? = nil
        for (n, sale) in KernelDemo.sales.enumerated() {
            print("\(n + 1). \(sale.title)")
            script.present(sale.profile)
            let (ok, id) = try await Self.sell(sale, number: n + 1, client: client)
            if !ok { allAsExpected = false }
            if firstSale == nil { firstSale = id }
            print("")
        }
        if !(try await Self.merchantDay(
            first: firstSale, number: KernelDemo.sales.count + 1, script: script, client: client))
        {
            allAsExpected = false
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

    /// The demo's shop, as its receipts print it.
    static var demoMerchant: MerchantSettings {
        var m = MerchantSettings()
        m.name = "tapd demo café"
        m.location = "1 Rue de l'Exemple, Paris"
        return m
    }

    /// The rest of the merchant's day: a refund of part of the first sale, a pre-authorisation completed for more
    /// (within the tolerance), the first sale's receipt, the batch closed with the acquirer and the day's report.
    static func merchantDay(first: String?, number: Int, script: VirtualReaderPool, client: APIClient) async throws
        -> Bool
    {
        var ok = true
        print("\(number). Refund of 5.00 of sale 1 (Visa card; the card answers a refund with an AAC)")
        script.present(.visaCard())
        let refund = try await start(
            SaleRequest(type: "refund", amount: 500, idempotencyKey: "demo-refund-\(UUID())", originalID: first),
            client: client)
        print("   refund: \(refund?.status.rawValue ?? "failed"), response \(refund?.responseCode ?? "-")")
        if refund?.status != .approved { ok = false }
        print("")
        print("\(number + 1). Pre-authorisation of 150.00 (Mastercard card), completed for 162.50")
        script.present(.mastercardCard())
        let preauth = try await start(
            SaleRequest(type: "preauth", amount: 15_000, idempotencyKey: "demo-preauth-\(UUID())"), client: client)
        if let preauth, preauth.status == .approved {
            let done: TransactionView = try await client.call(
                .POST, "/v1/transactions/\(preauth.id)/complete", body: CompletionRequest(amount: 16_250))
            print(
                "   POST /v1/transactions/…/complete → \(done.status.rawValue) for 162.50; the 0220 goes by store-and-forward"
            )
            var current = done
            for _ in 0..<100 where current.followUps.contains(where: { $0.status == "pending" }) {
                try await Task.sleep(for: .milliseconds(50))
                current = try await client.call(.GET, "/v1/transactions/\(preauth.id)")
            }
            for f in current.followUps { print("   acquirer: \(f.kind) \(f.mti) \(f.status)") }
            if current.status != .completed || current.followUps.contains(where: { $0.status != "delivered" }) {
                ok = false
            }
        } else {
            print("   UNEXPECTED: the pre-authorisation was not approved")
            ok = false
        }
        print("")
        if let first {
            print("\(number + 2). The customer's receipt of sale 1 (32 columns)")
            let r = try await client.get("/v1/transactions/\(first)/receipt?copy=customer&width=32&format=text")
            print(
                String(decoding: r.body, as: UTF8.self).split(separator: "\n").map { "   " + $0 }.joined(
                    separator: "\n"))
            print("")
        }
        print("\(number + 3). End of day: POST /v1/batches (tapctl settle)")
        let batch: BatchView = try await client.call(.POST, "/v1/batches")
        let t = batch.totals
        print(
            "   batch \(batch.id) \(batch.state): \(t.debits) debit(s) \(Receipt.amountDigits(t.debitsAmount, exponent: 2)), \(t.debitReversals) void(s), \(t.credits) refund(s) \(Receipt.amountDigits(t.creditsAmount, exponent: 2)), net \(Receipt.amountDigits(batch.net, exponent: 2)) EUR; acquirer answered \(batch.responseCode ?? "-")"
        )
        if batch.state != "closed" { ok = false }
        let report: Report = try await client.call(.GET, "/v1/reports?batch=\(batch.id)")
        print(
            "   report: \(report.total.count) transaction(s), \(report.total.approved) approved, success rate \(report.successRate.map { String(format: "%.0f %%", $0 * 100) } ?? "-"), average tap \(report.averageTapMilliseconds.map { String(format: "%.1f ms", $0) } ?? "-"), online \(report.averageOnlineMilliseconds.map { String(format: "%.1f ms", $0) } ?? "-")"
        )
        print("")
        return ok
    }

    /// One transaction the way a point of sale makes it: POST, then follow its events until it is final.
    static func start(_ request: SaleRequest, client: APIClient) async throws -> TransactionView? {
        let created: TransactionView
        do { created = try await client.call(.POST, "/v1/transactions", body: request) } catch {
            print("   POST /v1/transactions → \(error)")
            return nil
        }
        print("   POST /v1/transactions → 201, \(created.type) \(created.id.prefix(8))…")
        // Follow the transaction's events as a point of sale would (recent ones replayed, so nothing is missed).
        final class Last: @unchecked Sendable { var message = "" }
        let last = Last()
        let id = created.id
        try await client.events(replay: 64) { type, data in
            guard let e = try? APIClient.decoder.decode(TapdEvent.self, from: data), e.transactionID == id else {
                return true
            }
            if type == "ui", let m = e.message { last.message = m }
            if type == "transaction", let status = e.status {
                print("   [\(last.message)] \(status)")
                if let s = SaleStatus(rawValue: status), s.isFinal { return false }
            }
            return true
        }
        return try await client.call(.GET, "/v1/transactions/\(id)")
    }

    /// One sale the way a point of sale makes it: POST, then follow the transaction until it is final.
    static func sell(_ sale: KernelDemo.Sale, number: Int, client: APIClient) async throws -> (ok: Bool, id: String?) {
        guard
            let view = try await start(
                SaleRequest(amount: Int64(sale.amount), idempotencyKey: "demo-\(number)-\(UUID().uuidString)"),
                client: client)
        else { return (false, nil) }
        let id = view.id
        print(
            "   card \(view.maskedPAN ?? "-"), \(view.scheme ?? "-"), CVM \(view.cvm ?? "-"), response \(view.responseCode ?? "-"), approval \(view.approvalCode ?? "-"), STAN \(view.stan ?? "-")"
        )
        if let reason = view.reason { print("   \(reason)") }
        // Let store-and-forward finish what it started (a reversal, an advice) and show where the money stands.
        var current = view
        func pending(_ v: TransactionView) -> Bool { v.followUps.contains { $0.status == "pending" } }
        for _ in 0..<100 where pending(current) {
            try await Task.sleep(for: .milliseconds(50))
            current = try await client.call(.GET, "/v1/transactions/\(id)")
        }
        let journalState = current.journalState
        let status = current.status.rawValue
        if let stan = view.stan, ["approved", "declined", "partially_approved"].contains(journalState) {
            print("   acquirer: 0200 STAN \(stan) answered \(view.responseCode ?? "-") (\(status))")
        }
        for f in current.followUps {
            switch f.kind {
            case "reversal":
                print(
                    "   acquirer: no answer; reversal \(f.mti) with the same STAN and the original data (DE 90) \(f.status)"
                )
            case "advice": print("   acquirer: advice \(f.mti) for the offline approval \(f.status)")
            default: print("   acquirer: \(f.kind) \(f.mti) \(f.status)")
            }
        }
        print("   journal: \(journalState)")
        let followUpsDelivered = !pending(current) && current.followUps.allSatisfy { $0.status == "delivered" }
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
        return (ok, id)
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
            await sim.setCaptureTolerance(20)  // the demo completes a pre-authorisation for more than it held
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
