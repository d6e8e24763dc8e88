// A short, deterministic fuzz run inside `make test`: the same targets as `make fuzz`, fed with mutations of
// real card responses (the sample card's conversation) and of malformed seeds. The long coverage-guided run is
// `make fuzz` (libFuzzer with AddressSanitizer).

import APDU
import EMVKernel
import Foundation
import FuzzTargets
import ISO8583
import Simulators
import TLV
import XCTest

final class FuzzSmokeTests: XCTestCase {
    static let iterations = 4000

    func seeds() async throws -> [[UInt8]] {
        // Every response of a Visa and a Mastercard transaction with the virtual cards.
        var s: [[UInt8]] = []
        for p in [CardProfile.visaCard(offline: true), .mastercardCard(), .mastercardPhone()] {
            let card = RecordingChannel(try VirtualCard(p))
            var keys = try CAKeyStore.bundled(includeTestKeys: true)
            try VirtualCard.pki(for: p.scheme).register(in: &keys)
            let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
            let txn = TransactionParameters(amount: 1234, date: EMVDate(year: 2026, month: 11, day: 26)!)
            _ = await ep.process(card: card, transaction: txn, combinations: ep.preProcess(txn)!)
            s += await card.exchanges.compactMap { $0.response.map { Array($0.dropLast(2)) } }
        }
        s += [
            [], [0x00], [0xFF], [0x9F], [0x9F, 0x4B, 0x83, 0xFF, 0xFF, 0xFF], [0x70, 0x80],
            [UInt8](hex: "9F66049F02069F03069F1A0295055F2A029A039C019F3704")!, [UInt8](hex: "0801010110010200")!,
            [UInt8](hex: "000000000000000042031E031F00")!, [0x00, 0xA4, 0x04, 0x00, 0x00, 0x01, 0x00],
        ]
        return s
    }

    func testCardInputParsersSurviveMutations() async throws {
        let keys = try CAKeyStore.bundled(includeTestKeys: true)
        let corpus = try await seeds()
        var rng = SplitMix64(seed: 0x7A9D_0001)
        for i in 0..<Self.iterations {
            let input = Mutator.mutate(corpus[i % corpus.count], using: &rng)
            FuzzTargets.cardInput(input, keys: keys)
        }
        // Pure random inputs of many sizes, too.
        for _ in 0..<500 {
            let n = Int.random(in: 0...600, using: &rng)
            FuzzTargets.cardInput((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }, keys: keys)
        }
    }

    /// Whole transactions where one card response at a time is mutated: every run must end in an outcome.
    func testKernelsSurviveHostileResponses() async throws {
        var keys = try CAKeyStore.bundled(includeTestKeys: true)
        var conversations: [[ScriptedExchange]] = []
        try VirtualCard.registerTestCAs(in: &keys)
        for p in [
            CardProfile.visaCard(), .mastercardCard(), .amexCard(), .jcbCard(), .discoverCard(offline: true),
            .unionPayCard(offline: true), .unionPaySMCard(offline: true),
        ] {
            let card = RecordingChannel(try VirtualCard(p))
            let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
            let txn = TransactionParameters(
                amount: 1234, date: EMVDate(year: 2026, month: 11, day: 26)!, unpredictableNumber: [1, 2, 3, 4])
            _ = await ep.process(card: card, transaction: txn, combinations: ep.preProcess(txn)!)
            conversations.append(
                await card.exchanges.compactMap { e in
                    e.response.map { ScriptedExchange(command: e.command, response: $0) }
                })
        }
        var rng = SplitMix64(seed: 0x7A9D_0003)
        var kinds: Set<String> = []
        for i in 0..<1400 {
            let conv = conversations[i % conversations.count]
            let target = Int.random(in: 0..<conv.count, using: &rng)
            guard case .bytes(let original) = conv[target].answer else { continue }
            let hostile = Mutator.mutate(original, using: &rng)
            let o = await FuzzTargets.kernel(conversation: conv, replace: target, with: hostile, keys: keys)
            kinds.insert(o.kind.rawValue)
        }
        XCTAssertGreaterThan(kinds.count, 2, "mutations should reach several different outcomes: \(kinds)")
    }

    /// The structure-aware kernel target of `make fuzz` (KernelFuzz), run over a deterministic sweep: every seed
    /// conversation (virtual cards of both kernels with a see-phone restart, and the public recordings), every card
    /// answer, every mutation operation, several objects and payloads. Each run must end in outcomes that keep the
    /// invariants (KernelFuzz.check traps otherwise).
    func testKernelTargetSweep() async throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("KernelTests/Fixtures/public")
        let recordings = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
            .filter { $0.hasSuffix(".trace") || $0.hasSuffix(".json") }
            .map { try ReplayFile.loadRecording(try Data(contentsOf: dir.appendingPathComponent($0)), name: $0) }
        let seeds = try await KernelFuzz.seeds(publicRecordings: recordings)
        XCTAssertGreaterThanOrEqual(seeds.count, 14)
        let keys = try KernelFuzz.keys()
        var rng = SplitMix64(seed: 0x7A9D_0005)
        var kinds: Set<String> = []
        var runs = 0
        for (si, seed) in seeds.enumerated() {
            for ei in 0..<seed.conversation.count {
                for op in 0..<10 {
                    let payload = (0..<Int.random(in: 0...40, using: &rng)).map { _ in
                        UInt8.random(in: 0...255, using: &rng)
                    }
                    let program = [UInt8(si), UInt8(ei), UInt8(op), UInt8.random(in: 0...255, using: &rng)] + payload
                    for o in await KernelFuzz.execute(program, seeds: seeds, keys: keys) {
                        kinds.insert(o.kind.rawValue)
                    }
                    runs += 1
                }
            }
        }
        XCTAssertGreaterThan(runs, 500)
        XCTAssertTrue(
            kinds.isSuperset(of: ["approved", "online_request", "declined", "end_application", "see_phone"]), "\(kinds)"
        )
    }

    func testAcquirerMessagesSurviveMutations() throws {
        var m = ISOMessage(mti: "0210")
        m[2] = "4761739001010119"
        m[3] = "000000"
        m[4] = "000000001234"
        m[11] = "000001"
        m[35] = "4761739001010119D2812201"
        m[37] = "633009000001"
        m[38] = "A1B2C3"
        m[39] = "00"
        m[41] = "TAPD0001"
        m[49] = "978"
        m[70] = "301"
        m.set(55, bytes: [UInt8](hex: "910A00112233445566773030" + "72079F180400000001" + "8A023030")!)
        let seeds = try [ISO8583Codec(spec: .iso87ASCII).pack(m), ISO8583Codec(spec: .iso87BCD()).pack(m)]
        var rng = SplitMix64(seed: 0x7A9D_0004)
        for i in 0..<3000 { FuzzTargets.acquirerInput(Mutator.mutate(seeds[i % 2], using: &rng)) }
    }

    func testKeyFileLoaderSurvivesMutations() throws {
        let text = Array(
            try String(
                contentsOfFile: #filePath.replacingOccurrences(
                    of: "Tests/FuzzSmokeTests/FuzzSmokeTests.swift",
                    with: "Sources/EMVKernel/CAKeys/test.capk"), encoding: .utf8
            ).utf8)
        var rng = SplitMix64(seed: 0x7A9D_0002)
        for _ in 0..<300 { FuzzTargets.keyFile(Mutator.mutate(text, using: &rng)) }
    }
}
