// The PC/SC back end against a real pcscd (1.9.9 on Debian 12) with the vpcd driver, and virtual cards served by
// `tapd-vicc` over the vpcd protocol. pcscd runs in private mount and network namespaces (its own /run/pcscd, its
// own loopback for vpcd's ports), so it never meets a system pcscd; this process reaches its socket through
// /proc/PID/root. Needs root for the namespaces (CI runs as root).
import XCTest
import Foundation
import TLV
import APDU
import EMVCrypto
import EMVKernel
import Simulators
@testable import Readers

final class PCSCLab: Sendable {
    let directory: String
    let pcscd: Process
    let pid: Int32
    static let shared = Result { try PCSCLab() }

    init() throws {
        guard getuid() == 0 else { throw XCTSkip("the pcscd lab needs root for its namespaces (CI runs as root)") }
        directory = NSTemporaryDirectory() + "tapd-pcsc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/reader.conf.d", withIntermediateDirectories: true)
        try """
        FRIENDLYNAME "Virtual PCD"
        DEVICENAME   /dev/null:0x8C7B
        LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
        CHANNELID    0x8C7B

        """.write(toFile: directory + "/reader.conf.d/vpcd", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "/run/pcscd", withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        // pcscd lives as long as this test process: the namespace's shell watches it and then stops whichever
        // pcscd is current (a restart test replaces it). The shell's pid gives the namespace's paths.
        p.arguments = ["--mount", "--net", "--fork", "/bin/sh", "-c",
                       "mount -t tmpfs tmpfs /run/pcscd && ip link set lo up || exit 1; "
                       + "/usr/sbin/pcscd --foreground --debug --apdu --config \(directory)/reader.conf.d > \(directory)/pcscd.log 2>&1 & "
                       + "echo $! > \(directory)/pcscd.pid; echo $$ > \(directory)/pid; "
                       + "while kill -0 \(getpid()) 2>/dev/null; do sleep 0.5; done; "
                       + "P=$(cat \(directory)/pcscd.pid); kill $P; sleep 1; kill -9 $P 2>/dev/null; rm -rf \(directory)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        pcscd = p
        let deadline = Date().addingTimeInterval(10)
        var found: Int32 = 0
        while Date() < deadline {
            if let s = try? String(contentsOfFile: directory + "/pid", encoding: .utf8), let n = Int32(s.trimmingCharacters(in: .whitespacesAndNewlines)),
               FileManager.default.fileExists(atPath: "/proc/\(n)/root/run/pcscd/pcscd.comm") { found = n; break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard found > 0 else { throw NSError(domain: "PCSCLab", code: 1, userInfo: [NSLocalizedDescriptionKey: "pcscd did not start"]) }
        pid = found
        // pcsc-lite's client reads the socket path once, from PCSCLITE_CSOCK_NAME.
        setenv("PCSCLITE_CSOCK_NAME", "/proc/\(found)/root/run/pcscd/pcscd.comm", 1)
    }

    /// Stops pcscd (SIGTERM, as systemd would) and waits until it is gone.
    func stopPCSCD() throws {
        let pid = try String(contentsOfFile: directory + "/pcscd.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let n = Int32(pid) else { return }
        kill(n, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while kill(n, 0) == 0, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    }

    /// Starts a new pcscd in the same namespaces.
    func startPCSCD() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        p.arguments = ["--target", String(pid), "--mount", "--net", "/usr/sbin/pcscd", "--foreground", "--debug", "--config", directory + "/reader.conf.d"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        try String(p.processIdentifier).write(toFile: directory + "/pcscd.pid", atomically: true, encoding: .utf8)
    }

    /// Starts `tapd-vicc` inside pcscd's network namespace; returns the process and the CA key it trusts.
    func insert(_ profile: String, port: Int = 35963, persona: String? = nil) throws -> (Process, CAKeyStore) {
        let vicc = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tapd-vicc").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        p.arguments = ["--net=/proc/\(pid)/ns/net", vicc, profile, String(port)] + (persona.map { [$0] } ?? [])
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        // First line: "CA RID INDEX EXPONENT MODULUS".
        var line = [UInt8]()
        while let b = try out.fileHandleForReading.read(upToCount: 1), let c = b.first, c != 0x0A { line.append(c) }
        let f = String(decoding: line, as: UTF8.self).split(separator: " ").map(String.init)
        guard f.count == 5, f[0] == "CA", let rid = [UInt8](hex: f[1]), let idx = [UInt8](hex: f[2]), let e = [UInt8](hex: f[3]),
              let m = [UInt8](hex: f[4]) else { throw NSError(domain: "PCSCLab", code: 2, userInfo: [NSLocalizedDescriptionKey: "tapd-vicc said no CA"]) }
        var keys = try CAKeyStore.bundled(includeTestKeys: true)
        try keys.add(rid: rid, index: idx[0], key: try RSAPublicKey(modulus: m, exponent: e), label: "vicc test CA", isTest: true)
        return (p, keys)
    }
}

final class PCSCTests: XCTestCase {
    func lab() throws -> PCSCLab { try PCSCLab.shared.get() }

    /// Waits (with SCardGetStatusChange, no polling) until `reader` satisfies `condition`.
    func wait(_ ctx: PCSCContext, _ reader: String, for what: String, _ condition: (ReaderStatus) -> Bool) async throws -> ReaderStatus {
        var known: [String: ReaderStatus] = [:]
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let s = try await ctx.waitForChange(known, readers: [reader], timeout: .seconds(2))
            if let r = s.first { if condition(r) { return r }; known[reader] = r }
        }
        throw NSError(domain: "PCSCTests", code: 3, userInfo: [NSLocalizedDescriptionKey: "reader never became \(what)"])
    }

    /// Waits for the reader to be empty (pcscd noticed the previous card leave), then inserts the card and waits
    /// until pcscd sees it; returns the card's process, the CA keys it trusts and the reader's state with it.
    func insert(_ lab: PCSCLab, _ ctx: PCSCContext, _ profile: String, persona: String? = nil)
        async throws -> (process: Process, keys: CAKeyStore, present: ReaderStatus) {
        _ = try await wait(ctx, "Virtual PCD 00 00", for: "empty") { $0.state.contains(.empty) }
        let (process, keys) = try lab.insert(profile, persona: persona)
        let present = try await wait(ctx, "Virtual PCD 00 00", for: "present") { $0.cardPresent }
        return (process, keys, present)
    }

    func testMonitorFollowsCardsAndSurvivesAPcscdRestart() async throws {
        let lab = try lab()
        let monitor = PCSCMonitor(initialBackoff: .milliseconds(100), maximumBackoff: .milliseconds(400))
        let collector = EventCollector()
        let runner = Task { await monitor.run() }
        let reader = Task { for await e in monitor.events { await collector.add(e) } }
        defer { monitor.stop(); runner.cancel() }
        try await collector.wait(for: "service up and both readers") { $0.contains(.serviceUp) && $0.contains(.attached("Virtual PCD 00 01")) }
        // Nothing happens: the monitor sleeps inside SCardGetStatusChange instead of polling.
        let idle = monitor.waits
        try await Task.sleep(for: .seconds(1))
        XCTAssertLessThanOrEqual(monitor.waits - idle, 1, "no polling while idle")

        let (card, _) = try lab.insert("visa-card")
        try await collector.wait(for: "card present") { $0.contains(.cardPresent("Virtual PCD 00 00", atr: VPCDBridge.contactlessATR)) }
        card.terminate(); card.waitUntilExit()
        try await collector.wait(for: "card removed") { $0.contains(.cardRemoved("Virtual PCD 00 00")) }

        // pcscd stops (a restart, or socket activation exiting when idle) and comes back.
        try lab.stopPCSCD()
        try await collector.wait(for: "service down") { $0.contains { if case .serviceDown = $0 { true } else { false } } }
        await collector.clear()
        try lab.startPCSCD()
        try await collector.wait(for: "service up again") { $0.contains(.serviceUp) && $0.contains(.attached("Virtual PCD 00 00")) }
        let (again, _) = try lab.insert("mastercard-card")
        defer { if again.isRunning { again.terminate() }; again.waitUntilExit() }
        try await collector.wait(for: "card present after the restart") { $0.contains(.cardPresent("Virtual PCD 00 00", atr: VPCDBridge.contactlessATR)) }
        monitor.stop()
        _ = await reader.value
    }

    func testReadersATRInsertionAndRemoval() async throws {
        let lab = try lab()
        let ctx = try PCSCContext()
        let readers = try ctx.readers()
        XCTAssertEqual(readers, ["Virtual PCD 00 00", "Virtual PCD 00 01"])
        let (card, _, present) = try await insert(lab, ctx, "visa-card")
        defer { if card.isRunning { card.terminate() } }
        XCTAssertEqual(present.atr, VPCDBridge.contactlessATR)
        card.terminate()
        card.waitUntilExit()
        let empty = try await wait(ctx, readers[0], for: "empty") { $0.state.contains(.empty) }
        XCTAssertFalse(empty.cardPresent)
        XCTAssertGreaterThan(empty.eventCount, present.eventCount, "the event counter moves on removal")
    }

    func testVisaAndMastercardTransactionsThroughPCSC() async throws {
        let lab = try lab()
        let ctx = try PCSCContext()
        for profile in ["visa-card", "mastercard-card", "visa-phone"] {
            let (process, keys, _) = try await insert(lab, ctx, profile)
            defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
            let card = try PCSCCard(context: ctx, reader: "Virtual PCD 00 00")
            defer { card.disconnect() }
            XCTAssertEqual(card.atr, VPCDBridge.contactlessATR)
            let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
            let txn = TransactionParameters(amount: 1234, date: EMVDate(year: 2026, month: 11, day: 26)!)
            var o = await ep.process(card: card, transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)))
            if o.kind == .seePhone || o.kind == .tryAgain {
                o = await ep.process(card: card, transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)), restarted: true)
            }
            XCTAssertEqual(o.kind, .onlineRequest, "\(profile): \(o.reason ?? "")")
            XCTAssertNil(o.oda?.failure, profile)
            guard case .verified = try TestIssuer.verify(o.transactionData) else { return XCTFail("\(profile): ARQC does not verify") }
        }
    }

    func testCardThatLeavesMidExchangeIsCardRemovedNotAHang() async throws {
        let lab = try lab()
        let ctx = try PCSCContext()
        let (process, _, _) = try await insert(lab, ctx, "visa-card", persona: "vanish-after=1")
        defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
        _ = try await wait(ctx, "Virtual PCD 00 00", for: "present") { $0.cardPresent }
        let card = try PCSCCard(context: ctx, reader: "Virtual PCD 00 00")
        defer { card.disconnect() }
        let ppse = try CommandAPDU.select(name: CommandAPDU.ppseName).encoded()
        let first = try await card.transmit(ppse)
        XCTAssertEqual(Array(first.suffix(2)), [0x90, 0x00])
        do {
            _ = try await card.transmit(ppse)
            XCTFail("the second exchange must fail")
        } catch let e as CardError {
            XCTAssertEqual(e, .cardRemoved)
        }
        // And the kernel turns it into a clean outcome on the next tap attempt.
        let ep = EntryPoint(configuration: TerminalConfiguration(), keys: try CAKeyStore.bundled(includeTestKeys: true), risk: RiskManager())
        let txn = TransactionParameters(amount: 1234, date: EMVDate(year: 2026, month: 11, day: 26)!)
        let o = await ep.process(card: card, transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)))
        XCTAssertNotEqual(o.kind, .onlineRequest)
        XCTAssertNotEqual(o.kind, .approved)
    }

    func testReaderFeaturesOnADriverWithoutThem() async throws {
        // vpcd 0.8 has no IFDHControl: the feature request fails cleanly and the APDU limit is "unknown".
        let lab = try lab()
        let ctx = try PCSCContext()
        let (process, _, _) = try await insert(lab, ctx, "visa-card")
        defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
        let card = try PCSCCard(context: ctx, reader: "Virtual PCD 00 00")
        defer { card.disconnect() }
        XCTAssertThrowsError(try card.control(PCSCControlCode.getFeatureRequest)) { e in
            XCTAssertEqual((e as? PCSCError)?.code, PCSCCode.unsupportedFeature, "\(e)")
        }
        XCTAssertNil(card.maxAPDUDataSize())
        // The card still works afterwards.
        let r = try await card.transmit(try CommandAPDU.select(name: CommandAPDU.ppseName).encoded())
        XCTAssertEqual(Array(r.suffix(2)), [0x90, 0x00])
    }

    /// Stock pcsc-tools see the vpcd reader and the virtual card, and `scriptor` talks to it.
    func testStockPcscToolsAcceptTheVirtualCard() async throws {
        let lab = try lab()
        let ctx = try PCSCContext()
        let (process, _, _) = try await insert(lab, ctx, "visa-card")
        defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
        func run(_ tool: String, _ args: [String], input: String? = nil) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tool)
            p.arguments = args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            let inPipe = Pipe()
            p.standardInput = inPipe
            try p.run()
            if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
            try inPipe.fileHandleForWriting.close()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        let readers = try run("/usr/bin/pcsc_scan", ["-r"])
        XCTAssertTrue(readers.contains("Virtual PCD 00 00"), readers)
        let script = try run("/usr/bin/scriptor", ["-r", "Virtual PCD 00 00"], input: "00 A4 04 00 0E 32 50 41 59 2E 53 59 53 2E 44 44 46 30 31 00\n")
        XCTAssertTrue(script.contains("90 00"), script)
        XCTAssertTrue(script.contains("32 50 41 59"), "the PPSE FCI names 2PAY.SYS.DDF01: \(script)")
    }

    func testSlowPhoneIsNotCutOff() async throws {
        let lab = try lab()
        let ctx = try PCSCContext()
        let (process, keys, _) = try await insert(lab, ctx, "mastercard-phone", persona: "slow-gpo=700")
        defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
        _ = try await wait(ctx, "Virtual PCD 00 00", for: "present") { $0.cardPresent }
        let card = try PCSCCard(context: ctx, reader: "Virtual PCD 00 00")
        defer { card.disconnect() }
        let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
        let txn = TransactionParameters(amount: 4200, date: EMVDate(year: 2026, month: 11, day: 26)!)
        let o = await ep.process(card: card, transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)))
        XCTAssertEqual(o.kind, .onlineRequest, o.reason ?? "")
    }
}

actor EventCollector {
    private(set) var events: [ReaderEvent] = []
    func add(_ e: ReaderEvent) { events.append(e) }
    func clear() { events = [] }
    func wait(for what: String, _ condition: @Sendable ([ReaderEvent]) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition(events) {
            guard ContinuousClock.now < deadline else { throw NSError(domain: "PCSCTests", code: 4, userInfo: [NSLocalizedDescriptionKey: "never saw \(what)"]) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
