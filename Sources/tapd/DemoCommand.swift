import ArgumentParser
import Foundation
import TLV
import EMVKernel
import ISO8583
import Journal
import Acquirer
import TapdCore
import Simulators

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a demonstration with no hardware: virtual cards and phones, real signatures and cryptograms, "
            + "and the acquirer simulator over mutual TLS on loopback.")

    @Flag(help: "Check online cryptograms with the test issuer directly instead of going through the acquirer simulator.")
    var noAcquirer = false

    func run() async throws {
        let now = Date()
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.year, .month, .day], from: now)
        guard let date = EMVDate(year: c.year!, month: c.month!, day: c.day!) else { throw ExitCode(2) }
        if noAcquirer {
            let ok = try await KernelDemo.run(date: date) { print($0) }
            if !ok { throw ExitCode(1) }
            return
        }
        let host = try await DemoAcquirer.start()
        let ok: Bool
        do {
            ok = try await KernelDemo.run(date: date, settle: { sale, outcome, say in await host.settle(sale, outcome, say: say) }) { print($0) }
            print(try host.summary())
        } catch {
            await host.stop()
            throw error
        }
        await host.stop()
        if !ok { throw ExitCode(1) }
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
        self.directory = directory; self.simulator = simulator; self.journal = journal; self.service = service
    }

    static func start() async throws -> DemoAcquirer {
        let dir = NSTemporaryDirectory() + "tapd-demo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            let certs = try TestCertificates.generate(in: dir)
            let sim = try AcquirerSimulator(certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile, clientCAFile: certs.caFile)
            let port = try await sim.start()
            var rng = SystemRandomNumberGenerator()
            let journal = try Journal(path: dir + "/journal.sqlite", key: try JournalKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }))
            var config = AcquirerConfiguration(host: "127.0.0.1", port: port, caFile: certs.caFile,
                                               clientCertificateFile: certs.clientCertificateFile, clientKeyFile: certs.clientKeyFile,
                                               terminalID: "TAPD0001", merchantID: "TAPDDEMO0000001")
            config.responseTimeout = 2
            let service = AcquirerService(link: try AcquirerLink(configuration: config), journal: journal)
            print("acquirer simulator listening on 127.0.0.1:\(port) (mutual TLS, ISO 8583 iso87-ascii); journal in \(dir)")
            print("")
            return DemoAcquirer(directory: dir, simulator: sim, journal: journal, service: service)
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
    }

    func settle(_ sale: KernelDemo.Sale, _ outcome: Outcome, say: @Sendable (String) -> Void) async -> Bool {
        do {
            let card = try OnlineRequest.cardTransaction(from: outcome)
            let (t, _) = try journal.createTransaction(idempotencyKey: UUID().uuidString, amount: Int64(card.amount), currency: Int(card.currencyCode))
            try journal.update(t.id, to: .cardRead, maskedPAN: outcome.maskedPAN)
            if outcome.kind == .approved {
                try journal.update(t.id, to: .approvedOffline)
                try await service.queueAdvice(transactionID: t.id, card: card)
                _ = await service.deliverQueue()
                let delivered = try journal.transaction(t.id)?.state == .adviceDelivered
                say("   acquirer: advice 0220 for the offline approval \(delivered ? "delivered" : "queued for later")")
                return delivered
            }
            let r = await service.authorize(transactionID: t.id, card: card)
            switch r.kind {
            case .approved, .declined:
                let arpc = r.icc?.issuerAuthenticationData.map { ", issuer authentication data (91) \(Hex.encode($0))" } ?? ""
                say("   acquirer: 0200 STAN \(r.stan ?? "?") answered \(r.responseCode ?? "?") (\(r.kind.rawValue))\(arpc)"
                    + (r.approvalCode.map { ", approval code \($0)" } ?? ""))
            case .unanswered:
                say("   acquirer: 0200 STAN \(r.stan ?? "?") — no answer: \(r.reason ?? "")")
                _ = await service.deliverQueue()
                let reversed = try journal.transaction(t.id)?.state == .reversed
                say("   reversal 0400 with the same STAN and the original data (DE 90) \(reversed ? "delivered" : "queued for later")")
            case .failed:
                say("   acquirer: not sent — \(r.reason ?? "")")
            }
            let state = try journal.transaction(t.id)?.state.rawValue ?? "?"
            say("   journal: \(state)")
            let asExpected = sale.expectedResponse == nil ? r.kind == .unanswered : r.responseCode == sale.expectedResponse
            if !asExpected { say("   UNEXPECTED: \(sale.expectedResponse.map { "answer \($0)" } ?? "no answer") was expected") }
            return asExpected
        } catch {
            say("   acquirer leg failed: \(error)")
            return false
        }
    }

    func summary() throws -> String {
        "Store-and-forward queue: \(try journal.safDepth()) pending, \(try journal.quarantined().count) quarantined."
    }

    func stop() async {
        await service.link.close()
        await simulator.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
