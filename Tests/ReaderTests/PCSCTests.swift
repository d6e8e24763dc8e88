// The PC/SC back end against a real pcscd (1.9.9 on Debian 12) with the vpcd driver, and virtual cards served by
// `tapd-vicc` over the vpcd protocol. pcscd runs in private mount and network namespaces (its own /run/pcscd, its
// own loopback for vpcd's ports), so it never meets a system pcscd; this process reaches its socket through
// /proc/PID/root. Needs root for the namespaces (CI runs as root).

import APDU
import EMVCrypto
import EMVKernel
import Foundation
import Simulators
import TLV
import TestSupport
import XCTest

@testable import Readers

final class PCSCTests: XCTestCase {
    func lab() throws -> PCSCLab { try PCSCLab.shared.get() }

    /// Waits (with SCardGetStatusChange, no polling) until `reader` satisfies `condition`.
    func wait(_ ctx: PCSCContext, _ reader: String, for what: String, _ condition: (ReaderStatus) -> Bool) async throws
        -> ReaderStatus
    {
        var known: [String: ReaderStatus] = [:]
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let s = try await ctx.waitForChange(known, readers: [reader], timeout: .seconds(2))
            if let r = s.first {
                if condition(r) { return r }
                known[reader] = r
            }
        }
        throw NSError(
            domain: "PCSCTests", code: 3, userInfo: [NSLocalizedDescriptionKey: "reader never became \(what)"])
    }

    /// Waits for the reader to be empty (pcscd noticed the previous card leave), then inserts the card and waits
    /// until pcscd sees it; returns the card's process, the CA keys it trusts and the reader's state with it.
    func insert(_ lab: PCSCLab, _ ctx: PCSCContext, _ profile: String, persona: String? = nil)
        async throws -> (process: Process, keys: CAKeyStore, present: ReaderStatus)
    {
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
        defer {
            monitor.stop()
            runner.cancel()
        }
        try await collector.wait(for: "service up and both readers") {
            $0.contains(.serviceUp) && $0.contains(.attached("Virtual PCD 00 01"))
        }
        // Nothing happens: the monitor sleeps inside SCardGetStatusChange instead of polling.
        let idle = monitor.waits
        try await Task.sleep(for: .seconds(1))
        XCTAssertLessThanOrEqual(monitor.waits - idle, 1, "no polling while idle")

        let (card, _) = try lab.insert("visa-card")
        try await collector.wait(for: "card present") {
            $0.contains(.cardPresent("Virtual PCD 00 00", atr: VPCDBridge.contactlessATR))
        }
        card.terminate()
        card.waitUntilExit()
        try await collector.wait(for: "card removed") { $0.contains(.cardRemoved("Virtual PCD 00 00")) }

        // pcscd stops (a restart, or socket activation exiting when idle) and comes back.
        try lab.stopPCSCD()
        try await collector.wait(for: "service down") {
            $0.contains { if case .serviceDown = $0 { true } else { false } }
        }
        await collector.clear()
        try lab.startPCSCD()
        try await collector.wait(for: "service up again") {
            $0.contains(.serviceUp) && $0.contains(.attached("Virtual PCD 00 00"))
        }
        let (again, _) = try lab.insert("mastercard-card")
        defer {
            if again.isRunning { again.terminate() }
            again.waitUntilExit()
        }
        try await collector.wait(for: "card present after the restart") {
            $0.contains(.cardPresent("Virtual PCD 00 00", atr: VPCDBridge.contactlessATR))
        }
        monitor.stop()
        // The event stream ends once the monitor has stopped. A stop that got lost would hang here: a watchdog ends the
        // wait (cancelling the reading task ends its loop) and the test fails instead.
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(15))
            reader.cancel()
        }
        let started = ContinuousClock.now
        _ = await reader.value
        watchdog.cancel()
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(15), "the monitor did not stop within 15 s")
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
            defer {
                if process.isRunning { process.terminate() }
                process.waitUntilExit()
            }
            let card = try PCSCCard(context: ctx, reader: "Virtual PCD 00 00")
            defer { card.disconnect() }
            XCTAssertEqual(card.atr, VPCDBridge.contactlessATR)
            let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
            let txn = TransactionParameters(amount: 1234, date: EMVDate(year: 2026, month: 11, day: 26)!)
            var o = await ep.process(card: card, transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)))
            if o.kind == .seePhone || o.kind == .tryAgain {
                o = await ep.process(
                    card: card, transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)), restarted: true)
            }
            XCTAssertEqual(o.kind, .onlineRequest, "\(profile): \(o.reason ?? "")")
            XCTAssertNil(o.oda?.failure, profile)
            guard case .verified = try TestIssuer.verify(o.transactionData) else {
                return XCTFail("\(profile): ARQC does not verify")
            }
        }
    }

    func testCardThatLeavesMidExchangeIsCardRemovedNotAHang() async throws {
        let lab = try lab()
        let ctx = try PCSCContext()
        let (process, _, _) = try await insert(lab, ctx, "visa-card", persona: "vanish-after=1")
        defer {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
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
        let ep = EntryPoint(
            configuration: TerminalConfiguration(), keys: try CAKeyStore.bundled(includeTestKeys: true),
            risk: RiskManager())
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
        defer {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
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
        defer {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        func run(_ tool: String, _ args: [String], input: String? = nil) throws -> String {
            try Tool.run(tool, args, input: input).output
        }
        let readers = try run("/usr/bin/pcsc_scan", ["-r"])
        XCTAssertTrue(readers.contains("Virtual PCD 00 00"), readers)
        let script = try run(
            "/usr/bin/scriptor", ["-r", "Virtual PCD 00 00"],
            input: "00 A4 04 00 0E 32 50 41 59 2E 53 59 53 2E 44 44 46 30 31 00\n")
        XCTAssertTrue(script.contains("90 00"), script)
        XCTAssertTrue(script.contains("32 50 41 59"), "the PPSE FCI names 2PAY.SYS.DDF01: \(script)")
    }

    func testSlowPhoneIsNotCutOff() async throws {
        let lab = try lab()
        let ctx = try PCSCContext()
        let (process, keys, _) = try await insert(lab, ctx, "mastercard-phone", persona: "slow-gpo=700")
        defer {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
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
            guard ContinuousClock.now < deadline else {
                throw NSError(domain: "PCSCTests", code: 4, userInfo: [NSLocalizedDescriptionKey: "never saw \(what)"])
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
