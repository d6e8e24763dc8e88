// Public recordings of real cards and phones (Fixtures/public, provenance in its README), replayed through Entry Point
// and the kernels exactly as `tapctl replay` does. The expected results are derived from the books for what each card
// said, not from what tapd printed: each carries its reasoning. These files were not written with the kernels, so a
// misreading of the books shared by a kernel and tapd's own virtual cards shows up here.

import APDU
import Foundation
import TLV
import XCTest

@testable import EMVKernel

final class PublicRecordingTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/public")

    struct Expectation {
        var outcome: String
        var oda: String
        var odaMethod: String? = nil
        var cryptogram: String? = nil
        var cvm: String? = nil
        /// Terminal data of the recorded terminal that its commands do not show (with the reason in the test).
        var terminal: [String: String] = [:]
        /// The Outcome Parameter Set (DF8129) and Error Indication (DF8115) the books give this outcome.
        var ops: String
        var errorIndication: String = "0000000000FF"
        var why: String
    }

    static func load(_ name: String, extra: [String: String] = [:]) throws -> ReplayFile {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        var f = try ReplayFile.loadRecording(data, name: name)
        var t = f.terminal ?? [:]
        for (k, v) in extra { t[k] = v }
        f.terminal = t
        return f
    }

    static let expectations: [String: Expectation] = [
        "hf_visa_apple_ecp.trace": Expectation(
            outcome: "see_phone", oda: "not_performed",
            ops: "7010F0F0D0F0FF00",
            why: "GPO answered 6986: Book C-3 (GPO status 6986) — Try Again at Start B with 'See Phone'"),
        "hf_visa_apple_normal.trace": Expectation(
            outcome: "try_again", oda: "not_performed",
            ops: "7010F0F0D0F0FF00", errorIndication: "020000000021",
            why:
                "the GPO answer's frame fails its CRC_A: an L1 transmission error before any cryptogram — Book A §6.3.2 / "
                + "Book C-3: Try Again at Start B, 'Present card again'"),
        "hf_visa_apple_transit_bypass.trace": Expectation(
            outcome: "online_request", oda: "ok", odaMethod: "fDDA", cryptogram: "ARQC", cvm: "no_cvm",
            ops: "30F0F000B0F0FF00",
            why:
                "CID 80 (ARQC) → Online Request (Book C-3 §5.4.3.1). The recorded TTQ 33804000 sets byte 1 b1 (ODA for "
                + "online authorisations), so fDDA runs (Book C-3 §5.6): the SDAD recovers as format 95 with the Visa "
                + "production key 08 chain and its hash over 9F37‖9F02‖5F2A‖9F69 (version 01) matches; TTQ byte 2 b7 "
                + "clear and CTQ 0000: no CVM (Book C-3 §5.7.1)"),
        "mock-visa-online.json": Expectation(
            outcome: "online_request", oda: "not_performed", cryptogram: "ARQC", cvm: "online_pin",
            ops: "30F0F020B0F0FF00",
            why: "CID 80 → Online Request; CTQ 9000 byte 1 b8 asks for online PIN and the recorded TTQ 24C04000 says "
                + "online PIN is supported (byte 1 b3): CVM Online PIN (Book C-3 §5.7.1.2)"),
        "mock-visa-offline.json": Expectation(
            outcome: "approved", oda: "ok", odaMethod: "fDDA", cryptogram: "TC", cvm: "no_cvm",
            ops: "10F0F000B0F0FF00",
            why: "no CID: the IAD 06011103 90… carries the CVR, whose byte 2 (IAD byte 5) b6-b5 = 01: TC (Book C-3 "
                + "§5.4.3.1). TTQ 24004000 does not ask for an online cryptogram; fDDA over 9F37‖9F02‖5F2A‖9F69 "
                + "(version 01) verifies with the Visa test key 92; expiry 191231 is after 190819; no CVM asked "
                + "(Book C-3 §5.7.1): approved offline"),
        "mock-msc-ms-mode.json": Expectation(
            outcome: "try_another_interface", oda: "not_performed",
            ops: "60F0F0F090F0FF00", errorIndication: "00070000001C",
            why: "AIP 0000: the card offers mag-stripe mode only (AIP byte 2 b8 clear); tapd's C-2 has no mag-stripe "
                + "mode: L2 MAGSTRIPE NOT SUPPORTED, Try Another Interface (Book C-2 S3.30-S3.32)"),
        "mock-msc-offline.json": Expectation(
            outcome: "end_application", oda: "not_performed",
            ops: "40F0F0F090F0FF00", errorIndication: "00030067001C",
            why: "the AFL (08010100 …) names SFI 1 record 1, which the transcript does not hold (its 'not-found' "
                + "answer): a READ RECORD that fails ends the transaction, L2 STATUS BYTES (Book C-2 S4.24-S4.27)"),
        "mock-msc-online.json": Expectation(
            outcome: "end_application", oda: "not_performed",
            ops: "40F0F0F090F0FF00", errorIndication: "00030067001C",
            why: "as mock-msc-offline: the AFL names SFI 1 record 1, absent from the transcript (Book C-2 S4.24-S4.27)"),
        "mock-msc-offline-2.json": Expectation(
            outcome: "online_request", oda: "ok", odaMethod: "CDA", cryptogram: "ARQC", cvm: "no_cvm",
            terminal: ["DF8123": "000000000100", "9F35": "22"],
            ops: "30F0F000B0F0FF00",
            why: "the recorded terminal asked for a TC with CDA (GENERATE AC P1 50, TVR 0000000001), so the amount "
                + "(0.10) was within its floor limit (DF8123 given as 1.00). The card answers an ARQC with CDA: a lower "
                + "cryptogram than requested is allowed (Book C-2 S9.23); the CDA signature over the hash of PDOL, CDOL1 "
                + "and the response verifies with Mastercard test key F8 → Online Request. AIP 0180 has no CVM: "
                + "CVM Results 3F0000, No CVM (Book C-2 CVM.1)"),
        "amex-cda-in.txt": Expectation(
            outcome: "online_request", oda: "ok", odaMethod: "CDA", cryptogram: "ARQC", cvm: "online_pin",
            terminal: ["9F6E": "98C04003"],
            ops: "30F0F020B0F0FF00",
            why: "an ExpressPay test card in EMV mode (AIP 5D80: byte 2 b8). The recorded terminal sent 9F35 = EA "
                + "(Terminal Type 22 with 9F6D C8 in its high bits, Book C-4 §4.3.3) and its CDOL1 TVR 00 00 04 80 00 "
                + "shows online PIN entered and the floor limit exceeded: it supported online PIN and required a CVM (9F6E "
                + "byte 2 b7 and byte 3 b7 given here as 9F6D's b4 in EA says; the legacy PDOL never asked for 9F6E). Amount 120.00 above the CVM limit: the CVM List's "
                + "first rule, online PIN if supported (42 03), applies (Book 3 §10.5); the floor limit sends it online "
                + "(TAC online byte 4 b8): GENERATE AC ARQC with CDA (P1 90), the card's ARQC with a CDA signature "
                + "that verifies with the Amex test key A1 over PDOL data EA, the CDOL1 data and the answer "
                + "(Book 2 §6.6.2) → Online Request"),
        "amex-msd-mobile.txt": Expectation(
            outcome: "try_another_interface", oda: "not_performed",
            ops: "60F0F0F090F0FF00", errorIndication: "00070000001C",
            why: "an ExpressPay mobile test profile whose AIP 1940 has byte 2 b8 clear: it offers mag-stripe mode "
                + "only (Book C-4), which tapd leaves out: Try Another Interface, L2 MAGSTRIPE NOT SUPPORTED"),
        "qpboc-kata-run-log.txt": Expectation(
            outcome: "online_request", oda: "not_performed", cryptogram: "ARQC", cvm: "no_cvm",
            ops: "30F0F000B0F0FF00",
            why: "a PBOC debit card's qPBOC GPO answer without CID and without AFL: the IAD 07 01 01 03 A0 … has CVR "
                + "byte 2 (IAD byte 5) b6–b5 = 10, an ARQC (JR/T 0025.12 §7.8.1) → Online Request; no records for an "
                + "online answer (§7.4.3) so no fDDA; TTQ 36800000 asks for no CVM and the CTQ is 0000 (§7.6): no CVM"),
    ]

    func testEachPublicRecordingReachesTheOutcomeTheBooksPrescribe() async throws {
        for (name, want) in Self.expectations.sorted(by: { $0.key < $1.key }) {
            let file = try Self.load(name, extra: want.terminal)
            let r = try await ReplayRunner.run(file)
            let context =
                "\(name): \(want.why) — got \(r.outcome) (\(r.reason ?? "")), ODA \(r.oda.method) \(r.oda.result) \(r.oda.failure ?? "")"
            XCTAssertEqual(r.outcome, want.outcome, context)
            XCTAssertEqual(r.oda.result, want.oda, context)
            if let m = want.odaMethod { XCTAssertEqual(r.oda.method, m, context) }
            XCTAssertEqual(r.cryptogram?.type, want.cryptogram, context)
            if let cvm = want.cvm { XCTAssertEqual(r.cvm, cvm, context) }
            if let pan = r.pan { XCTAssertTrue(pan.contains("*****"), "\(name): PAN must be masked, got \(pan)") }
            XCTAssertEqual(r.kernelOutput?.outcomeParameterSet.hex, want.ops, "\(name): Outcome Parameter Set")
            XCTAssertEqual(r.kernelOutput?.errorIndication.hex, want.errorIndication, "\(name): Error Indication")
        }
    }

    /// Book C-3 §5.6: fDDA for an ARQC only when the reader does ODA for online authorisations (TTQ byte 1 b1). The
    /// same genuine phone answer replayed with b1 clear goes online without ODA (the TTQ is not in the signed data,
    /// Book C-3 Annex C Table C-1, so the card's answer stays valid).
    func testBookC3_5_6_NoFDDAForOnlineWithoutTTQByte1Bit1() async throws {
        let file = try Self.load("hf_visa_apple_transit_bypass.trace", extra: ["9F66": "32804000"])
        let r = try await ReplayRunner.run(file)
        XCTAssertEqual(r.outcome, "online_request")
        XCTAssertEqual(r.oda.result, "not_performed")
    }

    /// `tapctl replay` shows what the card said: printable values as text beside their tag, card data masked.
    func testReplayShowsPrintableValuesAndMasksCardData() async throws {
        let r = try await ReplayRunner.run(try Self.load("mock-visa-online.json"))
        let text = r.conversation?.flatMap(\.text) ?? []
        XCTAssertTrue(text.contains("84 \"2PAY.SYS.DDF01\""), "\(text)")
        XCTAssertTrue(text.contains("50 \"VISA CREDIT\""), "\(text)")
        let json = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        XCTAssertFalse(json.contains("4761739001010010"), "full PAN in the replay output")
        XCTAssertFalse(json.contains("CARDHOLDER"), "cardholder name in the replay output")
    }

    /// The terminal data read back from the recorded commands (PDOL and CDOL1 related data).
    func testRecordedTerminalDataComesFromTheCommands() throws {
        let transit = try Self.load("hf_visa_apple_transit_bypass.trace").terminal ?? [:]
        XCTAssertEqual(transit["9F66"], "33804000")
        XCTAssertEqual(transit["9F02"], "000000000100")
        XCTAssertEqual(transit["5F2A"], "0826")
        XCTAssertEqual(transit["9A"], "211014")
        XCTAssertEqual(transit["9F37"], "0EB0F616")
        XCTAssertNil(transit["95"], "the TVR is the kernel's to compute")
        let mc = try Self.load("mock-msc-offline-2.json").terminal ?? [:]
        XCTAssertEqual(mc["9F33"], "000008")
        XCTAssertEqual(mc["9F37"], "DC868126")
        XCTAssertEqual(mc["9A"], "190819")
    }

    /// The Proxmark3 reader: frames, CRC_A, I-block chaining, S(WTX) skipped, the lost READ RECORD commands inferred.
    func testProxmark3TraceIsReadLeniently() throws {
        let bytes = [UInt8](
            try Data(contentsOf: Self.folder.appendingPathComponent("hf_visa_apple_transit_bypass.trace")))
        XCTAssertEqual(Proxmark3Trace.crcA([0x50, 0x00]), 0xCD57, "ISO/IEC 14443-3 HLTA")
        let ex = Proxmark3Trace.exchanges(bytes)
        XCTAssertEqual(
            ex.map { String($0.command.prefix(8)) },
            ["00A40400", "00A40400", "80A80000", "00B2011C", "00B2021C", "00B2031C"])
        XCTAssertTrue(ex[2].response!.hasPrefix("7781E6"), "the chained GPO answer reassembled")
        XCTAssertTrue(ex[2].response!.hasSuffix("9F27018090 00".replacingOccurrences(of: " ", with: "")))
        XCTAssertNil(ex[3].note)
        XCTAssertNotNil(ex[4].note, "record 2's command was lost by the sniffer and is marked as inferred")
        // A truncated file ends the trace instead of failing; an empty one has no exchange.
        XCTAssertEqual(Proxmark3Trace.exchanges(Array(bytes.prefix(bytes.count - 5))).count, 5)
        XCTAssertTrue(Proxmark3Trace.exchanges([]).isEmpty)
        // Malformed input: records whose length runs past the file, a length with the direction bit only, noise, a
        // mock transcript of the wrong shape — each is refused or read as far as it goes, never a crash.
        XCTAssertTrue(Proxmark3Trace.exchanges([0, 0, 0, 0, 0, 0, 0xFF, 0x7F, 0x02]).isEmpty)
        XCTAssertTrue(Proxmark3Trace.exchanges([0, 0, 0, 0, 0, 0, 0x00, 0x80]).isEmpty)
        var noise = SystemRandomNumberGenerator()
        for n in [1, 7, 8, 9, 64, 999] {
            _ = Proxmark3Trace.exchanges((0..<n).map { _ in UInt8.random(in: 0...255, using: &noise) })
        }
        XCTAssertThrowsError(
            try ReplayFile.loadRecording(
                Data([0x13, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x52, 0x00]), name: "wupa"),
            "a trace without ISO 14443-4 exchanges is refused")
        XCTAssertThrowsError(try ReplayFile.loadRecording(Data(#"{"apdus": 5}"#.utf8)))
        XCTAssertThrowsError(
            try ReplayFile.loadRecording(Data(#"{"apdus": [{"cmd": "00A4", "resp": "9000"}]}"#.utf8)),
            "a transcript whose command is not a C-APDU")
        // The GPO answer of the "normal" trace failed its CRC: a transmission error.
        let normal = Proxmark3Trace.exchanges(
            [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent("hf_visa_apple_normal.trace"))))
        XCTAssertEqual(normal.last?.error, "transmission")
    }
}
