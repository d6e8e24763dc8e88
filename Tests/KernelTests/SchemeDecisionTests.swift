// Decision tests for kernels C-4, C-5, C-6 and C-7 built from the books' rules, not from tapd's virtual cards: each
// states the whole exchange on a scripted card in exact mode (every C-APDU the kernel must send, every answer written
// out as data objects) or calls the decision with the book's inputs, and is named after the rule it checks.

import APDU
import EMVCrypto
import TLV
import XCTest

@testable import EMVKernel

final class SchemeDecisionTests: XCTestCase {
    static let un = "01020304"
    static let date = Harness.date

    static func selection(aid: String, pdol: String?, kernel: UInt8? = nil) -> [ScriptedExchange] {
        let ppse = EntryPointTests.ppse([(aid: aid, priority: 1, kernel: kernel)])
        var a5: [TLV] = [TLV(tag: 0x50, value: Array("CARD".utf8))]
        if let pdol { a5.append(TLV(tag: 0x9F38, value: [UInt8](hex: pdol)!)) }
        let fci = TLV(tag: 0x6F, children: [TLV(tag: 0x84, value: [UInt8](hex: aid)!), TLV(tag: 0xA5, children: a5)])
        let n = String(format: "%02X", aid.count / 2)
        return [
            ScriptedExchange("00A404000E325041592E5359532E444446303100", Hex.encode(ppse)),
            ScriptedExchange("00A40400" + n + aid + "00", Hex.encode(fci.encoded) + "9000"),
        ]
    }

    /// GET PROCESSING OPTIONS with `data` (hex) as the PDOL related data.
    static func gpo(_ data: String, answer: [UInt8], sw: String = "9000") -> ScriptedExchange {
        let inner = String(format: "%02X", data.count / 2)
        let lc = String(format: "%02X", data.count / 2 + 2)
        return ScriptedExchange("80A80000" + lc + "83" + inner + data + "00", Hex.encode(answer) + sw)
    }

    static func record(_ objects: [TLV], sfi: UInt8 = 1, number: UInt8 = 1) -> ScriptedExchange {
        ScriptedExchange(
            "00B2" + String(format: "%02X%02X", number, sfi << 3 | 4) + "00",
            Hex.encode(TLV(tag: 0x70, children: objects).encoded) + "9000")
    }

    static func generateAC(p1: String, data: String, answer: [TLV], sw: String = "9000") -> ScriptedExchange {
        ScriptedExchange(
            "80AE" + p1 + "00" + String(format: "%02X", data.count / 2) + data + "00",
            (answer.isEmpty ? "" : Hex.encode(TLV(tag: 0x77, children: answer).encoded)) + sw)
    }

    func run(
        _ script: [ScriptedExchange], amount: UInt64, config: TerminalConfiguration = TerminalConfiguration(),
        file: StaticString = #filePath, line: UInt = #line
    ) async throws -> Outcome {
        try await Harness.runScripted(
            script, amount: amount, config: config, un: [UInt8](hex: Self.un)!, file: file, line: line)
    }

    static func amount(_ minor: UInt64) -> String { String(format: "%012llu", minor) }

    // MARK: C-7 UnionPay (JR/T 0025.12, "P12")

    static let unionPayAID = "A000000333010102"
    static let qpbocPDOL = "9F66049F02069F3704"

    static func qpbocAnswer(iad: String, extra: [TLV] = []) -> [UInt8] {
        TLV(
            tag: 0x77,
            children: [
                TLV(tag: 0x82, value: [0x7C, 0x00]), TLV(tag: 0x9F36, value: [0x00, 0x2A]),
                TLV(tag: 0x57, value: [UInt8](hex: "6200000000000005D29122011143804489")!),
                TLV(tag: 0x9F10, value: [UInt8](hex: iad)!),
                TLV(tag: 0x9F26, value: [UInt8](hex: "1122334455667788")!),
            ] + extra
        ).encoded
    }

    /// P12 §7.8.1: a qPBOC answer carries no CID; the type is IAD byte 5 b6–b5 (10 ARQC → online, 00 AAC →
    /// declined), and the terminal gives the acquirer the CID it implies.
    func testP12_7_8_1_CryptogramTypeFromIADByte5() async throws {
        for (cvr, kind, outcome, cid) in [
            ("A0", ApplicationCryptogram.Kind.arqc, OutcomeKind.onlineRequest, UInt8(0x80)),
            ("80", .aac, .declined, 0x00),
        ] {
            let o = try await run(
                Self.selection(aid: Self.unionPayAID, pdol: Self.qpbocPDOL) + [
                    Self.gpo(
                        "22800080" + Self.amount(1234) + Self.un, answer: Self.qpbocAnswer(iad: "07010103\(cvr)000001"))
                ], amount: 1234)
            XCTAssertEqual(o.kind, outcome, "CVR byte 2 \(cvr): \(o.reason ?? "")")
            XCTAssertEqual(o.kernel, "C-7")
            XCTAssertEqual(o.cryptogram?.kind, kind)
            XCTAssertEqual(o.transactionData[0x9F27], [cid], "field 55 carries the CID the IAD implies")
        }
        XCTAssertEqual(PBOCIssuerApplicationData([UInt8](hex: "07010103A00000010A010000038787868FD1FC")!)?.algorithm, 1)
        XCTAssertEqual(PBOCIssuerApplicationData([UInt8](hex: "0701010390000004")!)?.cryptogramKind, .tc)
        XCTAssertEqual(PBOCIssuerApplicationData([UInt8](hex: "0701010390000004")!)?.usesSM4, true)
        XCTAssertNil(PBOCIssuerApplicationData([UInt8](hex: "070101")!), "too short to hold the CVR")
        XCTAssertNil(PBOCIssuerApplicationData([UInt8](hex: "06011203A00000")!), "a VIS IAD is not PBOC's")
    }

    /// P12 §6.5.3: a GPO status other than 9000 ends contactless processing and asks for another interface; 6985 is
    /// the card's refusal (P12 §7.7.16, P17 §10.5 and Table 20): an offline decline, where Book C-3 selects the next
    /// application.
    func testP12_6_5_3_GPOStatusOtherThan9000AsksForAnotherInterface() async throws {
        for (sw, kind) in [("6A81", OutcomeKind.tryAnotherInterface), ("6985", .declined)] {
            let o = try await run(
                Self.selection(aid: Self.unionPayAID, pdol: Self.qpbocPDOL) + [
                    Self.gpo("22800080" + Self.amount(1234) + Self.un, answer: [], sw: sw)
                ], amount: 1234)
            XCTAssertEqual(o.kind, kind, sw)
        }
    }

    /// P12 §7.7: with "online cryptogram required" in the TTQ the card must go online; a TC then is declined (Book
    /// C-3 §5.4.3.2 sends it online instead).
    func testP12_7_7_TCUnderOnlineCryptogramRequiredIsDeclined() async throws {
        let o = try await run(
            Self.selection(aid: Self.unionPayAID, pdol: Self.qpbocPDOL) + [
                Self.gpo("22800080" + Self.amount(1234) + Self.un, answer: Self.qpbocAnswer(iad: "0701010390000001"))
            ], amount: 1234)
        XCTAssertEqual(o.kind, .declined, o.reason ?? "")
    }

    /// P12 Annex B.2: fDDA fails when the reader offered version 01 (TTQ byte 4 b8) to a card of this specification
    /// (9F08 0030) that signed version 00 (no 9F69: a signature over the UN alone), and when the AIP lacks DDA.
    func testP12_AnnexB2_AVersion00SignatureIsRefusedWhenVersion01WasOffered() {
        var store = TLVStore()
        store[0x82] = [0x7C, 0x00]
        store[0x9F66] = [0x22, 0x00, 0x00, 0x80]
        store[0x9F08] = [0x00, 0x30]
        store[0x9F37] = [1, 2, 3, 4]
        let session = KernelSession.forTests()
        XCTAssertEqual(KernelC7.rules.fdda(session, store, []).failure, .missingData(0x9F69))
        store[0x82] = [0x5C, 0x00]
        XCTAssertEqual(
            KernelC7.rules.fdda(session, store, []).failure, .dynamicDataInvalid("the AIP does not announce DDA"))
    }

    /// P12 §7.6: the card asks for online PIN (CTQ byte 1 b8) and the reader offers it (TTQ byte 1 b3); without a
    /// CTQ above the CVM limit a signature-capable reader takes a signature.
    func testP12_7_6_CardholderVerification() async throws {
        var pin = TerminalConfiguration()
        pin.supportsOnlinePIN = true
        let withPIN = try await run(
            Self.selection(aid: Self.unionPayAID, pdol: Self.qpbocPDOL) + [
                Self.gpo(
                    "26C00080" + Self.amount(6000) + Self.un,
                    answer: Self.qpbocAnswer(
                        iad: "07010103A00000" + "01", extra: [TLV(tag: 0x9F6C, value: [0x80, 0x00])]))
            ], amount: 6000, config: pin)
        XCTAssertEqual(withPIN.kind, .onlineRequest, withPIN.reason ?? "")
        XCTAssertEqual(withPIN.cvm, .onlinePIN)
        let signature = try await run(
            Self.selection(aid: Self.unionPayAID, pdol: Self.qpbocPDOL) + [
                Self.gpo("22C00080" + Self.amount(6000) + Self.un, answer: Self.qpbocAnswer(iad: "07010103A0000001"))
            ], amount: 6000)
        XCTAssertEqual(signature.cvm, .signature)
    }

    /// P17 §10.3.2: a card whose PDOL asks for the SM Algorithm Support Indicator (DF69) learns the reader supports
    /// SM2, SM3 and SM4 (01).
    func testP17_10_3_2_TheReaderOffersTheNationalAlgorithms() async throws {
        let o = try await run(
            Self.selection(aid: Self.unionPayAID, pdol: Self.qpbocPDOL + "DF6901") + [
                Self.gpo(
                    "22800080" + Self.amount(1234) + Self.un + "01", answer: Self.qpbocAnswer(iad: "07010103A0000004"))
            ], amount: 1234)
        XCTAssertEqual(o.kind, .onlineRequest, o.reason ?? "")
    }

    /// P12 §7.7.20 and Annex C: CTQ byte 1 b4 is RFU in qPBOC, so an expired application never goes online because
    /// of it: it ends the transaction. Book C-3 §5.5.1.1 reads the same bit as "go online if expired".
    func testP12_7_7_20_AnExpiredApplicationEndsTheTransaction() {
        let ttq = TerminalTransactionQualifiers([0x22, 0x00, 0x00, 0x80])
        let ctq = CardTransactionQualifiers([0x08, 0x00])
        let pboc = QuickKernel.offlineDecision(
            Outcome(.declined), oda: nil, expired: true, onException: false,
            expiry: (KernelC7.rules.ctqGoOnlineIfExpired, KernelC7.rules.expiredOutcome), cvm: .success(.noCVM),
            ctq: ctq, ttq: ttq)
        XCTAssertEqual(pboc.kind, .endApplication)
        let visa = QuickKernel.offlineDecision(
            Outcome(.declined), oda: nil, expired: true, onException: false, cvm: .success(.noCVM), ctq: ctq, ttq: ttq)
        XCTAssertEqual(visa.kind, .onlineRequest)
    }

    /// P17 §5.2: an SM2 certificate is read field by field: its format, the SM2 algorithm (04) and curve (11)
    /// indicators, the key length; anything else is refused before any signature is checked.
    func testP17_5_2_SM2CertificateFieldsAreChecked() throws {
        let key = try NationalAlgorithms.SM2KeyPair.generate()
        func cert(format: UInt8 = 0x12, algorithm: UInt8 = 0x04, curve: UInt8 = 0x11, length: UInt8 = 0x40) -> [UInt8] {
            [format, 0x62, 0x00, 0x00, 0xFF, 0x12, 0x30, 0x00, 0x00, 0x01, algorithm, 0x00, curve, length]
                + key.publicKey.point + [UInt8](repeating: 0, count: 64)
        }
        XCTAssertNoThrow(try SM2Certificate(cert(), format: 0x12, identifierLength: 4, object: .issuerCertificate))
        XCTAssertThrowsError(
            try SM2Certificate(cert(format: 0x02), format: 0x12, identifierLength: 4, object: .issuerCertificate))
        XCTAssertThrowsError(
            try SM2Certificate(cert(algorithm: 0x01), format: 0x12, identifierLength: 4, object: .issuerCertificate))
        XCTAssertThrowsError(
            try SM2Certificate(cert(curve: 0x01), format: 0x12, identifierLength: 4, object: .issuerCertificate))
        XCTAssertThrowsError(
            try SM2Certificate(cert().dropLast(), format: 0x12, identifierLength: 4, object: .issuerCertificate))
        let c = try SM2Certificate(cert(), format: 0x12, identifierLength: 4, object: .issuerCertificate)
        XCTAssertThrowsError(try c.verify(with: key.publicKey, extra: [], object: .issuerCertificate), "zero signature")
        let signed = Array(cert().prefix(78))
        let good = try SM2Certificate(
            signed + (try key.sign(signed)), format: 0x12, identifierLength: 4, object: .issuerCertificate)
        XCTAssertNoThrow(try good.verify(with: key.publicKey, extra: [], object: .issuerCertificate))
    }

    // MARK: C-4 American Express (Book C-4)

    static let amexAID = "A000000025010403"
    /// A card without CDA (AIP byte 1 1C: CVM, TRM, issuer authentication), EMV mode; one record.
    static func amexCard(cvmList: String = "000000000000000042031E031F03") -> [ScriptedExchange] {
        [
            record([
                TLV(tag: 0x5A, value: [UInt8](hex: "378282246310005F")!), TLV(tag: 0x5F24, value: [0x29, 0x12, 0x31]),
                TLV(tag: 0x8C, value: [UInt8](hex: "9F02069F3704")!), TLV(tag: 0x8E, value: [UInt8](hex: cvmList)!),
            ])
        ]
    }

    static func amexGPO(_ sent: String, aip: String = "1C80", extra: [TLV] = []) -> ScriptedExchange {
        gpo(
            sent,
            answer: TLV(
                tag: 0x77,
                children: [TLV(tag: 0x82, value: [UInt8](hex: aip)!), TLV(tag: 0x94, value: [0x08, 0x01, 0x01, 0x00])]
                    + extra
            ).encoded)
    }

    static let arqc: [TLV] = [
        TLV(tag: 0x9F27, value: [0x80]), TLV(tag: 0x9F36, value: [0x00, 0x07]),
        TLV(tag: 0x9F26, value: [UInt8](hex: "1122334455667788")!),
        TLV(tag: 0x9F10, value: [UInt8](hex: "06010103A00000")!),
    ]

    /// Book C-4 §4.3.3: the Terminal Type the PDOL sends carries the Contactless Reader Capabilities in its high bits
    /// — C0 (ExpressPay 3 and later, EMV and mag-stripe), with b4 "CVM required" above the CVM limit: 22 → E2 / EA.
    /// §4.3.4: Enhanced Contactless Reader Capabilities byte 3 b7 "CVM required" likewise. Below the limit the CVM
    /// List's "if supported" rules find only No CVM.
    func testBookC4_4_3_3_TerminalTypeCarriesTheReaderCapabilities() async throws {
        let below = try await run(
            Self.selection(aid: Self.amexAID, pdol: "9F35019F6E04") + [Self.amexGPO("E2" + "18A00003")]
                + Self.amexCard() + [Self.generateAC(p1: "80", data: Self.amount(1234) + Self.un, answer: Self.arqc)],
            amount: 1234)
        XCTAssertEqual(below.kind, .onlineRequest, below.reason ?? "")
        XCTAssertEqual(below.kernel, "C-4")
        XCTAssertEqual(below.cvm, .noCVM)
        let above = try await run(
            Self.selection(aid: Self.amexAID, pdol: "9F35019F6E04") + [Self.amexGPO("EA" + "18A04003")]
                + Self.amexCard() + [Self.generateAC(p1: "80", data: Self.amount(6000) + Self.un, answer: Self.arqc)],
            amount: 6000)
        XCTAssertEqual(above.cvm, .signature, "the CVM List's signature rule, as 9F6E byte 2 offers it")
        XCTAssertEqual(above.transactionData[0x9F35], [0x22], "the acquirer gets the Terminal Type itself")
    }

    /// Book C-4: a phone that verified its user says so in Mobile CVM Results (9F71 01 … 02): on-device CVM, whatever
    /// the CVM List; one that could not (CVM required by the terminal, not successful) declines, and the reader asks
    /// its user to look at the phone: Try Again at Start B.
    func testBookC4_MobileCVMResults() async throws {
        let verified = try await run(
            Self.selection(aid: Self.amexAID, pdol: "9F35019F6E04") + [
                Self.amexGPO("EA" + "18A04003", extra: [TLV(tag: 0x9F71, value: [0x01, 0x03, 0x02])])
            ] + Self.amexCard() + [Self.generateAC(p1: "80", data: Self.amount(6000) + Self.un, answer: Self.arqc)],
            amount: 6000)
        XCTAssertEqual(verified.cvm, .confirmationCodeVerified, verified.reason ?? "")
        var aac = Self.arqc
        aac[0] = TLV(tag: 0x9F27, value: [0x00])
        let seePhone = try await run(
            Self.selection(aid: Self.amexAID, pdol: "9F35019F6E04") + [
                Self.amexGPO("EA" + "18A04003", extra: [TLV(tag: 0x9F71, value: [0x3F, 0x03, 0x01])])
            ] + Self.amexCard() + [Self.generateAC(p1: "80", data: Self.amount(6000) + Self.un, answer: aac)],
            amount: 6000)
        XCTAssertEqual(seePhone.kind, .seePhone, seePhone.reason ?? "")
        XCTAssertEqual(seePhone.start, .b)
    }

    /// Book C-4: EMV mode is AIP byte 2 b8; a card without it offers mag-stripe mode only, which tapd leaves out.
    func testBookC4_MagStripeOnlyCardAsksForAnotherInterface() async throws {
        let o = try await run(
            Self.selection(aid: Self.amexAID, pdol: "9F35019F6E04") + [Self.amexGPO("E2" + "18A00003", aip: "1940")],
            amount: 1234)
        XCTAssertEqual(o.kind, .tryAnotherInterface)
        XCTAssertEqual(o.errorIndication.l2, .magstripeNotSupported)
    }

    /// Book 3 §10.2: a card's FCI can never stand in for what its GENERATE AC answer says. A CID in the SELECT answer
    /// and again in GENERATE AC is redundant card data (End Application), never a TC over a signed ARQC.
    func testBook3_10_2_AForgedCIDInTheFCIIsACardDataError() async throws {
        var sel = Self.selection(aid: Self.amexAID, pdol: "9F35019F6E04")
        let fci = TLV(
            tag: 0x6F,
            children: [
                TLV(tag: 0x84, value: [UInt8](hex: Self.amexAID)!),
                TLV(
                    tag: 0xA5,
                    children: [
                        TLV(tag: 0x50, value: Array("CARD".utf8)),
                        TLV(tag: 0x9F38, value: [UInt8](hex: "9F35019F6E04")!),
                        TLV(tag: 0x9F27, value: [0x40]),
                    ]),
            ])
        sel[1] = ScriptedExchange("00A4040008" + Self.amexAID + "00", Hex.encode(fci.encoded) + "9000")
        let o = try await run(
            sel + [Self.amexGPO("E2" + "18A00003")] + Self.amexCard() + [
                Self.generateAC(p1: "80", data: Self.amount(1234) + Self.un, answer: Self.arqc)
            ], amount: 1234)
        XCTAssertEqual(o.kind, .endApplication, o.reason ?? "")
        XCTAssertEqual(o.errorIndication.l2, .cardDataError)
    }

    /// Book 3 §10.2: terminal data come from the terminal. A TTQ in a card's FCI is left out; the reader's own TTQ
    /// (with its floor-limit bit) is what the PDOL sends and what the kernel reads.
    func testBook3_10_2_TerminalDataFromTheCardAreIgnored() async throws {
        var sel = Self.selection(aid: Self.unionPayAID, pdol: Self.qpbocPDOL)
        let fci = TLV(
            tag: 0x6F,
            children: [
                TLV(tag: 0x84, value: [UInt8](hex: Self.unionPayAID)!),
                TLV(
                    tag: 0xA5,
                    children: [
                        TLV(tag: 0x9F38, value: [UInt8](hex: Self.qpbocPDOL)!),
                        TLV(tag: 0x9F66, value: [0x20, 0x00, 0x00, 0x00]),
                    ]),
            ])
        sel[1] = ScriptedExchange("00A4040008" + Self.unionPayAID + "00", Hex.encode(fci.encoded) + "9000")
        let o = try await run(
            sel + [
                Self.gpo("22800080" + Self.amount(1234) + Self.un, answer: Self.qpbocAnswer(iad: "07010103A0000001"))
            ],
            amount: 1234)
        XCTAssertEqual(o.kind, .onlineRequest, o.reason ?? "")
    }

    /// Book B §3.3.2.5: an entry takes the combination whose AID matches most of its ADF name; a more general one
    /// (UnionPay's 7-byte AID) never stands in for a longer one that pre-processing ruled out.
    func testBookB_3_3_2_5_TheLongestMatchingAIDDecides() {
        var config = TerminalConfiguration()
        for i in config.applications.indices where config.applications[i].aid.bytes == [UInt8](hex: Self.unionPayAID)! {
            config.applications[i].contactlessTransactionLimit = 1000
        }
        let txn = TransactionParameters(amount: 5000, date: Self.date)
        let combos = PreProcessing.run(config, txn)
        func entry(_ aid: String) -> DirectoryEntry {
            DirectoryEntry(
                adfName: [UInt8](hex: aid)!, label: nil, priority: 1, kernelIdentifier: nil, extendedSelection: nil)
        }
        XCTAssertTrue(CombinationSelection.candidates([entry(Self.unionPayAID)], combos).isEmpty, "credit ruled out")
        XCTAssertEqual(
            CombinationSelection.candidates([entry("A000000333010101")], combos).first?.combination.application.aid
                .bytes,
            [UInt8](hex: "A000000333010101")!)
        XCTAssertEqual(
            CombinationSelection.candidates([entry("A0000003330101")], combos).first?.combination.application.aid.bytes,
            [UInt8](hex: "A0000003330101")!, "a 7-byte ADF name takes the 7-byte combination")
    }

    // MARK: C-5 JCB (Book C-5)

    static let jcbAID = "A0000000651010"
    static func jcbCard() -> [ScriptedExchange] {
        [
            record([
                TLV(tag: 0x5A, value: [UInt8](hex: "3566002020360505")!), TLV(tag: 0x5F24, value: [0x29, 0x12, 0x31]),
                TLV(tag: 0x8C, value: [UInt8](hex: "9F02069F3704")!),
            ])
        ]
    }
    static func jcbGPO(_ tip: String) -> ScriptedExchange {
        amexGPO("02" + tip, aip: "1C80")
    }
    static func jcbAnswer(cid: UInt8 = 0x80, cvs: UInt8?) -> [TLV] {
        var a = arqc
        a[0] = TLV(tag: 0x9F27, value: [cid])
        if let cvs { a.append(TLV(tag: 0x9F50, value: [cvs])) }
        return a
    }

    /// Book C-5 5.2.1.7–5.2.1.8 and 5.8.3: the reader sends 9F52 (b2 EMV mode) and its Terminal Interchange Profile
    /// (signature b7, on-device CVM b5; b8 CVM required above the limit); the card's Cardholder Verification Status
    /// (9F50) names the CVM: 10 signature when the reader offers it, 20 online PIN which this reader does not → declined,
    /// 00 while the reader required a CVM → declined (5.8.3.2).
    func testBookC5_5_8_3_CardholderVerificationStatus() async throws {
        let cases: [(UInt8, OutcomeKind, OutcomeCVM)] = [
            (0x10, .onlineRequest, .signature), (0x20, .declined, .notApplicable), (0x00, .declined, .notApplicable),
            (0x30, .onlineRequest, .confirmationCodeVerified),
        ]
        for (cvs, kind, cvm) in cases {
            let o = try await run(
                Self.selection(aid: Self.jcbAID, pdol: "9F52019F5303") + [Self.jcbGPO("D00000")] + Self.jcbCard() + [
                    Self.generateAC(p1: "80", data: Self.amount(6000) + Self.un, answer: Self.jcbAnswer(cvs: cvs))
                ], amount: 6000)
            XCTAssertEqual(o.kind, kind, "9F50 \(cvs): \(o.reason ?? "")")
            XCTAssertEqual(o.cvm, cvm, "9F50 \(cvs)")
        }
        let below = try await run(
            Self.selection(aid: Self.jcbAID, pdol: "9F52019F5303") + [Self.jcbGPO("500000")] + Self.jcbCard() + [
                Self.generateAC(p1: "80", data: Self.amount(1234) + Self.un, answer: Self.jcbAnswer(cvs: 0x00))
            ], amount: 1234)
        XCTAssertEqual(below.kind, .onlineRequest)
        XCTAssertEqual(below.cvm, .noCVM)
    }

    /// Book C-5 5.2.1.9–5.2.1.10: a card whose PDOL does not ask for 9F52 is a Legacy-mode card; tapd has no Legacy
    /// mode: Select Next (and with no other application, the transaction ends).
    func testBookC5_5_2_1_10_LegacyCardIsNotRun() async throws {
        let o = try await run(Self.selection(aid: Self.jcbAID, pdol: "9F0206"), amount: 1234)
        XCTAssertEqual(o.kind, .endApplication, o.reason ?? "")
        XCTAssertTrue((o.reason ?? "").contains("Legacy"), o.reason ?? "")
    }

    /// Book C-5 5.8.1.5: GENERATE AC answered 6986 is a phone that needs its user: End Application with a restart at
    /// Start B and "See Phone". 5.8.1.10: an ARQC request answered with a TC is declined.
    func testBookC5_5_8_1_GenerateACAnswers() async throws {
        let seePhone = try await run(
            Self.selection(aid: Self.jcbAID, pdol: "9F52019F5303") + [Self.jcbGPO("500000")] + Self.jcbCard() + [
                Self.generateAC(p1: "80", data: Self.amount(1234) + Self.un, answer: [], sw: "6986")
            ], amount: 1234)
        XCTAssertEqual(seePhone.kind, .seePhone)
        XCTAssertEqual(seePhone.bookStatus, .endApplication)
        XCTAssertEqual(seePhone.start, .b)
        let tc = try await run(
            Self.selection(aid: Self.jcbAID, pdol: "9F52019F5303") + [Self.jcbGPO("500000")] + Self.jcbCard() + [
                Self.generateAC(
                    p1: "80", data: Self.amount(1234) + Self.un, answer: Self.jcbAnswer(cid: 0x40, cvs: 0x00))
            ], amount: 1234)
        XCTAssertEqual(tc.kind, .declined, tc.reason ?? "")
    }

    // MARK: C-6 Discover D-PAS (Book C-6)

    typealias CPR = KernelC6.CardProcessingRequirements

    /// Book C-6 terminal action analysis, as the Card Processing Requirements (9F71) decide it: an expired card
    /// declines (byte 2 b3) or goes online (b4); a TC the reader required to go online declines; a failed CDA asks for
    /// another interface when the card says so (byte 2 b6) and the reader has one, else declines; an ARQC goes online.
    func testBookC6_CardProcessingRequirementsDecide() {
        let ttq = TerminalTransactionQualifiers([0x22, 0x00, 0x40, 0x00])
        let ok: Result<CardholderVerification.Result, EMVModeKernel.KernelFailureReason> = .success(
            .init(cvmResults: [0x1F, 0x00, 0x02], outcomeCVM: .noCVM))
        var expired = TerminalVerificationResults()
        expired.set(.expiredApplication)
        let cda = ODAResult(method: .cda, failure: nil)
        func decide(
            _ kind: ApplicationCryptogram.Kind, oda: ODAResult? = nil, tvr: TerminalVerificationResults = .init(),
            ttq t: TerminalTransactionQualifiers = ttq, cpr: [UInt8] = [0, 0]
        ) -> OutcomeKind {
            KernelC6.decide(kind: kind, refund: false, oda: oda, tvr: tvr, ttq: t, cpr: CPR(cpr), cvm: ok).kind
        }
        XCTAssertEqual(decide(.tc, oda: cda, tvr: expired, cpr: [0x00, 0x04]), .declined)
        XCTAssertEqual(decide(.arqc, tvr: expired, cpr: [0x00, 0x08]), .onlineRequest)
        XCTAssertEqual(decide(.tc, oda: cda), .approved)
        XCTAssertEqual(decide(.tc, oda: cda, ttq: .init([0x22, 0x80, 0x40, 0x00])), .declined)
        XCTAssertEqual(decide(.arqc), .onlineRequest)
        XCTAssertEqual(decide(.aac), .declined)
        let failed = ODAResult(method: .cda, failure: .hashMismatch(.signedDynamicData))
        XCTAssertEqual(
            decide(.tc, oda: failed, ttq: .init([0x32, 0x00, 0x40, 0x00]), cpr: [0, 0x20]), .tryAnotherInterface)
        XCTAssertEqual(decide(.tc, oda: failed, cpr: [0, 0x20]), .declined, "no contact interface here")
        XCTAssertEqual(decide(.arqc, ttq: .init([0x2A, 0x00, 0x40, 0x00])), .declined, "an offline-only reader")
    }

    /// Book C-6 CVM: no CVM List — the Card Processing Requirements ask, the TTQ offers: online PIN, signature,
    /// on-device CVM performed on a phone (unless the CVR says it failed), or No CVM when the card allows falling
    /// back to it; otherwise the CVM fails.
    func testBookC6_CVMFromTheCardProcessingRequirements() {
        var tvr = TerminalVerificationResults()
        let pinTTQ = TerminalTransactionQualifiers([0x26, 0x40, 0x40, 0x00])
        func cvm(_ ttq: TerminalTransactionQualifiers, _ cpr: [UInt8], iad: String = "0115000000000000000000")
            -> OutcomeCVM?
        {
            try? KernelC6.cardholderVerification(ttq: ttq, cpr: CPR(cpr), iad: [UInt8](hex: iad)!, tvr: &tvr).get()
                .outcomeCVM
        }
        XCTAssertEqual(cvm(pinTTQ, [0x80, 0x00]), .onlinePIN)
        XCTAssertEqual(cvm(pinTTQ, [0x40, 0x00]), .signature)
        XCTAssertEqual(cvm(pinTTQ, [0x10, 0x00]), .confirmationCodeVerified)
        XCTAssertNil(cvm(pinTTQ, [0x10, 0x00], iad: "0115000100000000000000"), "the CVR says the phone's check failed")
        XCTAssertEqual(cvm(pinTTQ, [0x00, 0x01]), .noCVM, "falls back to No CVM")
        XCTAssertNil(
            cvm(TerminalTransactionQualifiers([0x20, 0x40, 0x00, 0x00]), [0x80, 0x00]), "no PIN, no fallback")
        XCTAssertEqual(cvm(TerminalTransactionQualifiers([0x22, 0x00, 0x40, 0x00]), [0x00, 0x00]), .noCVM)
    }

    /// D-PAS cards may carry the expiry only in track 2: YYMM after the separator, read as that month's last day;
    /// malformed track 2 data give no date (the card is then judged without one), never a crash.
    func testBookC6_ExpiryFromTrack2() {
        XCTAssertEqual(KernelC6.track2Expiry([UInt8](hex: "6011111111111117D2802201")!), [0x28, 0x02, 0x29])
        XCTAssertEqual(KernelC6.track2Expiry([UInt8](hex: "6011111111111117D2711201")!), [0x27, 0x11, 0x30])
        for bad in ["6011111111111117", "6011111111111117D28", "6011111111111117D2813201", "D2AF1", "", "DD"] {
            XCTAssertNil(KernelC6.track2Expiry([UInt8](hex: bad) ?? []), bad)
        }
        XCTAssertNil(KernelC6.track2Expiry(nil))
    }

    /// Book C-6 (Figures 16–17): a TC must come inside the CDA signature, never as 9F26; an answer that breaks this is a
    /// card data error.
    func testBookC6_ATCMustComeInsideTheSignature() async throws {
        let answer = TLV(
            tag: 0x77,
            children: [
                TLV(tag: 0x82, value: [0x19, 0x80]), TLV(tag: 0x94, value: [0x08, 0x01, 0x01, 0x00]),
                TLV(tag: 0x9F36, value: [0x00, 0x07]), TLV(tag: 0x9F10, value: [UInt8](hex: "0115400000000000000000")!),
                TLV(tag: 0x9F27, value: [0x40]), TLV(tag: 0x9F71, value: [0x00, 0x01]),
                TLV(tag: 0x9F26, value: [UInt8](hex: "1122334455667788")!),
            ]
        ).encoded
        let o = try await run(
            Self.selection(aid: "A0000001523010", pdol: "9F66049F02069F3704") + [
                Self.gpo("22804000" + Self.amount(1234) + Self.un, answer: answer)
            ], amount: 1234)
        XCTAssertEqual(o.kind, .endApplication, o.reason ?? "")
        XCTAssertEqual(o.errorIndication.l2, .cardDataError)
    }
}

extension KernelSession {
    /// A session for calling a kernel's rules directly: the default UnionPay combination, no card behind it.
    static func forTests(keys: CAKeyStore = CAKeyStore()) -> KernelSession {
        let config = TerminalConfiguration()
        let txn = TransactionParameters(amount: 1234, date: SchemeDecisionTests.date)
        let app = config.applications.first { $0.kernel == .unionpay }!
        let entry = DirectoryEntry(
            adfName: app.aid.bytes, label: nil, priority: 1, kernelIdentifier: nil, extendedSelection: nil)
        return KernelSession(
            transport: CardTransport(channel: ScriptedChannel([])),
            candidate: Candidate(
                entry: entry, combination: PreProcessedCombination(application: app, indicators: .init()), order: 0),
            fci: TLV(tag: 0x6F, children: [TLV(tag: 0x84, value: app.aid.bytes)]), configuration: config,
            transaction: txn, keys: keys, risk: RiskManager(), overrides: [:], restarted: false)
    }
}
