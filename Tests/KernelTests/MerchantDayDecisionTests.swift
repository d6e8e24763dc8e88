// Decision tests for refunds and pre-authorisations, built from the rules (not from tapd's virtual cards): scripted
// cards whose every answer is written out here. Book C-2 and C-3 have no refund rule of their own; tapd's rule is
// that a refund asks the card for an AAC (C-2, without CDA), is never approved offline nor declined by the kernel,
// and ends with End Application and the Data Record so the terminal can send it online (Visa and Mastercard require
// refunds to be authorised online). A pre-authorisation is a purchase the merchant forces online (Book 3 Annex C,
// TVR byte 4 b4).

import APDU
import Simulators
import TLV
import XCTest

@testable import EMVKernel

final class MerchantDayDecisionTests: XCTestCase {
    let date = EMVDate(year: 2026, month: 11, day: 26)!

    func tap(
        _ script: [ScriptedExchange], type: TransactionParameters.TransactionType = .purchase,
        forcedOnline: Bool = false, config: TerminalConfiguration = TerminalConfiguration()
    ) async throws -> (Outcome, sent: [[UInt8]]) {
        let ep = EntryPoint(
            configuration: config, keys: try CAKeyStore.bundled(includeTestKeys: true), risk: RiskManager())
        let txn = TransactionParameters(
            amount: 1234, type: type, forcedOnline: forcedOnline, date: date, unpredictableNumber: [1, 2, 3, 4])
        let card = ScriptedChannel(script, matching: .replay)
        let o = await ep.process(card: card, transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)))
        return (o, await card.received)
    }

    /// GENERATE AC with P1 `p1` (the kernel must send exactly it) answered with `cid` (00 AAC, 40 TC, 80 ARQC).
    static func genac(p1: String, _ cid: String) -> ScriptedExchange {
        ScriptedExchange(
            "80AE" + p1 + "00", "7714" + "9F2701" + cid + "9F36020009" + "9F2608" + "0102030405060708" + "9000")
    }

    // MARK: Refunds, C-2

    /// tapd's refund rule on C-2 (Book C-2 leaves the AC type to Terminal Action Analysis): GENERATE AC asks for an
    /// AAC (P1 00, no CDA bit), no CVM is performed (9F34 3F 00 00), and the AAC ends the kernel with End Application
    /// and the Data Record (S910.74: an AAC on a transaction type other than purchase, cash or cashback).
    func testTapdRefundRule_C2_AsksForAnAACWithoutCDAAndEndsWithTheDataRecord() async throws {
        let (o, sent) = try await tap(
            DecisionTests.mastercardWithDRDOL() + [Self.genac(p1: "00", "00")], type: .refund)
        let genac = try XCTUnwrap(sent.last { $0.count > 3 && $0[1] == 0xAE })
        XCTAssertEqual(genac[2], 0x00, "P1: an AAC, without CDA")
        XCTAssertEqual(o.kind, .endApplication, o.reason ?? "")
        XCTAssertEqual(o.cryptogram?.kind, .aac)
        XCTAssertTrue(o.parameterSet.dataRecordPresent, "the terminal needs the Data Record for the refund")
        XCTAssertEqual(o.transactionData[0x9C], [0x20])
        XCTAssertEqual(o.transactionData[0x9F34], [0x3F, 0x00, 0x00], "no CVM for a refund")
    }

    /// The same card on a purchase: Terminal Action Analysis decides and the AAC is a decline (S910.74) — the refund
    /// rule changes refunds only.
    func testBookC2_S910_74_AnAACOnAPurchaseIsStillADecline() async throws {
        let (o, sent) = try await tap(DecisionTests.mastercardWithDRDOL() + [Self.genac(p1: "80", "00")])
        let genac = try XCTUnwrap(sent.last { $0.count > 3 && $0[1] == 0xAE })
        XCTAssertEqual(genac[2] & 0xC0, 0x80, "a purchase over the floor limit asks for an ARQC")
        XCTAssertEqual(o.kind, .declined, o.reason ?? "")
    }

    // MARK: Refunds, C-3

    /// tapd's refund rule on C-3 (Book C-3's §5.4.3.2 would make an AAC "Declined"): whatever cryptogram the card
    /// returns to a refund — AAC as cards do, or a TC or ARQC — the kernel neither approves nor declines it; it ends
    /// with End Application and the Data Record, and no ODA or CVM decision is made for it.
    func testTapdRefundRule_C3_NeverApprovesNorDeclinesARefund() async throws {
        for cid in ["00", "40", "80"] {
            let (o, _) = try await tap(
                DecisionTests.visaSelection() + [
                    DecisionTests.gpo(
                        ttq: "22804000", amount: "000000001234", answer: DecisionTests.qvsdcAnswer(cid: cid))
                ], type: .refund)
            XCTAssertEqual(o.kind, .endApplication, "CID \(cid): \(o.reason ?? "")")
            XCTAssertTrue(o.parameterSet.dataRecordPresent, cid)
            XCTAssertNotNil(o.cryptogram, cid)
            XCTAssertEqual(o.cvm, .notApplicable, cid)
            XCTAssertNil(o.oda, "no offline data authentication for a refund (CID \(cid))")
        }
    }

    // MARK: Pre-authorisation

    /// Book 3 Annex C (TVR byte 4 b4 "Merchant forced transaction online"): a pre-authorisation is forced online. On
    /// C-2 the TVR sent in CDOL1 carries the bit and GENERATE AC asks for an ARQC, never a TC.
    func testBook3AnnexC_MerchantForcedOnline_C2SetsTheTVRBitAndAsksForAnARQC() async throws {
        let (o, sent) = try await tap(
            DecisionTests.mastercardWithDRDOL() + [Self.genac(p1: "80", "80")], forcedOnline: true)
        let genac = try XCTUnwrap(sent.last { $0.count > 3 && $0[1] == 0xAE })
        XCTAssertEqual(genac[2] & 0xC0, 0x80, "an ARQC")
        // CDOL1 9F02(6) 9F1A(2) 95(5) …: the TVR is bytes 8–12 of the data, byte 4 of it at offset 5 + 11.
        let tvr = Array(genac[(5 + 8)..<(5 + 13)])
        XCTAssertEqual(tvr[3] & 0x08, 0x08, "TVR byte 4 b4 in what the card signs")
        XCTAssertEqual(o.kind, .onlineRequest)
        XCTAssertEqual(o.tvr?.isSet(.merchantForcedOnline), true)
    }

    /// Book B §3.1.1.8 sets TTQ byte 2 b8 ("online cryptogram required") from the limits; a pre-authorisation the
    /// merchant forces online sets it too, whatever the amount, so a C-3 card never answers it with a TC to approve.
    func testBookB_3_1_1_8_ForcedOnlineSetsOnlineCryptogramRequiredInTheTTQ() throws {
        var config = TerminalConfiguration()
        for i in config.applications.indices { config.applications[i].contactlessFloorLimit = 100_000 }
        let under = TransactionParameters(amount: 100, date: date)
        var forced = under
        forced.forcedOnline = true
        for p in PreProcessing.run(config, under) where p.indicators.ttq != nil {
            XCTAssertEqual(p.indicators.ttq![1] & 0x80, 0, "under the floor limit: not required")
        }
        let visa = PreProcessing.run(config, forced).filter { $0.indicators.ttq != nil }
        XCTAssertFalse(visa.isEmpty)
        for p in visa { XCTAssertEqual(p.indicators.ttq![1] & 0x80, 0x80, "forced online: required") }
    }
}
