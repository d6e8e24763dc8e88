// The UnionPay, American Express, JCB and Discover virtual cards and phones through Entry Point and their kernels, in
// process: outcome, ODA, CVM, and every cryptogram checked by the test issuer (the same code the acquirer simulator
// verifies with) — online, offline with ODA, on-device CVM after "see phone", and the negatives (tampered signature,
// expired certificate, unknown CA key) that must never be approved offline.

import APDU
import EMVCrypto
import Simulators
import TLV
import XCTest

@testable import EMVKernel

final class SchemeEndToEndTests: XCTestCase {
    static let newSchemes: [CardProfile.Scheme] = [.unionpay, .amex, .jcb, .discover]

    /// A terminal whose floor limit for `scheme` is 100.00, so a small amount may be approved offline.
    func offlineConfig() -> TerminalConfiguration {
        var c = TerminalConfiguration()
        c.applications = c.applications.map { a in
            var a = a
            if a.kernel != .visa && a.kernel != .mastercard { a.contactlessFloorLimit = 10_000 }
            return a
        }
        return c
    }

    func assertIssuerVerifies(_ o: Outcome, file: StaticString = #filePath, line: UInt = #line) throws {
        guard case .verified = try TestIssuer.verify(o.transactionData) else {
            return XCTFail("the test issuer did not verify the cryptogram: \(o.reason ?? "")", file: file, line: line)
        }
    }

    func testEveryNewSchemeGoesOnlineWithACryptogramTheIssuerVerifies() async throws {
        for scheme in Self.newSchemes {
            let p = CardProfile.card(scheme)
            let r = try await Harness.tap(try VirtualCard(p), amount: 1234)
            let o = r.outcome
            XCTAssertEqual(o.kind, .onlineRequest, "\(p.name): \(o.reason ?? "")")
            XCTAssertEqual(o.kernel, KernelID(rawValue: scheme.kernelID)?.name, p.name)
            XCTAssertEqual(o.cryptogram?.kind, .arqc, p.name)
            XCTAssertEqual(o.cvm, .noCVM, p.name)
            try assertIssuerVerifies(o)
            // A changed amount no longer verifies: the cryptogram covers it.
            var forged = o
            forged.transactionData[0x9F02] = [0, 0, 0, 0, 0x99, 0x99]
            XCTAssertEqual(try TestIssuer.verify(forged.transactionData), .mismatch, p.name)
        }
    }

    func testEveryNewSchemeApprovesOfflineOnlyWithODA() async throws {
        for scheme in Self.newSchemes {
            let p = CardProfile.card(scheme, offline: true)
            let r = try await Harness.tap(try VirtualCard(p), amount: 1234, config: offlineConfig())
            let o = r.outcome
            XCTAssertEqual(o.kind, .approved, "\(p.name): \(o.reason ?? "")")
            XCTAssertEqual(o.cryptogram?.kind, .tc, p.name)
            XCTAssertNotNil(o.oda, p.name)
            XCTAssertNil(o.oda?.failure, p.name)
            XCTAssertEqual(o.oda?.method, scheme == .unionpay ? .fdda : .cda, p.name)
        }
    }

    func testNegativeCardsAreNeverApprovedOffline() async throws {
        for scheme in Self.newSchemes {
            for fault: CardProfile.Fault in [.tamperedSignature, .expiredCertificate, .unknownCAKey] {
                let p = CardProfile.faulty(.card(scheme, offline: true), fault)
                let o = try await Harness.tap(try VirtualCard(p), amount: 1234, config: offlineConfig()).outcome
                XCTAssertNotEqual(o.kind, .approved, "\(p.name): \(o.reason ?? "")")
                XCTAssertNotEqual(o.oda?.failure, nil, "\(p.name): ODA must have failed")
            }
        }
    }

    func testPhonesAskToSeePhoneThenVerifyOnTheDevice() async throws {
        for scheme in Self.newSchemes {
            let phone = try VirtualCard(.phone(scheme))
            let first = try await Harness.tap(phone, amount: 9000)
            XCTAssertEqual(first.outcome.kind, .seePhone, "\(scheme): \(first.outcome.reason ?? "")")
            XCTAssertEqual(first.outcome.start, .b, "\(scheme)")
            XCTAssertEqual(first.outcome.uiRequestOnOutcome?.message, .seePhone, "\(scheme)")
            let second = try await Harness.tap(phone, amount: 9000, restarted: true)
            XCTAssertEqual(second.outcome.kind, .onlineRequest, "\(scheme): \(second.outcome.reason ?? "")")
            XCTAssertEqual(second.outcome.cvm, .confirmationCodeVerified, "\(scheme)")
            try assertIssuerVerifies(second.outcome)
        }
    }

    func testAboveTheCVMLimitPlasticCardsAskForASignature() async throws {
        for scheme in Self.newSchemes {
            let o = try await Harness.tap(try VirtualCard(.card(scheme)), amount: 9000).outcome
            XCTAssertEqual(o.kind, .onlineRequest, "\(scheme): \(o.reason ?? "")")
            XCTAssertEqual(o.cvm, .signature, "\(scheme)")
            XCTAssertTrue(o.receipt, "\(scheme)")
        }
    }

    func testUnionPaySMCardUsesSM2AndSM4() async throws {
        let online = try await Harness.tap(try VirtualCard(.unionPaySMCard()), amount: 1234).outcome
        XCTAssertEqual(online.kind, .onlineRequest, online.reason ?? "")
        XCTAssertEqual(PBOCIssuerApplicationData(online.transactionData[0x9F10] ?? [])?.usesSM4, true)
        XCTAssertEqual(online.transactionData[0x9F27], [0x80], "the CID the IAD implies goes to the acquirer")
        try assertIssuerVerifies(online)
        // The terminal offered the national algorithms in DF69.
        let offline = try await Harness.tap(
            try VirtualCard(.unionPaySMCard(offline: true)), amount: 1234, config: offlineConfig())
        XCTAssertEqual(offline.outcome.kind, .approved, offline.outcome.reason ?? "")
        XCTAssertEqual(offline.outcome.oda?.method, .fdda)
        XCTAssertNil(offline.outcome.oda?.failure)
        let gpo = try XCTUnwrap(offline.commands.first { $0[1] == 0xA8 })
        XCTAssertEqual(gpo.suffix(2).first, 0x01, "DF69 = 01 ends the PDOL data (before Le)")
        let tampered = try await Harness.tap(
            try VirtualCard(.faulty(.unionPaySMCard(offline: true), .tamperedSignature)), amount: 1234,
            config: offlineConfig())
        XCTAssertNotEqual(tampered.outcome.kind, .approved)
        XCTAssertEqual(tampered.outcome.oda?.failure, .signatureInvalid(.signedDynamicData))
    }

    func testRefundsOfEveryNewSchemeAreReadAndSentOnline() async throws {
        for scheme in Self.newSchemes {
            let ep = EntryPoint(configuration: TerminalConfiguration(), keys: try Harness.keys(), risk: RiskManager())
            let txn = TransactionParameters(amount: 1234, type: .refund, date: Harness.date)
            let pre = try XCTUnwrap(ep.preProcess(txn))
            let o = await ep.process(card: try VirtualCard(.card(scheme)), transaction: txn, combinations: pre)
            XCTAssertEqual(o.kind, .endApplication, "\(scheme): \(o.reason ?? "")")
            XCTAssertFalse(o.dataRecordTags.isEmpty, "\(scheme): the refund's Data Record")
            XCTAssertEqual(o.cryptogram?.kind, .aac, "\(scheme)")
        }
    }
}
