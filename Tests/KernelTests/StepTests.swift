// Per-step tests with malformed and unexpected card answers: each processing step must end in the outcome the
// books prescribe, never in a crash or a hang.

import APDU
import Foundation
import Simulators
import TLV
import XCTest

@testable import EMVKernel

final class StepTests: XCTestCase {
    func tap(
        _ p: CardProfile, amount: UInt64 = 1234, _ rewrite: @escaping @Sendable ([UInt8], [UInt8]) throws -> [UInt8]
    ) async throws -> Outcome {
        try await Harness.tap(InterceptingChannel(try VirtualCard(p), rewrite: rewrite), amount: amount).outcome
    }

    func testGPOStatusWords() async throws {
        // 6985: this combination cannot be used → Select Next → nothing else on the card → End Application, L2 EMPTY
        // CANDIDATE LIST (Book B §3.3.2.7).
        let o6985 = try await tap(.visaCard()) { c, r in c[1] == 0xA8 ? [0x69, 0x85] : r }
        XCTAssertEqual(o6985.kind, .endApplication)
        XCTAssertEqual(o6985.errorIndication.l2, .statusBytes)
        XCTAssertTrue(o6985.reason!.contains("6985"), o6985.reason!)
        // 6986: see phone.
        let o6986 = try await tap(.visaCard()) { c, r in c[1] == 0xA8 ? [0x69, 0x86] : r }
        XCTAssertEqual(o6986.kind, .seePhone)
        // 6984: the card wants the contact interface.
        let o6984 = try await tap(.visaCard()) { c, r in c[1] == 0xA8 ? [0x69, 0x84] : r }
        XCTAssertEqual(o6984.kind, .tryAnotherInterface)
        // Anything else ends the application.
        let o6A81 = try await tap(.visaCard()) { c, r in c[1] == 0xA8 ? [0x6A, 0x81] : r }
        XCTAssertEqual(o6A81.kind, .endApplication)
        // Mastercard: an unsuccessful GPO is Select Next; nothing left → End Application.
        let mc = try await tap(.mastercardCard()) { c, r in c[1] == 0xA8 ? [0x69, 0x85] : r }
        XCTAssertEqual(mc.kind, .endApplication)
    }

    func testWrongTemplatesAndMissingData() async throws {
        // Format 1 (80) from a qVSDC card.
        let f1 = try await tap(.visaCard()) { c, r in
            c[1] == 0xA8 ? TLV(tag: 0x80, value: [0x20, 0x00, 0x08, 0x01, 0x01, 0x00]).encoded + [0x90, 0x00] : r
        }
        XCTAssertEqual(f1.kind, .endApplication)
        // Mandatory ATC missing.
        let noATC = try await tap(.visaCard()) { c, r in c[1] == 0xA8 ? removing(0x9F36, from: r) : r }
        XCTAssertEqual(noATC.kind, .endApplication)
        XCTAssertTrue(noATC.reason!.contains("9F36"))
        // Mastercard without AFL.
        let noAFL = try await tap(.mastercardCard()) { c, r in c[1] == 0xA8 ? removing(0x94, from: r) : r }
        XCTAssertEqual(noAFL.kind, .endApplication)
        // Mastercard record without the CDOL1.
        let noCDOL = try await tap(.mastercardCard()) { c, r in
            c[1] == 0xB2 && c[2] == 1 && c[3] == 0x0C ? removing(0x8C, from: r) : r
        }
        XCTAssertEqual(noCDOL.kind, .endApplication)
        XCTAssertTrue(noCDOL.reason!.contains("8C"))
        // Mag-stripe only card (AIP byte 2 b8 clear).
        let msd = try await tap(.mastercardCard()) { c, r in
            c[1] == 0xA8 ? replacing(0x82, with: [0x19, 0x00], in: r) : r
        }
        XCTAssertEqual(msd.kind, .tryAnotherInterface)
        XCTAssertTrue(msd.reason!.contains("mag-stripe"))
    }

    func testAFLAndRecordFaults() async throws {
        // AFL with SFI 0.
        let sfi0 = try await tap(.visaCard()) { c, r in
            c[1] == 0xA8 ? replacing(0x94, with: [0x00, 0x01, 0x01, 0x00], in: r) : r
        }
        XCTAssertEqual(sfi0.kind, .endApplication)
        XCTAssertTrue(sfi0.reason!.contains("SFI 0"), sfi0.reason!)
        // A record named by the AFL is not there.
        let missing = try await tap(.visaCard()) { c, r in c[1] == 0xB2 && c[3] == 0x14 ? [0x6A, 0x83] : r }
        XCTAssertEqual(missing.kind, .endApplication)
        // A record in template 71 instead of 70.
        let t71 = try await tap(.visaCard()) { c, r in
            c[1] == 0xB2 && c[2] == 2 ? [0x71] + Array(r.dropFirst()) : r
        }
        XCTAssertEqual(t71.kind, .endApplication)
        // The same primitive twice in the card's data.
        let dup = try await tap(.visaCard()) { c, r in
            guard c[1] == 0xB2, c[2] == 2, c[3] == 0x14 else { return r }
            let t = try TLVParser.parseOne(Array(r.dropLast(2)))
            return TLV(tag: 0x70, children: t.children + [TLV(tag: 0x5A, value: [0x47, 0x61])]).encoded + [0x90, 0x00]
        }
        XCTAssertEqual(dup.kind, .endApplication)
        XCTAssertTrue(dup.reason!.contains("more than once"))
        // A response under two bytes (vpcd's "card vanished").
        let empty = try await tap(.visaCard()) { c, r in c[1] == 0xB2 ? [] : r }
        XCTAssertEqual(empty.kind, .tryAgain)
    }

    func testRealCardVariantsAreAccepted() async throws {
        // No CID and a 32-byte IAD whose byte 5 says ARQC (b6-b5 = 10, as the Apple Pay trace's A0): online.
        let noCID = try await tap(.visaCard()) { c, r in
            c[1] == 0xA8
                ? replacing(
                    0x9F10, with: [0x1F, 0x4A, 0x63, 0x60, 0xA0] + [UInt8](repeating: 0, count: 27),
                    in: removing(0x9F27, from: r)) : r
        }
        XCTAssertEqual(noCID.kind, .onlineRequest, noCID.reason ?? "")
        XCTAssertNil(
            noCID.transactionData[0x9F27],
            "a CID read from the IAD is not sent to the acquirer as if the card had sent it")
        XCTAssertEqual(noCID.cryptogram?.kind, .arqc)
        // No CID and an IAD too short to say: End Application, never a guess.
        let short = try await tap(.visaCard()) { c, r in
            c[1] == 0xA8 ? replacing(0x9F10, with: [0x06, 0x01, 0x12], in: removing(0x9F27, from: r)) : r
        }
        XCTAssertEqual(short.kind, .endApplication, short.reason ?? "")
        // A label the FCI carried, repeated in a record, is not a redundancy error.
        let label = try await tap(.visaCard()) { c, r in
            guard c[1] == 0xB2, c[2] == 2, c[3] == 0x14 else { return r }
            let t = try TLVParser.parseOne(Array(r.dropLast(2)))
            return TLV(tag: 0x70, children: t.children + [TLV(tag: 0x50, value: Array("VISA CREDIT".utf8))]).encoded + [
                0x90, 0x00,
            ]
        }
        XCTAssertEqual(label.kind, .onlineRequest, label.reason ?? "")
    }

    func testConfigurationFromJSON() throws {
        let json = #"""
            {"countryCode": 56, "currencyCode": 978, "supportsOnlinePIN": true, "enhancedContactlessReaderCapabilities": "D8E00000",
                         "applications": [{"aid": "A0000000031010", "kernel": 3, "label": "Visa", "contactlessTransactionLimit": 5000,
                                           "statusCheckSupported": false, "zeroAmountAllowed": true, "ttq": "36004000",
                                           "tacDefault": "0000000000", "tacDenial": "0000000000", "tacOnline": "0000000000", "applicationVersion": "0096"}]}
            """#
        let c = try TerminalConfiguration.load(json: Data(json.utf8))
        XCTAssertEqual(c.countryCode, 56)
        XCTAssertTrue(c.supportsOnlinePIN)
        XCTAssertEqual(c.applications.count, 1)
        XCTAssertEqual(c.applications[0].ttq?.bytes, [0x36, 0x00, 0x40, 0x00])
        XCTAssertEqual(c.enhancedContactlessReaderCapabilities?.bytes, [0xD8, 0xE0, 0x00, 0x00])
        XCTAssertNil(
            c.terminalData(for: c.applications[0])[0x9F6E],
            "only C-4 sends 9F6E: in the other kernels it is the card's Form Factor Indicator")
        XCTAssertEqual(
            c.merchantIdentifier, TerminalConfiguration().merchantIdentifier, "keys left out keep their defaults")
        XCTAssertThrowsError(try TerminalConfiguration.load(json: Data(#"{"applications": [{"aid": "XYZ"}]}"#.utf8)))
    }

    func testCardGoneAtEachStep() async throws {
        for ins: UInt8 in [0xA4, 0xA8, 0xB2, 0xEA, 0xAE] {
            let o = try await tap(.mastercardCard()) { c, r in
                if c[1] == ins { throw CardError.cardRemoved }
                return r
            }
            XCTAssertEqual(o.kind, .tryAgain, "INS \(Hex.encode([ins]))")
            XCTAssertEqual(o.start, .b)
        }
    }

    func testMalformedGENERATEACResponses() async throws {
        let garbage = try await tap(.mastercardCard()) { c, r in
            c[1] == 0xAE ? [0x77, 0x05, 0x9F, 0x27, 0x01, 0x90, 0x00] : r
        }
        XCTAssertEqual(garbage.kind, .endApplication)
        let noCID = try await tap(.mastercardCard()) { c, r in c[1] == 0xAE ? removing(0x9F27, from: r) : r }
        XCTAssertEqual(noCID.kind, .endApplication)
        let rfu = try await tap(.mastercardCard()) { c, r in c[1] == 0xAE ? replacing(0x9F27, with: [0xC0], in: r) : r }
        XCTAssertEqual(rfu.kind, .endApplication)
        // The CID changed to a TC after an ARQC was asked for: a higher cryptogram than requested, card data error.
        let cid = try await tap(.mastercardCard()) { c, r in c[1] == 0xAE ? replacing(0x9F27, with: [0x40], in: r) : r }
        XCTAssertEqual(cid.kind, .endApplication)
        XCTAssertEqual(cid.errorIndication.l2, .cardDataError)
        // The CID changed to an AAC after signing an ARQC: allowed as an answer, but CDA fails (CAM FAILED).
        let aac = try await tap(.mastercardCard()) { c, r in c[1] == 0xAE ? replacing(0x9F27, with: [0x00], in: r) : r }
        XCTAssertEqual(aac.kind, .endApplication)
        XCTAssertEqual(aac.errorIndication.l2, .camFailed)
        XCTAssertEqual(aac.oda?.failure, .cryptogramInformationMismatch)
        XCTAssertNil(aac.cryptogram, "a cryptogram inside a signature that did not verify is not reported")
    }

    func testRelayResistanceFaults() async throws {
        // A malformed ERRD answer ends the application.
        let bad = try await tap(.mastercardCard()) { c, r in
            c[1] == 0xEA ? TLV(tag: 0x80, value: [1, 2, 3]).encoded + [0x90, 0x00] : r
        }
        XCTAssertEqual(bad.kind, .endApplication)
        // A device that claims to need at least 50 ms but answers at once looks relayed or replayed.
        let fast = try await tap(.mastercardCard()) { c, r in
            guard c[1] == 0xEA else { return r }
            var v = Array(try TLVParser.parseOne(Array(r.dropLast(2))).value)
            v[4] = 0x01
            v[5] = 0xF4  // min time 500 × 100 µs
            return TLV(tag: 0x80, value: v).encoded + [0x90, 0x00]
        }
        XCTAssertEqual(fast.kind, .endApplication)
        XCTAssertTrue(fast.reason!.contains("relay resistance"))
    }
}

final class EntryPointTests: XCTestCase {
    static func ppse(_ entries: [(aid: String, priority: UInt8?, kernel: UInt8?)]) -> [UInt8] {
        TLV(
            tag: 0x6F,
            children: [
                TLV(tag: 0x84, value: CommandAPDU.ppseName),
                TLV(
                    tag: 0xA5,
                    children: [
                        TLV(
                            tag: 0xBF0C,
                            children: entries.map { e in
                                var c = [TLV(tag: 0x4F, value: [UInt8](hex: e.aid)!)]
                                if let p = e.priority { c.append(TLV(tag: 0x87, value: [p])) }
                                if let k = e.kernel { c.append(TLV(tag: 0x9F2A, value: [k])) }
                                return TLV(tag: 0x61, children: c)
                            })
                    ]),
            ]
        ).encoded + [0x90, 0x00]
    }

    func testNoPPSEOrNothingAccepted() async throws {
        let none = ScriptedChannel([ScriptedExchange("00A404000E325041592E5359532E444446303100", "6A82")])
        let o = try await Harness.tap(none, amount: 100).outcome
        XCTAssertEqual(o.kind, .endApplication)
        XCTAssertEqual(o.errorIndication.l2, .noPPSE)
        XCTAssertTrue(o.reason!.contains("no PPSE"))
        let unknown = ScriptedChannel([
            ScriptedExchange(
                command: try CommandAPDU.select(name: CommandAPDU.ppseName).encoded(),
                response: Self.ppse([("A0000009991010", 1, nil)]))
        ])
        let o2 = try await Harness.tap(unknown, amount: 100).outcome
        XCTAssertEqual(o2.kind, .endApplication)
        XCTAssertEqual(o2.errorIndication.l2, .emptyCandidateList)
        XCTAssertEqual(o2.reason, "no application on the card is accepted here")
    }

    /// Book B v2.10 §3.3.2.5: a directory entry without a Kernel Identifier asks for its RID's default kernel, and
    /// every international scheme's RID has one in tapd.
    func testBookB_3_3_2_5_EveryRIDFindsItsDefaultKernel() {
        let txn = TransactionParameters(amount: 100, date: Harness.date)
        let combos = PreProcessing.run(TerminalConfiguration(), txn)
        for (aid, kernel) in [
            ("A0000000031010", KernelID.visa), ("A0000000041010", .mastercard), ("A000000025010403", .amex),
            ("A0000000651010", .jcb), ("A0000001523010", .discover), ("A000000333010102", .unionpay),
        ] {
            let e = DirectoryEntry(
                adfName: [UInt8](hex: aid)!, label: nil, priority: 1, kernelIdentifier: nil, extendedSelection: nil)
            XCTAssertEqual(e.requestedKernel, .international(kernel.rawValue), aid)
            let c = CombinationSelection.candidates([e], combos)
            XCTAssertEqual(c.first?.combination.application.kernel, kernel, aid)
            XCTAssertTrue(kernel.isSupported, aid)
        }
    }

    /// Book B v2.10 §3.3.2.6–§3.3.2.7: a co-badged card is taken through the application of highest priority among
    /// those tapd has a kernel for, whichever order its directory lists them in.
    func testBookB_3_3_2_7_CoBadgedCardChoosesByPriority() async throws {
        let unionPayFirst = CoBadgedCard([
            (try VirtualCard(.visaCard()), 2), (try VirtualCard(.unionPayCard()), 1),
        ])
        let t = try await Harness.tap(unionPayFirst, amount: 100)
        XCTAssertEqual(t.outcome.kernel, "C-7", t.outcome.reason ?? "")
        XCTAssertEqual(t.outcome.kind, .onlineRequest)
        XCTAssertFalse(
            t.commands.contains { $0.count > 5 && Array($0[5...]).starts(with: [0xA0, 0, 0, 0, 0x03]) },
            "the Visa application is never selected")
        let visaFirst = CoBadgedCard([(try VirtualCard(.amexCard()), 3), (try VirtualCard(.visaCard()), 1)])
        let v = try await Harness.tap(visaFirst, amount: 100)
        XCTAssertEqual(v.outcome.kernel, "C-3")
    }

    /// Book B v2.10 §3.3.2.5: a combination the terminal is not configured for (here: the operator's configuration
    /// names no JCB application) never enters the candidate list, so a co-badged card whose first-priority
    /// application is JCB is taken through its Visa application.
    func testBookB_3_3_2_5_CoBadgedCardFallsThroughToAConfiguredKernel() async throws {
        var config = TerminalConfiguration()
        config.applications.removeAll { $0.kernel == .jcb }
        let card = CoBadgedCard([(try VirtualCard(.jcbCard()), 1), (try VirtualCard(.visaCard()), 2)])
        let t = try await Harness.tap(card, amount: 100, config: config)
        XCTAssertEqual(t.outcome.kernel, "C-3")
        XCTAssertEqual(t.outcome.kind, .onlineRequest)
        XCTAssertFalse(
            t.commands.contains { $0.count > 5 && Array($0[5...]).starts(with: [0xA0, 0, 0, 0, 0x65]) },
            "the JCB application is never selected")
    }

    /// Book B v2.10 §3.3.2.5: Kernel Identifier byte 1 b8–b7 is the kernel type. 00 and 01 name an international kernel
    /// by byte 1; 10/11 a domestic kernel by bytes 1–3, which none of tapd's combinations is; a domestic identifier
    /// shorter than three bytes or with a zero short ID drops the entry; 00 means the RID's default kernel.
    func testBookB_3_3_2_5_KernelIdentifierTypeBits() {
        func entry(_ kid: [UInt8]?) -> DirectoryEntry {
            DirectoryEntry(
                adfName: [UInt8](hex: "A0000000031010")!, label: nil, priority: 1, kernelIdentifier: kid,
                extendedSelection: nil)
        }
        XCTAssertEqual(entry([0x03]).requestedKernel, .international(0x03))
        XCTAssertEqual(entry([0x00]).requestedKernel, .international(0x03), "00: the RID's default")
        XCTAssertEqual(entry(nil).requestedKernel, .international(0x03))
        XCTAssertEqual(entry([0x43]).requestedKernel, .international(0x43))
        XCTAssertEqual(entry([0x83, 0x12, 0x34]).requestedKernel, .domestic([0x83, 0x12, 0x34]))
        XCTAssertEqual(entry([0x83]).requestedKernel, .invalid)
        XCTAssertEqual(entry([0xC0, 0x12, 0x34]).requestedKernel, .invalid)
        let txn = TransactionParameters(amount: 100, date: Harness.date)
        let combos = PreProcessing.run(TerminalConfiguration(), txn)
        for kid: [UInt8] in [[0x43], [0x83, 0x12, 0x34], [0x83]] {
            XCTAssertTrue(CombinationSelection.candidates([entry(kid)], combos).isEmpty, Hex.encode(kid))
        }
        XCTAssertEqual(CombinationSelection.candidates([entry([0x03])], combos).count, 1)
        let unknownRID = DirectoryEntry(
            adfName: [UInt8](hex: "A0000009991010")!, label: nil, priority: 1, kernelIdentifier: nil,
            extendedSelection: nil)
        XCTAssertEqual(unknownRID.requestedKernel, .any)
    }

    /// Book B v2.10 §3.3.3.3: the Extended Selection is appended to the final SELECT only when the combination
    /// supports it.
    func testBookB_3_3_3_3_ExtendedSelectionOnlyWhereSupported() {
        let e = DirectoryEntry(
            adfName: [UInt8](hex: "A0000000041010")!, label: nil, priority: 1, kernelIdentifier: nil,
            extendedSelection: [0x01, 0x02])
        var config = TerminalConfiguration()
        let txn = TransactionParameters(amount: 100, date: Harness.date)
        let off = CombinationSelection.candidates([e], PreProcessing.run(config, txn))
        XCTAssertEqual(Hex.encode(CombinationSelection.selectName(for: off[0])), "A0000000041010")
        config.applications = config.applications.map {
            var a = $0
            a.extendedSelectionSupported = true
            return a
        }
        let on = CombinationSelection.candidates([e], PreProcessing.run(config, txn))
        XCTAssertEqual(Hex.encode(CombinationSelection.selectName(for: on[0])), "A00000000410100102")
    }

    /// Book B v2.10 §3.4: each kernel activation draws a fresh Unpredictable Number, so the second tap of a "see phone"
    /// restart never sends the number of the first.
    func testBookB_3_4_FreshUnpredictableNumberAtEveryActivation() async throws {
        let ep = EntryPoint(configuration: TerminalConfiguration(), keys: try Harness.keys(), risk: RiskManager())
        let txn = TransactionParameters(amount: 9000, date: Harness.date)
        var sent: [[UInt8]] = []
        for restarted in [false, true] {
            let card = RecordingChannel(try VirtualCard(.visaPhone()))
            _ = await ep.process(card: card, transaction: txn, combinations: ep.preProcess(txn)!, restarted: restarted)
            let exchanges = await card.exchanges
            sent.append(try XCTUnwrap(exchanges.first { $0.command[1] == 0xA8 }).command)
        }
        XCTAssertNotEqual(sent[0], sent[1], "the same GPO data twice: the UN was reused")
        XCTAssertNotEqual(Array(sent[0].suffix(5).prefix(4)), txn.unpredictableNumber)
    }

    /// Book B v2.10 §3.1.1.4: a zero amount is not allowed on an offline-only reader; and a combination configured
    /// for other transaction types is not allowed for this one (§3.1).
    func testBookB_3_1_1_ZeroAmountOfflineOnlyAndTransactionTypes() {
        var config = TerminalConfiguration()
        config.onlineCapable = false
        let zero = PreProcessing.run(config, TransactionParameters(amount: 0, date: Harness.date))
        XCTAssertTrue(zero.allSatisfy { $0.indicators.contactlessApplicationNotAllowed })
        var purchaseOnly = TerminalConfiguration()
        purchaseOnly.applications = purchaseOnly.applications.map {
            var a = $0
            a.transactionTypes = [0x00]
            return a
        }
        let refund = PreProcessing.run(
            purchaseOnly, TransactionParameters(amount: 100, type: .refund, date: Harness.date))
        XCTAssertTrue(refund.allSatisfy { $0.indicators.contactlessApplicationNotAllowed })
        let purchase = PreProcessing.run(purchaseOnly, TransactionParameters(amount: 100, date: Harness.date))
        XCTAssertFalse(purchase.allSatisfy { $0.indicators.contactlessApplicationNotAllowed })
        // Limits per transaction type: a cashback combination with a CVM limit of 10.00 instead of 50.00.
        var perType = TerminalConfiguration()
        perType.additionalTerminalCapabilities = "7000F0A001"  // goods, services, cashback
        perType.applications[0].limitsByTransactionType = ["09": TransactionTypeLimits(cvmRequiredLimit: 1000)]
        let cashback = PreProcessing.run(
            perType, TransactionParameters(amount: 2000, type: .purchaseWithCashback, date: Harness.date))
        XCTAssertTrue(cashback[0].indicators.cvmRequiredLimitExceeded)
        XCTAssertEqual(cashback[0].application.cvmRequiredLimit, 1000)
        let normal = PreProcessing.run(perType, TransactionParameters(amount: 2000, date: Harness.date))
        XCTAssertFalse(normal[0].indicators.cvmRequiredLimitExceeded)
        // 9F40 agrees: the default terminal (goods and services) does not run cash or cashback contactless.
        let cash = PreProcessing.run(
            TerminalConfiguration(), TransactionParameters(amount: 2000, type: .cash, date: Harness.date))
        XCTAssertTrue(cash.allSatisfy { $0.indicators.contactlessApplicationNotAllowed })
        let json =
            #"{"applications":[{"aid":"A0000000031010","kernel":3,"label":"Visa","limitsByTransactionType":{"01":{"contactlessTransactionLimit":20000}}}]}"#
        let loaded = try! TerminalConfiguration.load(json: Data(json.utf8))
        XCTAssertEqual(loaded.applications[0].resolved(for: 0x01).contactlessTransactionLimit, 20000)
    }

    func testCandidatesByPriorityAndSelectNextOnSelectFailure() {
        let entries = [
            DirectoryEntry(
                adfName: [UInt8](hex: "A0000000041010")!, label: nil, priority: 2, kernelIdentifier: nil,
                extendedSelection: nil),
            DirectoryEntry(
                adfName: [UInt8](hex: "A0000000031010")!, label: nil, priority: 1, kernelIdentifier: [0x03],
                extendedSelection: nil),
            DirectoryEntry(
                adfName: [UInt8](hex: "A0000000032010")!, label: nil, priority: nil, kernelIdentifier: nil,
                extendedSelection: nil),
            DirectoryEntry(
                adfName: [UInt8](hex: "A0000000031010")!, label: nil, priority: 1, kernelIdentifier: [0x02],
                extendedSelection: nil),
        ]
        let txn = TransactionParameters(amount: 100, date: Harness.date)
        let c = CombinationSelection.candidates(entries, PreProcessing.run(TerminalConfiguration(), txn))
        XCTAssertEqual(
            c.map { Hex.encode($0.entry.adfName) }, ["A0000000031010", "A0000000041010", "A0000000032010"],
            "priority order; a Visa AID asking for kernel 2 matches nothing")
    }

    func testSelectFailureMovesToTheNextCandidate() async throws {
        let visa = try VirtualCard(.visaCard())
        let ppse = Self.ppse([("A0000000041010", 1, 2), ("A0000000031010", 2, 3)])
        let ch = InterceptingChannel(visa) { c, r in
            if c.count > 5, Array(c[5...]).starts(with: CommandAPDU.ppseName) { return ppse }
            return r  // SELECT A0000000041010 → the Visa card answers 6A82
        }
        let o = try await Harness.tap(ch, amount: 100).outcome
        XCTAssertEqual(o.kind, .onlineRequest)
        XCTAssertEqual(o.kernel, "C-3")
    }
}

final class PreProcessingTests: XCTestCase {
    func indicators(_ amount: UInt64, _ config: TerminalConfiguration = TerminalConfiguration())
        -> PreProcessingIndicators
    {
        PreProcessing.run(config, TransactionParameters(amount: amount, date: Harness.date)).first {
            $0.application.label == "Visa"
        }!.indicators
    }

    func testLimitsSetTheTTQ() {
        // Default Visa: floor 0, CVM limit 50.00, contactless limit 1000.00, TTQ 22004000 (qVSDC, signature, CDCVM).
        XCTAssertEqual(
            indicators(1234).ttq, [0x22, 0x80, 0x40, 0x00], "above the floor limit: online cryptogram required")
        XCTAssertEqual(indicators(5000).ttq, [0x22, 0xC0, 0x40, 0x00], "at the CVM limit: CVM required too")
        XCTAssertTrue(indicators(100_000).contactlessApplicationNotAllowed)
        XCTAssertTrue(indicators(0).zeroAmount)
        var c = TerminalConfiguration()
        c.applications[0].zeroAmountAllowed = false
        c.applications[0].statusCheckSupported = true
        XCTAssertTrue(indicators(0, c).contactlessApplicationNotAllowed)
        XCTAssertTrue(indicators(100, c).statusCheckRequested, "one major unit is a status check")
        c.onlineCapable = false
        XCTAssertEqual(indicators(50, c).ttq![0] & 0x08, 0x08, "offline-only reader")
    }

    /// Capabilities agree: the TTQ never advertises what the reader cannot do (a contact slot, a PIN pad), whatever
    /// the configured TTQ says, and advertises what it can (Book C-3 Annex A 9F66 byte 1; Book 4 Annex A2 for 9F33).
    func testCapabilitiesAgreeWithTheConfiguration() {
        var c = TerminalConfiguration()
        c.applications[0].ttq = "3F004000"
        XCTAssertEqual(
            indicators(100, c).ttq![0], 0x23,
            "no contact chip, not offline-only, no PIN pad; signature; ODA for online kept")
        c.supportsOnlinePIN = true
        c.supportsContactInterface = true
        XCTAssertEqual(indicators(100, c).ttq![0], 0x37)
        XCTAssertEqual(c.agreeingTerminalCapabilities, [0x20, 0x68, 0xC8])
        c.supportsOnlinePIN = false
        c.supportsSignature = false
        c.supportsContactInterface = false
        XCTAssertEqual(c.agreeingTerminalCapabilities, [0x00, 0x08, 0xC8])
        XCTAssertEqual(TerminalConfiguration().terminalTypeByte, 0x22)
        c.onlineCapable = false
        XCTAssertEqual(c.terminalTypeByte, 0x23, "an offline-only reader never calls itself online capable")
        c.terminalType = 25
        XCTAssertEqual(c.terminalTypeByte, 0x26)
    }

    func testNoCombinationAllowed() {
        // Visa and Mastercard only (the unsupported schemes carry no limits and would stay allowed).
        var c = TerminalConfiguration()
        c.applications = c.applications.filter { $0.kernel.isSupported }
        let ep = EntryPoint(configuration: c, keys: CAKeyStore(), risk: RiskManager())
        XCTAssertNil(ep.preProcess(TransactionParameters(amount: 200_000, date: Harness.date)))
        XCTAssertNotNil(ep.preProcess(TransactionParameters(amount: 99_999, date: Harness.date)))
        XCTAssertEqual(EntryPoint.noContactlessOutcome().kind, .tryAnotherInterface)
    }
}

final class TerminalProcessingTests: XCTestCase {
    /// Book 3 v4.4 §10.7 by terminal type (Book 4 Annex A1): an online-only terminal (x1, x4) asks for an ARQC
    /// whatever the online codes say, unless denial applies; offline-only (x3, x6) decides with the default codes.
    func testBook3_10_7_TerminalActionAnalysisByTerminalType() {
        let z: [UInt8] = [0, 0, 0, 0, 0]
        let clean = TerminalVerificationResults()
        for type: UInt8 in [0x21, 0x24, 0x11] {
            XCTAssertEqual(
                TerminalActionAnalysis.decide(
                    tvr: clean, tacDenial: z, tacOnline: z, tacDefault: z, iacDenial: z, iacOnline: z,
                    iacDefault: z, terminalType: TerminalType(type)), .arqc, Hex.encode([type]))
        }
        for type: UInt8 in [0x22, 0x25] {
            XCTAssertEqual(
                TerminalActionAnalysis.decide(
                    tvr: clean, tacDenial: z, tacOnline: z, tacDefault: z, iacDenial: z, iacOnline: z,
                    iacDefault: z, terminalType: TerminalType(type)), .tc, Hex.encode([type]))
        }
        var tvr = TerminalVerificationResults()
        tvr.set(.cardOnExceptionFile)
        XCTAssertEqual(
            TerminalActionAnalysis.decide(
                tvr: tvr, tacDenial: [0x10, 0, 0, 0, 0], tacOnline: z, tacDefault: z, iacDenial: z,
                iacOnline: z, iacDefault: z, terminalType: TerminalType(0x21)), .aac, "denial first")
        XCTAssertFalse(TerminalType(0x26).canGoOnline)
        XCTAssertTrue(TerminalType(0x26).offlineOnly)
    }

    func testTerminalActionAnalysis() {
        var tvr = TerminalVerificationResults()
        let z: [UInt8] = [0, 0, 0, 0, 0]
        XCTAssertEqual(
            TerminalActionAnalysis.decide(
                tvr: tvr, tacDenial: z, tacOnline: z, tacDefault: z, iacDenial: z, iacOnline: z, iacDefault: z,
                terminalType: TerminalType(0x22)), .tc)
        tvr.set(.exceedsFloorLimit)
        XCTAssertEqual(
            TerminalActionAnalysis.decide(
                tvr: tvr, tacDenial: z, tacOnline: [0, 0, 0, 0x80, 0], tacDefault: z, iacDenial: z, iacOnline: z,
                iacDefault: z, terminalType: TerminalType(0x22)), .arqc)
        XCTAssertEqual(
            TerminalActionAnalysis.decide(
                tvr: tvr, tacDenial: [0, 0, 0, 0x80, 0], tacOnline: z, tacDefault: z, iacDenial: z, iacOnline: z,
                iacDefault: z, terminalType: TerminalType(0x22)), .aac)
        // Absent IAC-Online counts as all ones: any TVR bit sends it online.
        XCTAssertEqual(
            TerminalActionAnalysis.decide(
                tvr: tvr, tacDenial: z, tacOnline: z, tacDefault: z, iacDenial: nil, iacOnline: nil, iacDefault: nil,
                terminalType: TerminalType(0x22)), .arqc)
        // Offline-only: the default codes decide.
        XCTAssertEqual(
            TerminalActionAnalysis.decide(
                tvr: tvr, tacDenial: z, tacOnline: z, tacDefault: [0, 0, 0, 0x80, 0], iacDenial: z, iacOnline: z,
                iacDefault: z, terminalType: TerminalType(0x23)), .aac)
    }

    func testCVMListProcessing() {
        let list = CVMList([UInt8](hex: "0000000000000000" + "4203" + "1E03" + "1F03")!)
        var tvr = TerminalVerificationResults()
        let sig = CardholderVerification.process(
            list: list, capability: CVMCapability(0x20), amount: 9000, amountOther: 0, transactionType: 0,
            currencyMatches: true, tvr: &tvr)
        XCTAssertEqual(sig.cvmResults, [0x1E, 0x03, 0x00])
        XCTAssertEqual(sig.outcomeCVM, .signature)
        tvr = TerminalVerificationResults()
        let pin = CardholderVerification.process(
            list: list, capability: CVMCapability(0x60), amount: 9000, amountOther: 0, transactionType: 0,
            currencyMatches: true, tvr: &tvr)
        XCTAssertEqual(pin.outcomeCVM, .onlinePIN)
        XCTAssertTrue(tvr.isSet(.onlinePINEntered))
        // Online PIN "always" with no PIN pad and no fallback: CVM fails, PIN pad not present.
        tvr = TerminalVerificationResults()
        let fail = CardholderVerification.process(
            list: CVMList([UInt8](hex: "00000000000000000200")!), capability: CVMCapability(0x20),
            amount: 9000, amountOther: 0, transactionType: 0, currencyMatches: true, tvr: &tvr)
        XCTAssertEqual(fail.cvmResults, [0x3F, 0x00, 0x01])
        XCTAssertTrue(tvr.isSet(.pinPadNotPresent))
        XCTAssertTrue(tvr.isSet(.cardholderVerificationNotSuccessful))
        // Amount conditions against X: signature over X (amount 100.00 > X = 50.00), else no CVM.
        let xy = CVMList([UInt8](hex: "00001388" + "00000000" + "1E07" + "1F00")!)
        tvr = TerminalVerificationResults()
        XCTAssertEqual(
            CardholderVerification.process(
                list: xy, capability: CVMCapability(0x28), amount: 10_000, amountOther: 0, transactionType: 0,
                currencyMatches: true, tvr: &tvr
            ).outcomeCVM, .signature)
        XCTAssertEqual(
            CardholderVerification.process(
                list: xy, capability: CVMCapability(0x28), amount: 1_000, amountOther: 0, transactionType: 0,
                currencyMatches: true, tvr: &tvr
            ).outcomeCVM, .noCVM)
        // Unknown method code, no fall-through.
        tvr = TerminalVerificationResults()
        _ = CardholderVerification.process(
            list: CVMList([UInt8](hex: "00000000000000002A00")!), capability: CVMCapability(0x28), amount: 1,
            amountOther: 0, transactionType: 0, currencyMatches: true, tvr: &tvr)
        XCTAssertTrue(tvr.isSet(.unrecognisedCVM))
        // No CVM List.
        tvr = TerminalVerificationResults()
        XCTAssertEqual(
            CardholderVerification.process(
                list: nil, capability: CVMCapability(0x28), amount: 1, amountOther: 0, transactionType: 0,
                currencyMatches: true, tvr: &tvr
            ).cvmResults, [0x3F, 0x00, 0x00])
        XCTAssertTrue(tvr.isSet(.iccDataMissing))
    }

    func testProcessingRestrictions() {
        var s = TLVStore()
        s[0x9F08] = [0x00, 0x02]
        s[0x9F09] = [0x00, 0x03]
        s[0x5F25] = [0x27, 0x01, 0x01]
        s[0x5F24] = [0x25, 0x12, 0x31]
        s[0x9F07] = [0xFF, 0x00]
        s[0x5F28] = [0x02, 0x76]
        s[0x9F1A] = [0x02, 0x76]
        s[0x9C] = [0x09]
        var tvr = TerminalVerificationResults()
        ProcessingRestrictions.apply(s, date: Harness.date, to: &tvr)
        XCTAssertTrue(tvr.isSet(.differentApplicationVersions))
        XCTAssertTrue(tvr.isSet(.applicationNotYetEffective))
        XCTAssertTrue(tvr.isSet(.expiredApplication))
        XCTAssertTrue(tvr.isSet(.serviceNotAllowed), "cashback not allowed by the AUC")
    }

    func testVisaIADAndExceptionFileFormat() throws {
        let iad = try XCTUnwrap(VisaIssuerApplicationData([UInt8](hex: "06011203A02000")!))
        XCTAssertEqual(iad.cryptogramVersion, 0x12)
        XCTAssertEqual(iad.firstCryptogramKind, .arqc)
        let apple = try XCTUnwrap(
            VisaIssuerApplicationData([UInt8](hex: "1F4A6331A0000000001003027300000000400000000000000000000000000000")!)
        )
        XCTAssertEqual(apple.format, .vcps32)
        XCTAssertNil(VisaIssuerApplicationData([0x06, 0x01]))
        XCTAssertNil(VisaIssuerApplicationData([0x06, 0x01, 0x12, 0x09, 0x00, 0x00, 0x00]), "CVR length past the end")

        let salt = [UInt8](repeating: 0x11, count: 16)
        let line = Hex.encode(ExceptionFile.hash(pan: "4761739001010119", salt: salt))
        let ef = try ExceptionFile(text: "# hot list\nsalt \(Hex.encode(salt))\n\(line) stolen\n")
        XCTAssertTrue(ef.contains(pan: "4761739001010119"))
        XCTAssertFalse(ef.contains(pan: "4761739001010127"))
        XCTAssertThrowsError(try ExceptionFile(text: "\(line)\n"), "no salt")
        XCTAssertThrowsError(try ExceptionFile(text: "salt \(Hex.encode(salt))\n1234\n"))
    }
}
