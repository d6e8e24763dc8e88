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
