// Every virtual card and phone through Entry Point and its kernel, in process: outcome, ODA result, CVM, the
// cryptogram recomputed independently with EMVCrypto, and the number of APDUs.

import APDU
import EMVCrypto
import Simulators
import TLV
import XCTest

@testable import EMVKernel

final class EndToEndTests: XCTestCase {
    let imk = [UInt8](hex: "0123456789ABCDEFFEDCBA9876543210")!

    /// Visa CVN 18, computed here from the outcome's data without the simulator's code.
    func visaARQC(_ o: Outcome, pan: String, psn: String = "01") throws -> [UInt8] {
        let d = o.transactionData
        let input = ([0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37, 0x82, 0x9F36, 0x9F10] as [Tag]).flatMap
        { d[$0]! }
        let mk = try KeyDerivation.iccMasterKeyOptionA(issuerMasterKey: imk, pan: pan, panSequenceNumber: psn)
        let sk = try KeyDerivation.commonSessionKey(masterKey: mk, diversification: d[0x9F36]! + [0, 0, 0, 0, 0, 0])
        return try MAC.retail(key: sk, data: input, padding: .method2)
    }

    /// Mastercard CVN 16 with the CVR from the IAD, computed here.
    func mastercardARQC(_ o: Outcome, pan: String) throws -> [UInt8] {
        let d = o.transactionData
        let cvr = Array(d[0x9F10]![2..<8])
        let input =
            ([0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37, 0x82, 0x9F36] as [Tag]).flatMap { d[$0]! } + cvr
        let mk = try KeyDerivation.iccMasterKeyOptionA(issuerMasterKey: imk, pan: pan, panSequenceNumber: "01")
        let sk = try KeyDerivation.commonSessionKey(masterKey: mk, diversification: d[0x9F36]! + [0, 0] + d[0x9F37]!)
        return try MAC.retail(key: sk, data: input, padding: .method2)
    }

    func testVisaCardOnline() async throws {
        let p = CardProfile.visaCard()
        let r = try await Harness.tap(try VirtualCard(p), amount: 1234)
        let o = r.outcome
        XCTAssertEqual(o.kind, .onlineRequest)
        XCTAssertEqual(o.kernel, "C-3")
        XCTAssertEqual(o.aid, [UInt8](hex: "A0000000031010"))
        XCTAssertEqual(o.maskedPAN, "476173******0119")
        XCTAssertEqual(o.cvm, .noCVM)
        XCTAssertEqual(o.cryptogram?.kind, .arqc)
        XCTAssertEqual(o.cryptogram?.value, try visaARQC(o, pan: p.pan))
        XCTAssertTrue(o.tvr!.isSet(.odaNotPerformed), "no ODA for an online qVSDC unless the TTQ asks for it")
        XCTAssertEqual(r.commands.count, 6)
        XCTAssertEqual(o.uiRequestOnOutcome?.message, .authorising)
        // Above the CVM required limit: the card asks for a signature, which this reader supports.
        let big = try await Harness.tap(try VirtualCard(p), amount: 9000)
        XCTAssertEqual(big.outcome.kind, .onlineRequest)
        XCTAssertEqual(big.outcome.cvm, .signature)
        XCTAssertTrue(big.outcome.receipt)
    }

    /// A Visa qVSDC online transaction without AFL is exactly SELECT PPSE, SELECT AID, GPO.
    func testVisaWithoutRecordsIsThreeAPDUs() async throws {
        let p = CardProfile.visaCardNoRecords()
        let r = try await Harness.tap(try VirtualCard(p), amount: 500)
        XCTAssertEqual(r.outcome.kind, .onlineRequest)
        XCTAssertEqual(r.commands.map { $0[1] }, [0xA4, 0xA4, 0xA8])
        XCTAssertEqual(r.outcome.maskedPAN, "476173******0127", "PAN from track 2 in the GPO response")
        XCTAssertEqual(r.outcome.cryptogram?.value, try visaARQC(r.outcome, pan: p.pan))
    }

    func offlineVisaConfig(floor: UInt64 = 10_000) -> TerminalConfiguration {
        var c = TerminalConfiguration()
        c.applications = c.applications.map { a in
            var a = a
            if a.kernel == .visa { a.contactlessFloorLimit = floor }
            return a
        }
        return c
    }

    func testVisaCardOfflineApprovalWithFDDA() async throws {
        let r = try await Harness.tap(
            try VirtualCard(.visaCard(offline: true)), amount: 1234, config: offlineVisaConfig())
        let o = r.outcome
        XCTAssertEqual(o.kind, .approved, o.reason ?? "")
        XCTAssertEqual(o.cryptogram?.kind, .tc)
        XCTAssertEqual(o.oda?.method, .fdda)
        XCTAssertNil(o.oda?.failure)
        XCTAssertEqual(o.tvr?.bytes, [0, 0, 0, 0, 0])
        XCTAssertEqual(o.uiRequestOnOutcome?.message, .approved)
        // Above the floor limit the reader insists on going online, and the same card returns an ARQC.
        let online = try await Harness.tap(
            try VirtualCard(.visaCard(offline: true)), amount: 20_000, config: offlineVisaConfig())
        XCTAssertEqual(online.outcome.kind, .onlineRequest)
    }

    func testVisaPhoneSeePhoneThenSecondTap() async throws {
        let phone = try VirtualCard(.visaPhone())
        let first = try await Harness.tap(phone, amount: 9000)
        XCTAssertEqual(first.outcome.kind, .seePhone)
        XCTAssertEqual(first.outcome.start, .b)
        XCTAssertEqual(first.outcome.uiRequestOnOutcome?.message, .seePhone)
        XCTAssertEqual(first.outcome.uiRequestOnRestart?.message, .presentCard)
        let second = try await Harness.tap(phone, amount: 9000, restarted: true)
        XCTAssertEqual(second.outcome.kind, .onlineRequest)
        XCTAssertEqual(second.outcome.cvm, .confirmationCodeVerified)
        XCTAssertEqual(second.outcome.cryptogram?.value, try visaARQC(second.outcome, pan: CardProfile.visaPhone().pan))
        // The phone's PDOL asks for the merchant name and location: the terminal sent it.
        let gpo = try XCTUnwrap(second.commands.first { $0[1] == 0xA8 })
        XCTAssertTrue(Hex.encode(gpo).contains(Hex.encode(Array("tapd demo shop, Berl".utf8))))
    }

    func testMastercardCardWithCDAAndRelayResistance() async throws {
        let p = CardProfile.mastercardCard()
        let r = try await Harness.tap(try VirtualCard(p), amount: 1234)
        let o = r.outcome
        XCTAssertEqual(o.kind, .onlineRequest, o.reason ?? "")
        XCTAssertEqual(o.kernel, "C-2")
        XCTAssertEqual(o.oda?.method, .cda)
        XCTAssertNil(o.oda?.failure)
        XCTAssertEqual(o.cryptogram?.kind, .arqc)
        XCTAssertEqual(
            o.cryptogram?.value, try mastercardARQC(o, pan: p.pan), "the cryptogram taken from the CDA signature")
        XCTAssertEqual(
            o.transactionData[0x9F37], o.transactionData[0xDF8301], "with RRP the UN is the terminal's entropy")
        XCTAssertEqual(o.tvr!.bytes[4] & 0x03, 0x02, "relay resistance performed")
        XCTAssertTrue(o.tvr!.isSet(.exceedsFloorLimit))
        XCTAssertEqual(o.cvm, .noCVM)
        XCTAssertEqual(o.cvmResults, [0x1F, 0x03, 0x02])
        XCTAssertEqual(r.commands.map { $0[1] }, [0xA4, 0xA4, 0xA8, 0xEA, 0xB2, 0xB2, 0xB2, 0xAE])
        XCTAssertEqual(r.commands.last?[2], 0x90, "GENERATE AC asks for an ARQC with CDA")
        // Above the CVM limit with no PIN pad: online PIN is skipped (b7), signature is chosen.
        let big = try await Harness.tap(try VirtualCard(p), amount: 9000)
        XCTAssertEqual(big.outcome.cvm, .signature)
        XCTAssertEqual(big.outcome.cvmResults, [0x1E, 0x03, 0x00])
    }

    func testMastercardPhoneOnDeviceCVMAndSeePhone() async throws {
        let r = try await Harness.tap(try VirtualCard(.mastercardPhone()), amount: 9000)
        XCTAssertEqual(r.outcome.kind, .onlineRequest)
        XCTAssertEqual(r.outcome.cvm, .confirmationCodeVerified)
        XCTAssertEqual(r.outcome.cvmResults, [0x01, 0x00, 0x02])
        XCTAssertNil(r.outcome.oda?.failure)

        var p = CardProfile.mastercardPhone()
        p.seePhoneOnFirstTap = true
        let phone = try VirtualCard(p)
        let first = try await Harness.tap(phone, amount: 9000)
        XCTAssertEqual(first.outcome.kind, .seePhone)
        XCTAssertEqual(first.outcome.start, .b)
        let second = try await Harness.tap(phone, amount: 9000, restarted: true)
        XCTAssertEqual(second.outcome.kind, .onlineRequest)
    }

    /// What the acquirer will carry (DE 55 data) lets the issuer verify the ARQC; change the amount and it fails.
    func testIssuerVerifiesTheOnlineData() async throws {
        for p in [CardProfile.visaCard(), .visaCardNoRecords(), .mastercardCard(), .mastercardPhone()] {
            let o = try await Harness.tap(try VirtualCard(p), amount: 4321).outcome
            XCTAssertEqual(o.kind, .onlineRequest, p.name)
            guard case .verified(let arpc) = try TestIssuer.verify(o.transactionData) else { return XCTFail(p.name) }
            XCTAssertFalse(arpc.isEmpty)
            var altered = o.transactionData
            altered[0x9F02] = BCD.encode(1, bytes: 6)
            XCTAssertEqual(try TestIssuer.verify(altered), .mismatch, p.name)
        }
    }

    // MARK: Negative personas

    func testExpiredCardIsNotApprovedOffline() async throws {
        let r = try await Harness.tap(try VirtualCard(.expiredCard()), amount: 1234, config: offlineVisaConfig())
        XCTAssertEqual(r.outcome.kind, .declined)
        XCTAssertEqual(r.outcome.reason, "application expired (or no expiry date)")
        XCTAssertTrue(r.outcome.tvr!.isSet(.expiredApplication))
    }

    func testRevokedIssuerKeyFailsCDA() async throws {
        let keys = try Harness.keys(revoking: ["A000000004 F0 0BAD01"])
        let r = try await Harness.tap(try VirtualCard(.revokedIssuerKey()), amount: 1234, keys: keys)
        // Book C-2 S910.7: CDA failed → End Application, L2 CAM FAILED.
        XCTAssertEqual(r.outcome.kind, .endApplication)
        XCTAssertEqual(r.outcome.errorIndication.l2, .camFailed)
        XCTAssertEqual(r.outcome.oda?.failure, .revoked(serial: [0x0B, 0xAD, 0x01]))
        XCTAssertTrue(r.outcome.tvr!.isSet(.cdaFailed))
    }

    func testTamperedSignature() async throws {
        // Visa: fDDA fails; the card's CTQ asks to go online when ODA fails.
        let v = try await Harness.tap(try VirtualCard(.tamperedSignature()), amount: 1234, config: offlineVisaConfig())
        XCTAssertEqual(v.outcome.kind, .onlineRequest)
        XCTAssertNotNil(v.outcome.oda?.failure)
        XCTAssertTrue(v.outcome.tvr!.isSet(.ddaFailed))
        // Mastercard: CDA fails after GENERATE AC → End Application, L2 CAM FAILED (Book C-2 S910.7).
        var p = CardProfile.mastercardCard()
        p.fault = .tamperedSignature
        let m = try await Harness.tap(try VirtualCard(p), amount: 1234)
        XCTAssertEqual(m.outcome.kind, .endApplication)
        XCTAssertEqual(m.outcome.errorIndication.l2, .camFailed)
        XCTAssertNil(m.outcome.cryptogram)
        XCTAssertTrue(m.outcome.tvr!.isSet(.cdaFailed))
    }

    func testCardThatStopsAnsweringGivesTryAgain() async throws {
        let r = try await Harness.tap(try VirtualCard(.stopsAnswering()), amount: 1234)
        XCTAssertEqual(r.outcome.kind, .tryAgain)
        XCTAssertEqual(r.outcome.start, .b)
        XCTAssertEqual(r.outcome.uiRequestOnOutcome?.message, .presentCardAgain)
    }

    func testMalformedTLVEndsTheApplication() async throws {
        let r = try await Harness.tap(try VirtualCard(.malformedTLV()), amount: 1234)
        XCTAssertEqual(r.outcome.kind, .endApplication)
        XCTAssertTrue(r.outcome.reason!.contains("GPO response"), r.outcome.reason!)
    }

    // MARK: Risk management

    func testExceptionFileAndVelocity() async throws {
        let p = CardProfile.visaCard(offline: true)
        let ef = ExceptionFile(salt: [UInt8](repeating: 7, count: 16), pans: [p.pan])
        let risk = RiskManager(exceptionFile: ef, maxTapsPerHour: 2)
        let r = try await Harness.tap(try VirtualCard(p), amount: 1234, config: offlineVisaConfig(), risk: risk)
        XCTAssertEqual(r.outcome.kind, .declined)
        XCTAssertTrue(r.outcome.tvr!.isSet(.cardOnExceptionFile))
        _ = try await Harness.tap(try VirtualCard(p), amount: 1234, config: offlineVisaConfig(), risk: risk)
        let third = try await Harness.tap(try VirtualCard(p), amount: 1234, config: offlineVisaConfig(), risk: risk)
        XCTAssertEqual(third.outcome.alerts.first?.kind, .velocity)
        XCTAssertTrue(third.outcome.alerts.first!.message.contains("476173******0119"))
        XCTAssertFalse(third.outcome.alerts.first!.message.contains(p.pan))
    }
}
