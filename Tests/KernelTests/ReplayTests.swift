// Traces recorded from the virtual cards, replayed through `ReplayRunner` (what `tapctl replay` runs): the
// replay must reach the same outcome, ODA result and cryptogram as the live run. Fixture files in Fixtures/
// are such traces kept in the repository, so a change in the kernels that alters a known outcome shows up.

import APDU
import Foundation
import Simulators
import TLV
import XCTest

@testable import EMVKernel

final class ReplayTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func capks(_ scheme: CardProfile.Scheme) -> [ReplayFile.CAPK] {
        let p = VirtualCard.pki(for: scheme)
        let sm2 = VirtualCard.sm2PKI
        return [
            .init(
                rid: Hex.encode(sm2.rid), index: Hex.encode([sm2.caIndex]), exponent: "SM2",
                modulus: Hex.encode(sm2.ca.publicKey.point)),
            .init(
                rid: Hex.encode(p.rid), index: Hex.encode([p.caIndex]), exponent: Hex.encode(p.ca.publicKey.exponent),
                modulus: Hex.encode(p.ca.publicKey.modulus)),
        ]
    }

    func record(
        _ profile: CardProfile, amount: UInt64, config: TerminalConfiguration = TerminalConfiguration(),
        reveal: Bool = true
    ) async throws -> (Outcome, ReplayFile) {
        let card = RecordingChannel(try VirtualCard(profile))
        let ep = EntryPoint(configuration: config, keys: try Harness.keys(), risk: RiskManager())
        let txn = TransactionParameters(amount: amount, date: Harness.date)
        let o = await ep.process(card: card, transaction: txn, combinations: ep.preProcess(txn)!)
        let f = TraceRecorder.file(
            description: profile.name, exchanges: await card.exchanges, transaction: txn,
            configuration: config, outcome: o,
            extraCAPKs: capks(profile.scheme), revealCardData: reveal)
        return (o, f)
    }

    /// Every scheme's offline-capable card is approved offline at 5.00 under this terminal's floor limit of 10.00.
    let offline = KernelDemo.demoTerminal()

    func testReplayReproducesLiveTransactions() async throws {
        for (p, amount) in [
            (CardProfile.visaCard(), UInt64(1234)), (.visaCardNoRecords(), 500), (.mastercardCard(), 1234),
            (.mastercardPhone(), 9000), (.malformedTLV(), 1234), (.amexCard(offline: true), 500),
            (.jcbCard(offline: true), 500), (.discoverCard(offline: true), 500), (.unionPayCard(offline: true), 500),
            (.unionPaySMCard(offline: true), 500), (.amexCard(), 6000), (.unionPaySMCard(), 1234),
        ] {
            let (live, file) = try await record(p, amount: amount, config: offline)
            // Through JSON and back, as a file would travel.
            let replayed = try await ReplayRunner.run(try ReplayFile.load(try file.encoded()))
            XCTAssertEqual(replayed.outcome, live.kind.rawValue, p.name)
            XCTAssertEqual(replayed.kernel, live.kernel, p.name)
            XCTAssertEqual(replayed.cryptogram?.value, live.cryptogram.map { Hex.encode($0.value) }, p.name)
            XCTAssertEqual(
                replayed.oda.result, live.oda.map { $0.succeeded ? "ok" : "failed" } ?? "not_performed", p.name)
            XCTAssertEqual(replayed.pan, live.maskedPAN, p.name)
            XCTAssertEqual(replayed.apdus, file.exchanges.map(\.command), "\(p.name): the same commands, in order")
        }
    }

    func testRedactedTracesHideCardData() async throws {
        let p = CardProfile.mastercardCard()
        let (_, file) = try await record(p, amount: 1234, reveal: false)
        let json = String(decoding: try file.encoded(), as: UTF8.self)
        XCTAssertFalse(json.contains(p.pan), "full PAN in a redacted trace")
        XCTAssertTrue(json.contains("5A08541333000000"), "PAN kept as first 6 + zeros + last 4")
        // The redacted trace still replays to an outcome (its signatures no longer verify, so CDA fails).
        let r = try await ReplayRunner.run(file)
        XCTAssertEqual(r.pan, "541333******0011")
        XCTAssertEqual(r.oda.result, "failed")
    }

    func testInvalidFilesAreRejected() {
        XCTAssertThrowsError(try ReplayFile.load(Data("{".utf8)))
        XCTAssertThrowsError(try ReplayFile.load(Data(#"{"exchanges":[{"command":"00A4","response":"9000"}]}"#.utf8)))
        XCTAssertThrowsError(try ReplayFile.load(Data(#"{"terminal":{"XYZ":"00"},"exchanges":[]}"#.utf8)))
        XCTAssertThrowsError(
            try ReplayFile.load(
                Data(#"{"capks":[{"rid":"A0","index":"92","exponent":"03","modulus":"C1"}],"exchanges":[]}"#.utf8)))
        XCTAssertNoThrow(try ReplayFile.load(Data(#"{"exchanges":[]}"#.utf8)))
        // An SM2 CA key is the 64-byte point: anything else is refused.
        XCTAssertThrowsError(
            try ReplayFile.load(
                Data(
                    #"{"capks":[{"rid":"A000000333","index":"F1","exponent":"SM2","modulus":"C1C1"}],"exchanges":[]}"#
                        .utf8)))
    }

    /// Plain hex transcripts (one APDU a line, command then response): anything that is not that is not read as one
    /// — odd or non-hex lines, an unpaired command, a first line that is no C-APDU — and never crashes the reader.
    func testHexLineTranscriptsAreReadOnlyWhenWellFormed() throws {
        func exchanges(_ text: String) -> [ReplayFile.Exchange]? { ReplayFile.hexLineExchanges(Data(text.utf8)) }
        XCTAssertEqual(exchanges("# a card\nC: 00A4040000\nR: 6A82\n")?.count, 1)
        XCTAssertEqual(exchanges("00A4040000\n6A82\n80A8000002830000\n9000")?.count, 2)
        XCTAssertNil(exchanges("00A4040000\n"), "a command without its response")
        XCTAssertNil(exchanges("00A4040000\n6A8\n"), "an odd number of digits")
        XCTAssertNil(exchanges("00A4040000\nhello!\n"), "not hex")
        XCTAssertNil(exchanges("00\n9000\n"), "no C-APDU")
        XCTAssertNil(exchanges(""))
        XCTAssertNil(exchanges("#only a comment\n"))
        XCTAssertNil(ReplayFile.hexLineExchanges(Data([0xFF, 0xFE, 0x00])), "not UTF-8")
        var rng = SystemRandomNumberGenerator()
        for n in [1, 2, 7, 64, 500] {
            _ = ReplayFile.hexLineExchanges(Data((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        }
    }

    /// Recorded traces kept in the repository, with the outcome each must reach.
    func testFixtures() async throws {
        let expected: [String: (outcome: String, oda: String, cryptogram: String?)] = [
            "visa-online.json": ("online_request", "not_performed", "ARQC"),
            "visa-offline-fdda.json": ("approved", "ok", "TC"),
            "visa-phone-see-phone.json": ("see_phone", "not_performed", nil),
            "mastercard-cda.json": ("online_request", "ok", "ARQC"),
            "mastercard-phone-odcvm.json": ("online_request", "ok", "ARQC"),
        ]
        if ProcessInfo.processInfo.environment["TAPD_WRITE_FIXTURES"] == "1" { try await writeFixtures() }
        for (name, want) in expected {
            let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(name))
            let r = try await ReplayRunner.run(try ReplayFile.load(data))
            XCTAssertEqual(r.outcome, want.outcome, name)
            XCTAssertEqual(r.oda.result, want.oda, name)
            XCTAssertEqual(r.cryptogram?.type, want.cryptogram, name)
            XCTAssertFalse(r.apdus.isEmpty, name)
        }
    }

    /// `TAPD_WRITE_FIXTURES=1 swift test --filter ReplayTests/testFixtures` regenerates the fixture files.
    func writeFixtures() async throws {
        var offline = TerminalConfiguration()
        offline.applications = offline.applications.map {
            var a = $0
            if a.kernel == .visa { a.contactlessFloorLimit = 10_000 }
            return a
        }
        let cases: [(String, CardProfile, UInt64, TerminalConfiguration)] = [
            ("visa-online.json", .visaCard(), 1234, TerminalConfiguration()),
            ("visa-offline-fdda.json", .visaCard(offline: true), 1234, offline),
            ("visa-phone-see-phone.json", .visaPhone(), 9000, TerminalConfiguration()),
            ("mastercard-cda.json", .mastercardCard(), 1234, TerminalConfiguration()),
            ("mastercard-phone-odcvm.json", .mastercardPhone(), 9000, TerminalConfiguration()),
        ]
        for (name, p, amount, config) in cases {
            let (_, f) = try await record(p, amount: amount, config: config)
            try f.encoded().write(to: Self.fixtures.appendingPathComponent(name))
        }
    }
}
