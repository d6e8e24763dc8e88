// A real process is SIGKILLed after persisting the request, and after sending it before the answer; a restart
// (a new service over the same journal file) must send exactly one reversal.
import XCTest
import Foundation
import TLV
import ISO8583
import Journal
import Acquirer
import Simulators

final class CrashTests: XCTestCase {
    func helperPath() -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tapd-crash-helper").path
    }

    func runAndKill(stage: String, journalPath: String, certs: TestCertificates, port: Int, until ready: () async -> Bool) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: helperPath())
        p.arguments = [stage, journalPath, String(repeating: "07", count: 32), "127.0.0.1", String(port), certs.caFile,
                       certs.clientCertificateFile, certs.clientKeyFile]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while !(await ready()) {
            guard p.isRunning else { return XCTFail("helper ended early (status \(p.terminationStatus)) at stage \(stage)") }
            guard ContinuousClock.now < deadline else { XCTFail("helper never reached its stage"); break }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
    }

    func testSIGKILLAfterPersistingAndAfterSending() async throws {
        guard FileManager.default.isExecutableFile(atPath: helperPath()) else { return XCTFail("tapd-crash-helper not built at \(helperPath())") }
        let dir = NSTemporaryDirectory() + "tapd-crash-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let certs = try TestCertificates.generate(in: dir)
        let sim = try AcquirerSimulator(certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile, clientCAFile: certs.caFile)
        let port = try await sim.start()
        await sim.setRule { m in m.mtiClass == "2" ? .noAnswer : nil }
        let journalPath = dir + "/journal.sqlite"
        let key = try JournalKey(bytes: [UInt8](repeating: 7, count: 32))

        // 1. Killed after persisting, before anything was sent.
        try await runAndKill(stage: "persisted", journalPath: journalPath, certs: certs, port: port) {
            ((try? Journal(path: journalPath, key: key).unresolved().count) ?? 0) >= 1
        }
        // 2. Killed after sending, before the answer (the simulator holds it back).
        try await runAndKill(stage: "sent", journalPath: journalPath, certs: certs, port: port) {
            await sim.received.contains { $0.mti == "0200" }
        }

        let journal = try Journal(path: journalPath, key: key)
        let unresolved = try journal.unresolved()
        XCTAssertEqual(unresolved.count, 2)
        var c = AcquirerConfiguration(host: "127.0.0.1", port: port, caFile: certs.caFile, clientCertificateFile: certs.clientCertificateFile,
                                      clientKeyFile: certs.clientKeyFile, terminalID: "TAPD0001", merchantID: "TAPD00000000001")
        c.responseTimeout = 2
        let restarted = AcquirerService(link: try AcquirerLink(configuration: c), journal: journal)
        let queued = try await restarted.recover()
        XCTAssertEqual(queued, 2)
        let again = try await restarted.recover()
        XCTAssertEqual(again, 0)
        let delivered = await restarted.deliverQueue()
        XCTAssertEqual(delivered, 2)
        let reversals = await sim.received.filter { $0.mtiClass == "4" }
        XCTAssertEqual(reversals.count, 2, "exactly one reversal per interrupted transaction")
        XCTAssertEqual(Set(reversals.compactMap { $0[11] }), Set(unresolved.compactMap(\.stan)))
        for t in unresolved { XCTAssertEqual(try journal.transaction(t.id)?.state, .reversed) }
        await sim.stop()
    }
}
