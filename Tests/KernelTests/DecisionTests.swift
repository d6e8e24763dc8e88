// Decision tests built from the books' rules, not from tapd's virtual cards: each states the whole exchange (every
// C-APDU and R-APDU, the card's answers written out as data objects) on a scripted card in exact mode, and is named
// after the requirement it checks. A kernel that sends anything else fails the test with the mismatch.

import APDU
import Simulators
import TLV
import XCTest

@testable import EMVKernel

final class DecisionTests: XCTestCase {
    static let aid = "A0000000031010"
    static let un = "01020304"

    /// SELECT PPSE → one Visa entry; SELECT AID → FCI with PDOL 9F66 04 9F02 06 9F37 04.
    static func visaSelection() -> [ScriptedExchange] {
        let ppse = EntryPointTests.ppse([(aid: aid, priority: 1, kernel: nil)])
        let fci = TLV(
            tag: 0x6F,
            children: [
                TLV(tag: 0x84, value: [UInt8](hex: aid)!),
                TLV(
                    tag: 0xA5,
                    children: [
                        TLV(tag: 0x50, value: Array("VISA".utf8)),
                        TLV(tag: 0x9F38, value: [UInt8](hex: "9F66049F02069F3704")!),
                    ]),
            ])
        return [
            // SELECT PPSE
            ScriptedExchange("00A404000E325041592E5359532E444446303100", Hex.encode(ppse)),
            ScriptedExchange("00A4040007" + aid + "00", Hex.encode(fci.encoded) + "9000"),  // SELECT AID
        ]
    }

    /// GET PROCESSING OPTIONS with TTQ ‖ amount ‖ UN, answered by a format 2 template of `objects`.
    static func gpo(ttq: String, amount: String, answer objects: [TLV], sw: String = "9000") -> ScriptedExchange {
        ScriptedExchange(
            "80A8000010830E" + ttq + amount + un + "00", Hex.encode(TLV(tag: 0x77, children: objects).encoded) + sw)
    }

    /// The data objects of a qVSDC GPO answer without records (AIP, ATC, AC, IAD, track 2, PSN) plus `extra`.
    static func qvsdcAnswer(iad: String = "06011203A00000", cid: String? = "80", extra: [TLV] = []) -> [TLV] {
        var o: [TLV] = [
            TLV(tag: 0x82, value: [0x00, 0x00]), TLV(tag: 0x9F36, value: [0x00, 0x2A]),
            TLV(tag: 0x9F26, value: [UInt8](hex: "1122334455667788")!), TLV(tag: 0x9F10, value: [UInt8](hex: iad)!),
            TLV(tag: 0x57, value: [UInt8](hex: "4761739001010010D29122011143804489")!), TLV(tag: 0x5F34, value: [0x01]),
        ]
        if let cid { o.append(TLV(tag: 0x9F27, value: [UInt8](hex: cid)!)) }
        return o + extra
    }

    func run(
        _ script: [ScriptedExchange], amount: UInt64, config: TerminalConfiguration = TerminalConfiguration(),
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> Outcome {
        try await Harness.runScripted(
            script, amount: amount, config: config, un: [UInt8](hex: Self.un)!, file: file, line: line)
    }

    // MARK: Book C-3

    /// Book C-3 v2.10 §5.4.3.1: without a CID the cryptogram type is IAD byte 5 b6–b5 (the VIS CVR's byte 2).
    func testBookC3_5_4_3_1_CryptogramTypeFromIADByte5WhenTheCIDIsAbsent() async throws {
        let cases: [(cvrByte2: String, outcome: OutcomeKind, kind: ApplicationCryptogram.Kind)] = [
            ("A0", .onlineRequest, .arqc), ("20", .onlineRequest, .arqc), ("80", .declined, .aac),
            ("00", .declined, .aac),
        ]
        for c in cases {
            let o = try await run(
                Self.visaSelection() + [
                    Self.gpo(
                        ttq: "22804000", amount: "000000001234",
                        answer: Self.qvsdcAnswer(iad: "06011203" + c.cvrByte2 + "0000", cid: nil))
                ], amount: 1234)
            XCTAssertEqual(o.kind, c.outcome, "CVR byte 2 \(c.cvrByte2): \(o.reason ?? "")")
            XCTAssertEqual(o.cryptogram?.kind, c.kind, c.cvrByte2)
        }
        // b6-b5 = 11 is RFU, and an IAD too short to hold byte 5 gives no type: End Application, never a guess.
        for iad in ["06011203B00000", "060112"] {
            let o = try await run(
                Self.visaSelection() + [
                    Self.gpo(ttq: "22804000", amount: "000000001234", answer: Self.qvsdcAnswer(iad: iad, cid: nil))
                ], amount: 1234)
            XCTAssertEqual(o.kind, .endApplication, iad)
        }
    }

    /// Book C-3 v2.10 §5.4.3.2: a TC while the reader set "online cryptogram required" (TTQ byte 2 b8) is never
    /// approved offline — it is sent online.
    func testBookC3_5_4_3_2_TCUnderOnlineCryptogramRequiredIsNeverApprovedOffline() async throws {
        let o = try await run(
            Self.visaSelection() + [
                Self.gpo(ttq: "22804000", amount: "000000001234", answer: Self.qvsdcAnswer(cid: "40"))
            ], amount: 1234)
        XCTAssertEqual(o.kind, .onlineRequest, o.reason ?? "")
        XCTAssertEqual(o.cryptogram?.kind, .tc)
    }

    /// Book C-3 v2.10 §5.7.1.1: CVM required (TTQ byte 2 b7) and no CTQ — signature when the reader offers it;
    /// §5.7.1.3: nothing the reader offers → declined.
    func testBookC3_5_7_1_1_CVMRequiredWithoutCTQ() async throws {
        let signature = try await run(
            Self.visaSelection() + [
                Self.gpo(ttq: "22C04000", amount: "000000006000", answer: Self.qvsdcAnswer())
            ], amount: 6000)
        XCTAssertEqual(signature.kind, .onlineRequest)
        XCTAssertEqual(signature.cvm, .signature)
        XCTAssertTrue(signature.receipt)
        var noSignature = TerminalConfiguration()
        noSignature.supportsSignature = false
        let none = try await run(
            Self.visaSelection() + [
                Self.gpo(ttq: "20C04000", amount: "000000006000", answer: Self.qvsdcAnswer())
            ], amount: 6000, config: noSignature)
        XCTAssertEqual(none.kind, .declined, none.reason ?? "")
    }

    /// Book C-3 v2.10 §5.7.1.2: the card asks for online PIN (CTQ byte 1 b8); a reader whose TTQ offers online PIN
    /// (byte 1 b3) does it; one that does not, above the CVM limit, declines (§5.7.1.3).
    func testBookC3_5_7_1_2_OnlinePINFollowsTheTTQ() async throws {
        var pinPad = TerminalConfiguration()
        pinPad.supportsOnlinePIN = true
        let pin = try await run(
            Self.visaSelection() + [
                Self.gpo(
                    ttq: "26C04000", amount: "000000006000",
                    answer: Self.qvsdcAnswer(extra: [TLV(tag: 0x9F6C, value: [0x80, 0x00])]))
            ], amount: 6000, config: pinPad)
        XCTAssertEqual(pin.kind, .onlineRequest)
        XCTAssertEqual(pin.cvm, .onlinePIN)
        var noPad = TerminalConfiguration()
        noPad.supportsSignature = false
        let refused = try await run(
            Self.visaSelection() + [
                Self.gpo(
                    ttq: "20C04000", amount: "000000006000",
                    answer: Self.qvsdcAnswer(extra: [TLV(tag: 0x9F6C, value: [0x80, 0x00])]))
            ], amount: 6000, config: noPad)
        XCTAssertEqual(refused.kind, .declined)
    }

    /// Book C-3 v2.10 §5.7.1.2: on-device CVM (CTQ byte 2 b8) counts when the CTQ copy in the Card Authentication
    /// Related Data (bytes 6–7) equals 9F6C; a different copy is a decline.
    func testBookC3_5_7_1_2_ConsumerDeviceCVMNeedsTheSignedCTQToMatch() async throws {
        let ctq: [UInt8] = [0x00, 0x80]
        let same = try await run(
            Self.visaSelection() + [
                Self.gpo(
                    ttq: "22C04000", amount: "000000006000",
                    answer: Self.qvsdcAnswer(extra: [
                        TLV(tag: 0x9F6C, value: ctq), TLV(tag: 0x9F69, value: [0x01, 0xAA, 0xBB, 0xCC, 0xDD] + ctq),
                    ]))
            ], amount: 6000)
        XCTAssertEqual(same.kind, .onlineRequest)
        XCTAssertEqual(same.cvm, .confirmationCodeVerified)
        let other = try await run(
            Self.visaSelection() + [
                Self.gpo(
                    ttq: "22C04000", amount: "000000006000",
                    answer: Self.qvsdcAnswer(extra: [
                        TLV(tag: 0x9F6C, value: ctq),
                        TLV(tag: 0x9F69, value: [0x01, 0xAA, 0xBB, 0xCC, 0xDD, 0x00, 0x00]),
                    ]))
            ], amount: 6000)
        XCTAssertEqual(other.kind, .declined, other.reason ?? "")
    }

    /// Book C-3 v2.10 §5.5.1.3: cash on a card whose AUC does not allow it here is declined, or sent to the contact
    /// interface when the CTQ asks (byte 1 b3) and the reader has one.
    func testBookC3_5_5_1_3_CashMustBeAllowedByTheUsageControl() {
        var store = TLVStore()
        store[0x9F07] = [0x3F, 0x00]
        store[0x9C] = [0x01]
        store[0x5F28] = [0x02, 0x76]
        store[0x9F1A] = [0x02, 0x76]
        XCTAssertEqual(QuickKernel.usage(store, ctq: nil), .notAllowed("cash", switchInterface: false))
        XCTAssertEqual(
            QuickKernel.usage(store, ctq: CardTransactionQualifiers([0x04, 0x00])),
            .notAllowed("cash", switchInterface: true))
        store[0x9F07] = [0x80, 0x00]
        XCTAssertEqual(QuickKernel.usage(store, ctq: nil), .allowed, "domestic cash allowed")
        store[0x9F1A] = [0x08, 0x26]
        XCTAssertEqual(
            QuickKernel.usage(store, ctq: nil), .notAllowed("cash", switchInterface: false),
            "international cash not allowed")
        store[0x9C] = [0x00]
        XCTAssertEqual(QuickKernel.usage(store, ctq: nil), .allowed, "a purchase is not restricted here")
        let ttq = TerminalTransactionQualifiers([0x32, 0x00, 0x40, 0x00])
        let o = QuickKernel.offlineDecision(
            Outcome(.declined), oda: ODAResult(method: .fdda, failure: nil), expired: false, onException: false,
            cvm: .success(.noCVM), ctq: nil, ttq: ttq, usage: .notAllowed("cash", switchInterface: true))
        XCTAssertEqual(o.kind, .tryAnotherInterface)
    }

    /// Book C-3 v2.10 §5.5.1.1: an absent Application Expiration Date counts as expired for an offline approval;
    /// the CTQ (byte 1 b4) decides between going online and declining.
    func testBookC3_5_5_1_1_MissingExpiryDateCountsAsExpired() {
        let passed = ODAResult(method: .fdda, failure: nil)
        let ttq = TerminalTransactionQualifiers([0x22, 0x00, 0x40, 0x00])
        let declined = QuickKernel.offlineDecision(
            Outcome(.declined), oda: passed, expired: true, onException: false,
            cvm: .success(.noCVM), ctq: nil, ttq: ttq)
        XCTAssertEqual(declined.kind, .declined)
        let online = QuickKernel.offlineDecision(
            Outcome(.declined), oda: passed, expired: true, onException: false,
            cvm: .success(.noCVM), ctq: CardTransactionQualifiers([0x08, 0x00]), ttq: ttq)
        XCTAssertEqual(online.kind, .onlineRequest)
        let approved = QuickKernel.offlineDecision(
            Outcome(.declined), oda: passed, expired: false, onException: false,
            cvm: .success(.noCVM), ctq: nil, ttq: ttq)
        XCTAssertEqual(approved.kind, .approved)
        // No ODA, no offline approval (Book C-3 §5.6).
        // Restrictions come before fDDA (§5.5 then §5.6): expired with fDDA failed and only "online if ODA fails" set
        // is a decline, not an online request.
        let order = QuickKernel.offlineDecision(
            Outcome(.declined), oda: ODAResult(method: .fdda, failure: .hashMismatch(.signedDynamicData)),
            expired: true,
            onException: false, cvm: .success(.noCVM), ctq: CardTransactionQualifiers([0x20, 0x00]), ttq: ttq)
        XCTAssertEqual(order.kind, .declined)
        let noODA = QuickKernel.offlineDecision(
            Outcome(.declined), oda: nil, expired: false, onException: false,
            cvm: .success(.noCVM), ctq: nil, ttq: ttq)
        XCTAssertEqual(noODA.kind, .declined)
    }

    // MARK: Book C-2

    /// Book C-2 v2.10 S11.111-S11.113 with the Annex A default Phone Message Table (DF8131): a PCII with any of
    /// 00030F set stops for the cardholder (restart at B); the first matching entry gives the message — "See Phone"
    /// for the four wallet reasons, "Not authorised" otherwise; a table from DF8131 bytes replaces the default.
    func testBookC2_S11_111_PhoneMessageTable() {
        XCTAssertTrue(PhoneMessageTable.asksForCardholder([0x00, 0x01, 0x00]))
        XCTAssertTrue(PhoneMessageTable.asksForCardholder([0x00, 0x00, 0x08]))
        XCTAssertFalse(
            PhoneMessageTable.asksForCardholder([0x00, 0x04, 0x00]), "byte 2 b3 alone is not a reason to stop")
        XCTAssertFalse(PhoneMessageTable.asksForCardholder([0x00, 0x01]), "a PCII of two bytes is not read")
        let t = PhoneMessageTable.default
        XCTAssertEqual(t.message(for: [0x00, 0x08, 0x00]).0, .seePhone)
        XCTAssertEqual(t.message(for: [0x00, 0x02, 0x00]).0, .seePhone)
        XCTAssertEqual(t.message(for: [0x00, 0x00, 0x01]).0, .notAuthorised)
        let custom = PhoneMessageTable(bytes: [UInt8](hex: "0001000001001B03" + "0000000000000700")!)
        XCTAssertEqual(custom?.message(for: [0x00, 0x01, 0x00]).0, .authorising)
        XCTAssertEqual(custom?.message(for: [0x00, 0x01, 0x00]).1, .processing)
        XCTAssertNil(PhoneMessageTable(bytes: [0x00, 0x01]), "not whole entries")
    }

    /// A Mastercard card without CDA whose record carries a DRDOL (9F51): PPSE, SELECT, GPO (format 1), one record.
    static func mastercardWithDRDOL() -> [ScriptedExchange] {
        let ppse = EntryPointTests.ppse([(aid: "A0000000041010", priority: 1, kernel: nil)])
        let fci = TLV(
            tag: 0x6F, children: [TLV(tag: 0x84, value: [UInt8](hex: "A0000000041010")!), TLV(tag: 0xA5, children: [])])
        let record = TLV(
            tag: 0x70,
            children: [
                TLV(tag: 0x5A, value: [UInt8](hex: "5413330089020011")!),
                TLV(tag: 0x5F24, value: [UInt8](hex: "291231")!),
                TLV(tag: 0x5F34, value: [0x01]),
                TLV(tag: 0x8C, value: [UInt8](hex: "9F02069F1A0295055F2A029A039C019F3704")!),
                TLV(tag: 0x9F51, value: [UInt8](hex: "9F02069F3704")!),
            ])
        return [
            // SELECT PPSE
            ScriptedExchange("00A404000E325041592E5359532E444446303100", Hex.encode(ppse)),
            ScriptedExchange("00A4040007A000000004101000", Hex.encode(fci.encoded) + "9000"),  // SELECT AID
            ScriptedExchange("80A8000002830000", "8006" + "0880" + "08010100" + "9000"),  // GPO: AIP 0880, AFL
            ScriptedExchange("00B2010C00", Hex.encode(record.encoded) + "9000"),  // READ RECORD 1/1
        ]
    }

    /// Book C-2 v2.10 S9.5-S9.15 and S456.43-S456.48: the card lost during GENERATE AC leaves a torn record (End
    /// Application, Start B, "present card again"); at the next tap of the same card RECOVER AC is sent with the
    /// recorded DRDOL related data (9F02 ‖ 9F37 of the torn transaction) and its answer finishes the transaction.
    /// A RECOVER AC that fails gives up the record and GENERATE AC follows.
    func testBookC2_S456_43_TornTransactionIsRecoveredWithRecoverAC() async throws {
        let ep = EntryPoint(
            configuration: TerminalConfiguration(), keys: try CAKeyStore.bundled(includeTestKeys: true),
            risk: RiskManager())
        let txn = TransactionParameters(
            amount: 1234, date: EMVDate(year: 2026, month: 11, day: 26)!, unpredictableNumber: [UInt8](hex: "0A0B0C0D")!
        )
        let pre = try XCTUnwrap(ep.preProcess(txn))
        // Tap 1: GENERATE AC (ARQC) — the card leaves.
        let lost = ScriptedChannel(
            Self.mastercardWithDRDOL() + [ScriptedExchange(command: [UInt8](hex: "80AE8000")!, error: .cardRemoved)],
            matching: .replay)
        let torn = await ep.process(card: lost, transaction: txn, combinations: pre)
        XCTAssertEqual(torn.kind, .tryAgain, torn.reason ?? "")
        XCTAssertEqual(torn.start, .b)
        XCTAssertEqual(torn.parameterSet.status, .endApplication)
        XCTAssertEqual(torn.uiRequestOnRestart?.message, .presentCardAgain)
        let logged = await ep.tornTransactions.count
        XCTAssertEqual(logged, 1)
        // Tap 2: RECOVER AC with DRDOL related data 000000001234 ‖ 0A0B0C0D; the card answers the torn ARQC.
        let again = ScriptedChannel(
            Self.mastercardWithDRDOL() + [
                ScriptedExchange(
                    "80D000000A0000000012340A0B0C0D00",
                    "7714" + "9F270180" + "9F36020007" + "9F2608" + "1122334455667788" + "9000")
            ], matching: .replay)
        let recovered = await ep.process(card: again, transaction: txn, combinations: pre)
        XCTAssertEqual(recovered.kind, .onlineRequest, recovered.reason ?? "")
        XCTAssertEqual(recovered.cryptogram?.value, [UInt8](hex: "1122334455667788")!)
        let sent = await again.received
        XCTAssertTrue(
            sent.contains { Hex.encode($0) == "80D000000A0000000012340A0B0C0D00" },
            "RECOVER AC with the DRDOL related data")
        XCTAssertFalse(sent.contains { $0.count > 1 && $0[1] == 0xAE }, "no new GENERATE AC")
        let left = await ep.tornTransactions.count
        XCTAssertEqual(left, 0)
        // A torn record whose RECOVER AC fails is given up: GENERATE AC follows.
        _ = await ep.process(
            card: ScriptedChannel(
                Self.mastercardWithDRDOL() + [
                    ScriptedExchange(command: [UInt8](hex: "80AE8000")!, error: .cardRemoved)
                ],
                matching: .replay), transaction: txn, combinations: pre)
        let refused = ScriptedChannel(
            Self.mastercardWithDRDOL() + [
                ScriptedExchange("80D000000A0000000012340A0B0C0D00", "6A88"),
                ScriptedExchange(
                    "80AE8000", "7714" + "9F270180" + "9F36020008" + "9F2608" + "8877665544332211" + "9000"),
            ], matching: .replay)
        let fresh = await ep.process(card: refused, transaction: txn, combinations: pre)
        XCTAssertEqual(fresh.kind, .onlineRequest, fresh.reason ?? "")
        XCTAssertEqual(fresh.cryptogram?.value, [UInt8](hex: "8877665544332211")!)
        let none = await ep.tornTransactions.count
        XCTAssertEqual(none, 0)
    }

    /// Book C-2 v2.10 S910.74-S910.75: an AAC on a purchase is Declined when the reader has no contact interface or
    /// the device is a phone (Third Party Data 9F6E, device type not "00"), and Try Another Interface when a plastic
    /// card could be inserted instead.
    func testBookC2_S910_74_AACOutcomeByInterfaceAndDevice() async throws {
        let aac = ScriptedExchange(
            "80AE8000", "7714" + "9F270100" + "9F36020009" + "9F2608" + "0102030405060708" + "9000")
        func tap(_ config: TerminalConfiguration, extra: [ScriptedExchange] = []) async throws -> Outcome {
            let ep = EntryPoint(
                configuration: config, keys: try CAKeyStore.bundled(includeTestKeys: true), risk: RiskManager())
            let txn = TransactionParameters(
                amount: 1234, date: EMVDate(year: 2026, month: 11, day: 26)!, unpredictableNumber: [1, 2, 3, 4])
            return await ep.process(
                card: ScriptedChannel(Self.mastercardWithDRDOL() + extra + [aac], matching: .replay),
                transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)))
        }
        let noContact = try await tap(TerminalConfiguration())
        XCTAssertEqual(noContact.kind, .declined, noContact.reason ?? "")
        var contact = TerminalConfiguration()
        contact.supportsContactInterface = true
        let plastic = try await tap(contact)
        XCTAssertEqual(plastic.kind, .tryAnotherInterface, plastic.reason ?? "")
        XCTAssertTrue(KernelC2.isMobileDevice([UInt8](hex: "08260000" + "3031")!), "device type 01: a phone")
        XCTAssertFalse(KernelC2.isMobileDevice([UInt8](hex: "08260000" + "3030")!), "device type 00: a card")
        XCTAssertFalse(
            KernelC2.isMobileDevice([UInt8](hex: "08268000" + "3031")!),
            "no device type when the identifier's b16 is set")
    }

    /// Book C-2 S910.3.1 / S910.4.1: after relay resistance the CDA signature must carry the relay resistance values;
    /// a card whose signature verifies but leaves them out (a relay that answered ERRD itself) fails CDA.
    func testBookC2_S910_3_RelayResistanceValuesMustBeSigned() async throws {
        var p = CardProfile.mastercardCard()
        p.fault = .unsignedRelayResistance
        let o = try await Harness.tap(try VirtualCard(p), amount: 1234).outcome
        XCTAssertEqual(o.kind, .endApplication, o.reason ?? "")
        XCTAssertEqual(o.errorIndication.l2, .camFailed)
        XCTAssertNil(o.cryptogram)
    }

    /// Book C-2 S456.26-S456.27: an SDA Tag List holding anything but 82 ends the transaction, CARD DATA ERROR.
    func testBookC2_S456_26_SDATagListOtherThanAIPIsACardDataError() async throws {
        let card = InterceptingChannel(try VirtualCard(.mastercardCard())) { c, r in
            c[1] == 0xB2 && c[2] == 2 && c[3] == 0x14 ? replacing(0x9F4A, with: [0x82, 0x5A], in: r) : r
        }
        let o = try await Harness.tap(card, amount: 1234).outcome
        XCTAssertEqual(o.kind, .endApplication, o.reason ?? "")
        XCTAssertEqual(o.errorIndication.l2, .cardDataError)
    }

    // MARK: Hostile data elements

    /// Book 3 Annex A / Book C-3 Annex A: every card data object is checked against its length and format when it
    /// enters the kernel — a one-byte CTQ (b2), a two-byte CID (b1), a one-byte AIP (b2), an ATC of three bytes and a
    /// PAN with a letter in it are card data errors with a clean End Application, never a crash.
    func testDataObjectsOfTheWrongLengthOrFormatAreCardDataErrors() async throws {
        let hostile: [(String, TLV)] = [
            ("9F6C of one byte", TLV(tag: 0x9F6C, value: [0x80])),
            ("9F27 of two bytes", TLV(tag: 0x9F27, value: [0x80, 0x00])),
            ("82 of one byte", TLV(tag: 0x82, value: [0x00])),
            ("9F36 of three bytes", TLV(tag: 0x9F36, value: [0, 0, 1])),
            ("5A not numeric", TLV(tag: 0x5A, value: [0x47, 0x61, 0x7A, 0x90])),
            ("5F24 not numeric", TLV(tag: 0x5F24, value: [0x29, 0x1A, 0x31])),
        ]
        for (name, object) in hostile {
            var answer = Self.qvsdcAnswer().filter { $0.tag != object.tag }
            answer.insert(object, at: 0)
            let o = try await run(
                Self.visaSelection() + [Self.gpo(ttq: "22804000", amount: "000000001234", answer: answer)], amount: 1234
            )
            XCTAssertEqual(o.kind, .endApplication, name)
            XCTAssertEqual(o.errorIndication.l2, .cardDataError, name)
        }
        // A malformed presentational object (a one-character cardholder name) is left out, not a failure.
        let name = try await run(
            Self.visaSelection() + [
                Self.gpo(
                    ttq: "22804000", amount: "000000001234",
                    answer: Self.qvsdcAnswer(extra: [TLV(tag: 0x5F20, value: [0x2F])]))
            ], amount: 1234)
        XCTAssertEqual(name.kind, .onlineRequest)
        XCTAssertNil(name.transactionData[0x5F20])
        // A zero-length object counts as absent (Book 3 §5.2): an empty CTQ is no CTQ.
        let empty = try await run(
            Self.visaSelection() + [
                Self.gpo(
                    ttq: "22804000", amount: "000000001234",
                    answer: Self.qvsdcAnswer(extra: [TLV(tag: 0x9F6C, value: [])]))
            ], amount: 1234)
        XCTAssertEqual(empty.kind, .onlineRequest)
    }

    /// A PDOL whose data does not fit a short APDU ends the transaction cleanly (no trap, no command sent).
    func testPDOLLargerThanAShortAPDUEndsCleanly() async throws {
        let fci = TLV(
            tag: 0x6F,
            children: [
                TLV(tag: 0x84, value: [UInt8](hex: Self.aid)!),
                TLV(tag: 0xA5, children: [TLV(tag: 0x9F38, value: [UInt8](hex: "9F66049F7C81F09F4E40")!)]),
            ])
        var script = Self.visaSelection()
        script[1] = ScriptedExchange("00A4040007" + Self.aid + "00", Hex.encode(fci.encoded) + "9000")
        let o = try await run(script, amount: 1234)
        XCTAssertEqual(o.kind, .endApplication)
        XCTAssertEqual(o.errorIndication.l2, .cardDataError)
    }

    /// An AFL naming thousands of records (255 in each of 30 files) ends at once instead of keeping the card busy.
    func testAnAFLNamingThousandsOfRecordsEndsCleanly() async throws {
        var afl: [UInt8] = []
        for sfi in 1...30 { afl += [UInt8(sfi << 3), 0x01, 0xFF, 0x00] }
        let o = try await run(
            Self.visaSelection() + [
                Self.gpo(
                    ttq: "22804000", amount: "000000001234",
                    answer: Self.qvsdcAnswer(extra: [TLV(tag: 0x94, value: afl)]))
            ], amount: 1234)
        XCTAssertEqual(o.kind, .endApplication)
        XCTAssertTrue(o.reason!.contains("records"), o.reason!)
    }

    // MARK: Outcome objects

    /// Book A §6.2 / Annex A: the Outcome Parameter Set, UI Request Data and Error Indication bytes of an online
    /// request and of a card data error.
    func testBookA_6_2_OutcomeParameterSetAndErrorIndicationBytes() async throws {
        let online = try await run(
            Self.visaSelection() + [
                Self.gpo(ttq: "22804000", amount: "000000001234", answer: Self.qvsdcAnswer())
            ], amount: 1234)
        XCTAssertEqual(
            Hex.encode(online.parameterSet.bytes), "30F0F000B0F0FF00",
            "Online Request, Start N/A, No CVM, UI + data record")
        XCTAssertEqual(Hex.encode(online.errorIndication.bytes), "0000000000FF")
        let ui = try XCTUnwrap(online.uiRequestOnOutcome)
        XCTAssertEqual(Hex.encode(UserInterfaceRequestData(ui).bytes).prefix(4), "1B00", "Authorising, Not Ready")
        let output = online.kernelOutput.map(\.tag)
        XCTAssertEqual(output, [0xDF8129, 0xDF8116, 0xDF8115, 0xFF8105, 0xFF8106])
        let bad = try await run(
            Self.visaSelection() + [
                Self.gpo(
                    ttq: "22804000", amount: "000000001234",
                    answer: [TLV(tag: 0x9F27, value: [0x80, 0x00])] + Self.qvsdcAnswer(cid: nil))
            ], amount: 1234)
        XCTAssertEqual(
            Hex.encode(bad.parameterSet.bytes), "40F0F0F090F0FF00",
            "End Application, UI request on outcome, discretionary data")
        XCTAssertEqual(Hex.encode(bad.errorIndication.bytes), "00060000001C", "L2 CARD DATA ERROR, message 1C")
    }
}
