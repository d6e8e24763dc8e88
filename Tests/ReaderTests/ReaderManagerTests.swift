// ReaderManager over both real stacks at once: the vpcd readers of the test pcscd (PCSCLab, root) and a libnfc
// PN532 on the emulator's pseudo-terminal.

import APDU
import EMVKernel
import Foundation
import Simulators
import TestSupport
import XCTest

@testable import Readers

actor ManagerEvents {
    private(set) var all: [ReaderManagerEvent] = []
    func add(_ e: ReaderManagerEvent) { all.append(e) }
    func wait(for what: String, _ condition: @Sendable ([ReaderManagerEvent]) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition(all) {
            guard ContinuousClock.now < deadline else {
                throw NSError(
                    domain: "ReaderManagerTests", code: 1,
                    userInfo: [NSLocalizedDescriptionKey: "never saw \(what): \(all)"])
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

final class ReaderManagerTests: XCTestCase {
    func follow(_ m: ReaderManager) -> (ManagerEvents, Task<Void, Never>) {
        let events = ManagerEvents()
        return (events, Task { for await e in m.events { await events.add(e) } })
    }

    static func online(_ card: any CardChannel, keys: CAKeyStore) async throws -> Outcome {
        let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
        let txn = TransactionParameters(amount: 2500, date: EMVDate(year: 2026, month: 11, day: 26)!)
        return await ep.process(card: card, transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)))
    }

    func testOneManagerDrivesPCSCAndLibnfcReaders() async throws {
        let lab = try PCSCLab.shared.get()
        let emulator = try PN532Emulator()
        defer { emulator.stop() }
        let m = ReaderManager(
            configuration: ReaderManagerConfiguration(
                libnfc: [emulator.connstring], ignore: ["PCD 00 01"], virtualReaders: true))
        let (events, follower) = follow(m)
        await m.start()
        try await events.wait(for: "both readers") {
            $0.contains(.attached("Virtual PCD 00 00", .pcsc)) && $0.contains(.attached(emulator.connstring, .libnfc))
        }
        let names = await m.snapshot().map(\.name)
        XCTAssertEqual(Set(names), ["Virtual PCD 00 00", emulator.connstring], "the ignored slot stays out")
        let model = await m.snapshot().first { $0.name == emulator.connstring }?.model
        XCTAssertEqual(model, "PN532 (UART)")

        // libnfc: lease, tap, transaction, removal.
        let nfcLease = try await m.acquire(emulator.connstring)
        do {
            _ = try await m.acquire(emulator.connstring)
            XCTFail("leased twice")
        } catch let e as ReaderManagerError {
            XCTAssertEqual(e, .busy(emulator.connstring))
        }
        let inUse = await m.snapshot().first { $0.name == emulator.connstring }?.state
        XCTAssertEqual(inUse, .inUse)
        emulator.present(try VirtualCard(.mastercardCard()))
        let tapped = try await nfcLease.waitForCard(timeout: .seconds(3))
        let nfcCard = try XCTUnwrap(tapped)
        await nfcLease.signal(.processing)  // a PN532 board has no LEDs: nothing to do, nothing breaks
        // The kernel runs on the reader's own thread, as the daemon runs it: every APDU a direct call into libnfc.
        let nfcKeys = try LibNFCTests.keys()
        let (o, onReaderThread) = try await nfcCard.run { () async throws -> (Outcome, Bool) in
            let here = nfcCard.executor.isCurrent
            return (try await ReaderManagerTests.online(nfcCard.channel, keys: nfcKeys), here)
        }
        XCTAssertTrue(onReaderThread)
        XCTAssertEqual(o.kind, .onlineRequest, o.reason ?? "")
        emulator.present(nil)
        let gone = await nfcLease.waitForRemoval(timeout: .seconds(3))
        XCTAssertTrue(gone)
        await nfcLease.finish()
        try await events.wait(for: "libnfc card events") {
            $0.contains(.cardPresent(emulator.connstring)) && $0.contains(.cardRemoved(emulator.connstring))
        }

        // PC/SC: the card arrives after the lease starts waiting.
        let lease = try await m.acquire()  // no name: the first idle reader
        XCTAssertEqual(lease.reader, "Virtual PCD 00 00")
        let waited = Task { try await lease.waitForCard(timeout: .seconds(10)) }
        try await Task.sleep(for: .milliseconds(200))
        let (process, keys) = try lab.insert("visa-card")
        defer {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        let found = try await waited.value
        let card = try XCTUnwrap(found)
        XCTAssertEqual(card.answerToSelect, VPCDBridge.contactlessATR)
        await lease.signal(.approved)  // vpcd has no escapes: refused quietly
        let p = try await ReaderManagerTests.online(card.channel, keys: keys)
        XCTAssertEqual(p.kind, .onlineRequest, p.reason ?? "")
        process.terminate()
        process.waitUntilExit()
        let removed = await lease.waitForRemoval(timeout: .seconds(10))
        XCTAssertTrue(removed)
        await lease.finish()
        // The monitor reports the removal on its own; the reader's status follows.
        try await events.wait(for: "pcsc card removed") {
            $0.last { $0 == .cardPresent("Virtual PCD 00 00") || $0 == .cardRemoved("Virtual PCD 00 00") }
                == .cardRemoved("Virtual PCD 00 00")
        }
        var idle = await m.snapshot().first { $0.name == "Virtual PCD 00 00" }?.state
        for _ in 0..<100 where idle != .idle {
            try await Task.sleep(for: .milliseconds(20))
            idle = await m.snapshot().first { $0.name == "Virtual PCD 00 00" }?.state
        }
        XCTAssertEqual(idle, .idle)

        // Cancel a wait for a card.
        let waiting = try await m.acquire("Virtual PCD 00 00")
        let t = Task { try await waiting.waitForCard(timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(200))
        waiting.cancel()
        do {
            _ = try await t.value
            XCTFail("cancelled wait returned")
        } catch let e as CardError { XCTAssertEqual(e, .cancelled) }
        await waiting.finish()

        await m.stop()
        _ = await follower.value
    }

    func testLibnfcReaderThatComesAndGoes() async throws {
        let emulator = try PN532Emulator()
        defer { emulator.stop() }
        let link = NSTemporaryDirectory() + "tapd-tty-\(UUID().uuidString.prefix(8))"
        defer { unlink(link) }
        let connstring = "pn532_uart:\(link)"
        let m = ReaderManager(
            configuration: ReaderManagerConfiguration(pcsc: false, libnfc: [connstring]),
            libnfcCheckInterval: .milliseconds(100), libnfcBackoff: (.milliseconds(50), .milliseconds(200)))
        let (events, follower) = follow(m)
        await m.start()
        try await events.wait(for: "an error while unplugged") {
            $0.contains { if case .error(connstring, _) = $0 { true } else { false } }
        }
        do {
            _ = try await m.acquire()
            XCTFail("no reader yet")
        } catch let e as ReaderManagerError { XCTAssertEqual(e, .noReader) }
        XCTAssertEqual(symlink(emulator.devicePath, link), 0)  // the USB-UART adapter is plugged in
        try await events.wait(for: "attached") { $0.contains(.attached(connstring, .libnfc)) }
        unlink(link)  // and pulled out again
        try await events.wait(for: "detached") { $0.contains(.detached(connstring)) }
        let none = await m.snapshot()
        XCTAssertEqual(none, [])
        XCTAssertEqual(symlink(emulator.devicePath, link), 0)
        try await events.wait(for: "attached again") { $0.filter { $0 == .attached(connstring, .libnfc) }.count == 2 }
        await m.stop()
        _ = await follower.value
    }

    func testSignalsPerReaderModel() {
        // ACR122U: FF 00 40 with the buzzer on T1 for approval; ACR1252U: escapes E0 00 00 29 (LED), 28 (buzzer).
        guard case .apdu(let ok)? = ReaderSignals.commands(for: "ACR122U", .approved)?.first else { return XCTFail() }
        XCTAssertEqual(Array(ok.prefix(3)), [0xFF, 0x00, 0x40])
        XCTAssertEqual(ok[3] & 0x03, 0x02, "green on, red off")
        XCTAssertEqual(ok.last, 0x01, "buzzer with T1")
        guard case .apdu(let no)? = ReaderSignals.commands(for: "ACR122U", .declined)?.first else { return XCTFail() }
        XCTAssertEqual(no[3] & 0x03, 0x01, "red")
        let acr1252 = ReaderSignals.commands(for: "ACR1252U", .declined) ?? []
        XCTAssertTrue(acr1252.contains(.escape([0xE0, 0x00, 0x00, 0x29, 0x01, 0x02])), "red LED")
        XCTAssertTrue(
            acr1252.contains {
                if case .escape(let b) = $0 { b.starts(with: [0xE0, 0x00, 0x00, 0x28]) } else { false }
            }, "buzzer")
        XCTAssertNil(ReaderSignals.commands(for: "PN532 (UART)", .approved))
        XCTAssertEqual(ReaderManager.model(of: "ACS ACR122U PICC Interface 00 00"), "ACR122U")
        XCTAssertEqual(
            ReaderManager.model(of: "ACS ACR1252 1S CL Reader [ACR1252 1S CL Reader PICC] 00 00"), "ACR1252U")
    }

    func testConfigurationDecoding() throws {
        let d = try JSONDecoder().decode(ReaderManagerConfiguration.self, from: Data("{}".utf8))
        XCTAssertEqual(d, ReaderManagerConfiguration())
        XCTAssertTrue(d.pcsc && d.exclusive && d.signals)
        let c = try JSONDecoder().decode(
            ReaderManagerConfiguration.self,
            from: Data(#"{"libnfc":["pn532_uart:/dev/ttyUSB0"],"preferred":"ACS"}"#.utf8))
        XCTAssertEqual(c.libnfc, ["pn532_uart:/dev/ttyUSB0"])
        XCTAssertEqual(c.preferred, "ACS")
        XCTAssertThrowsError(
            try JSONDecoder().decode(ReaderManagerConfiguration.self, from: Data(#"{"libnfc":["/dev/ttyUSB0"]}"#.utf8))
        ) { e in
            XCTAssertTrue("\(e)".contains("not a libnfc connstring"), "\(e)")
        }
    }
}
