// Runs Entry Point and the kernels against virtual cards in process (the card answers the real APDU protocol).

import APDU
import EMVCrypto
import Simulators
import TLV
import XCTest

@testable import EMVKernel

struct TapResult {
    let outcome: Outcome
    let commands: [[UInt8]]
}

enum Harness {
    static let date = EMVDate(year: 2026, month: 11, day: 26)!

    static func keys(revoking: [String] = []) throws -> CAKeyStore {
        var k = try CAKeyStore.bundled(includeTestKeys: true)
        try VirtualCard.registerTestCAs(in: &k)
        if !revoking.isEmpty { try k.loadRevocations(text: revoking.joined(separator: "\n"), source: "test") }
        return k
    }

    /// Runs a scripted card in exact mode through Entry Point and the kernels with the bundled keys; fails the test when
    /// the kernel sent anything the script does not hold or left exchanges unasked.
    static func runScripted(
        _ script: [ScriptedExchange], amount: UInt64, config: TerminalConfiguration, un: [UInt8],
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> Outcome {
        let card = ScriptedChannel(script)
        let ep = EntryPoint(
            configuration: config, keys: try CAKeyStore.bundled(includeTestKeys: true), risk: RiskManager())
        let txn = TransactionParameters(amount: amount, date: date, unpredictableNumber: un)
        let o = await ep.process(card: card, transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)))
        let mismatches = await card.mismatches
        XCTAssertTrue(mismatches.isEmpty, "\(mismatches)", file: file, line: line)
        let left = await card.remaining
        XCTAssertEqual(left, 0, "exchanges the kernel never asked for", file: file, line: line)
        return o
    }

    static func tap(
        _ card: any CardChannel, amount: UInt64, config: TerminalConfiguration = TerminalConfiguration(),
        keys: CAKeyStore? = nil, risk: RiskManager = RiskManager(), restarted: Bool = false,
        un: [UInt8]? = nil
    ) async throws -> TapResult {
        let ep = EntryPoint(configuration: config, keys: try keys ?? Self.keys(), risk: risk)
        let txn = TransactionParameters(amount: amount, date: date, unpredictableNumber: un)
        let rec = RecordingChannel(card)
        guard let pre = ep.preProcess(txn) else {
            return TapResult(outcome: EntryPoint.noContactlessOutcome(), commands: [])
        }
        let o = await ep.process(card: rec, transaction: txn, combinations: pre, restarted: restarted)
        return TapResult(outcome: o, commands: await rec.exchanges.map(\.command))
    }
}
