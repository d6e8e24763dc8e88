// A short, deterministic fuzz run inside `make test`: the same targets as `make fuzz`, fed with mutations of
// real card responses (the sample card's conversation) and of malformed seeds. The long coverage-guided run is
// `make fuzz` (libFuzzer with AddressSanitizer).
import XCTest
import TLV
import APDU
import EMVKernel
import FuzzTargets
import Simulators

final class FuzzSmokeTests: XCTestCase {
    static let iterations = 4000

    func seeds() async throws -> [[UInt8]] {
        let card = SampleVisaCard(pki: try SampleVisaCard.makePKI())
        let pdolData = [UInt8](repeating: 0, count: try DataObjectList(parsing: SampleVisaCard.pdol).totalLength)
        var s = try card.exchanges(pdolData: pdolData).compactMap { ex -> [UInt8]? in
            if case .bytes(let b) = ex.answer { return Array(b.dropLast(2)) }
            return nil
        }
        s += [[], [0x00], [0xFF], [0x9F], [0x9F, 0x4B, 0x83, 0xFF, 0xFF, 0xFF], [0x70, 0x80],
              [UInt8](hex: "9F66049F02069F03069F1A0295055F2A029A039C019F3704")!, [UInt8](hex: "0801010110010200")!,
              [UInt8](hex: "000000000000000042031E031F00")!, [0x00, 0xA4, 0x04, 0x00, 0x00, 0x01, 0x00]]
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

    func testKeyFileLoaderSurvivesMutations() throws {
        let text = Array(try String(contentsOfFile: #filePath.replacingOccurrences(of: "Tests/FuzzSmokeTests/FuzzSmokeTests.swift",
                                                                               with: "Sources/EMVKernel/CAKeys/test.capk"), encoding: .utf8).utf8)
        var rng = SplitMix64(seed: 0x7A9D_0002)
        for _ in 0..<300 { FuzzTargets.keyFile(Mutator.mutate(text, using: &rng)) }
    }
}
