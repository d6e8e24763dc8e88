// The online leg as the daemon runs it — the SaleBook persisting the request, marking it transmitted, checking and
// recording the answer — over real TLS on loopback to the in-process acquirer simulator, with the journal on disk
// (WAL, synchronous FULL, so every step pays its fsync).

import Acquirer
import Foundation
import ISO8583
import Journal
import Simulators
import TapdCore

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

@MainActor
func benchmarkAcquirer(card: CardTransaction, rounds: Int = 400) async throws {
    let dir = NSTemporaryDirectory() + "tapd-bench-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let certs = try TestCertificates.generate(in: dir)
    let sim = try AcquirerSimulator(
        certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile, clientCAFile: certs.caFile)
    let port = try await sim.start()
    var config = AcquirerConfiguration(
        host: "127.0.0.1", port: port, caFile: certs.caFile, clientCertificateFile: certs.clientCertificateFile,
        clientKeyFile: certs.clientKeyFile, terminalID: "TAPD0001", merchantID: "TAPD00000000001")
    config.acquirerInstitutionID = "123456"
    let journal = try Journal(
        path: dir + "/journal.sqlite", key: try JournalKey(bytes: [UInt8](repeating: 1, count: 32)))
    let service = AcquirerService(link: try AcquirerLink(configuration: config), stan: { try await journal.nextSTAN() })
    let book = SaleBook(
        journal: journal, acquirer: service, events: EventHub(), metrics: TapdMetrics(), autoDrain: false)
    let clock = ContinuousClock()
    var roundTrip: [Double] = []
    var toWire: [Double] = []
    for i in 0..<(rounds + 20) {
        let (t, _) = try await book.open(
            idempotencyKey: "bench-\(i)-\(UUID())", amount: Int64(card.amount), currency: 978, message: "Present card")
        try await book.record(t.id, .processing)
        let start = clock.now  // the kernel's outcome is ready
        let r = try await book.authorize(t.id, card: card, facts: .init(), message: "Authorising")
        let end = clock.now
        precondition(
            r.status == .approved, "benchmark authorisation must be approved: \(r.reason ?? r.responseCode ?? "")")
        guard i >= 20 else { continue }  // warm-up: connection, TLS session, caches
        let arrived = await sim.arrivals.last!
        func us(_ d: Duration) -> Double {
            Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
        }
        roundTrip.append(us(end - start))
        toWire.append(us(arrived - start))
    }
    await sim.stop()
    // The floor under both figures: one journal transaction (WAL, synchronous FULL) on this disk.
    var commit: [Double] = []
    for _ in 0..<rounds {
        let t0 = clock.now
        _ = try await journal.nextSTAN()
        let d = clock.now - t0
        commit.append(Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12)
    }
    commit.sort()
    roundTrip.sort()
    toWire.sort()
    func f(_ v: Double) -> String { String((v * 10).rounded() / 10) }
    print("Acquirer round trip (persistent TLS connection, journal fsyncs included), \(rounds) requests:")
    print("   p50 \(f(percentile(roundTrip, 0.5))) µs, p99 \(f(percentile(roundTrip, 0.99))) µs")
    print("Kernel outcome → request received by the acquirer (persist + fsync + pack + TLS + loopback):")
    print("   p50 \(f(percentile(toWire, 0.5))) µs, p99 \(f(percentile(toWire, 0.99))) µs")
    print("One journal transaction alone (the STAN counter; WAL, synchronous FULL: one fsync):")
    print("   p50 \(f(percentile(commit, 0.5))) µs, p99 \(f(percentile(commit, 0.99))) µs")
}
