// A real tap with the virtual cards through the real kernels, mapped to the acquirer's card data; then the same
// outcome with hostile data records. (Assertions compare card data with == so a failure never prints it.)

import EMVKernel
import ISO8583
import Simulators
import TLV
import XCTest

@testable import TapdCore

final class OnlineRequestTests: XCTestCase {
    func tap(_ profile: CardProfile, amount: UInt64) async throws -> Outcome {
        var keys = try CAKeyStore.bundled(includeTestKeys: true)
        try VirtualCard.pki(for: profile.scheme).register(in: &keys)
        let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
        let txn = TransactionParameters(amount: amount, date: EMVDate(year: 2026, month: 11, day: 26)!)
        return await ep.process(
            card: try VirtualCard(profile), transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)))
    }

    func testVisaAndMastercardOutcomesMapToTheRequest() async throws {
        for (profile, amount) in [
            (CardProfile.visaCard(), UInt64(1234)), (.mastercardCard(), 9000), (.mastercardPhone(), 4200),
        ] {
            let o = try await tap(profile, amount: amount)
            XCTAssertEqual(o.kind, .onlineRequest)
            let c = try OnlineRequest.cardTransaction(from: o)
            XCTAssertTrue(c.pan == CardIdentity.pan(from: o.transactionData))
            XCTAssertEqual(c.amount, amount)
            XCTAssertEqual(c.currencyCode, 978)
            if let t2 = c.track2 {
                XCTAssertTrue(t2.hasPrefix(c.pan! + "D"), "track 2 starts with the PAN and a separator")
            }
            XCTAssertEqual(c.expiry?.count, 4)
            let de55 = try TLVParser.parse(c.iccData)
            let tags = Set(de55.map(\.tag))
            for t: Tag in [0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A] {
                XCTAssertTrue(tags.contains(t), "\(t)")
            }
            XCTAssertFalse(
                tags.contains(0x5A) || tags.contains(0x57), "PAN and track 2 go in DE 2 and 35, never in DE 55")
        }
    }

    func testHostileDataRecordsAreRefusedOrLeftOut() async throws {
        let good = try await tap(.visaCard(), amount: 1234)
        var o = good
        o.transactionData[0x9F02] = nil
        XCTAssertThrowsError(try OnlineRequest.cardTransaction(from: o)) { XCTAssertTrue("\($0)".contains("9F02")) }
        o = good
        o.transactionData[0x9F02] = [0x00, 0x00, 0x00, 0x00, 0x12, 0x3A]
        XCTAssertThrowsError(try OnlineRequest.cardTransaction(from: o))
        o = good
        o.transactionData[0x5F2A] = [0x09]
        XCTAssertThrowsError(try OnlineRequest.cardTransaction(from: o)) { XCTAssertTrue("\($0)".contains("5F2A")) }
        o = good
        o.transactionData[0x5A] = nil
        o.transactionData[0x57] = nil
        o.transactionData[0x9F6B] = nil
        XCTAssertThrowsError(try OnlineRequest.cardTransaction(from: o)) { XCTAssertTrue("\($0)".contains("PAN")) }

        XCTAssertNil(OnlineRequest.track2([0x47, 0x61, 0xDD, 0x28]), "two separators")
        XCTAssertNil(OnlineRequest.track2([0x47, 0x6A, 0xD2, 0x81]), "a non-digit")
        XCTAssertNil(OnlineRequest.track2([UInt8](repeating: 0x11, count: 20)), "longer than 19 bytes")
        XCTAssertEqual(OnlineRequest.track2([0x47, 0x61, 0xD2, 0x81, 0x2F]), "4761D2812")
        XCTAssertNil(OnlineRequest.expiry([0x28, 0x13, 0x31]), "month 13")
        XCTAssertNil(OnlineRequest.expiry([0x28, 0x12]), "too short")
        XCTAssertEqual(OnlineRequest.expiry([0x28, 0x12, 0x31]), "2812")
        XCTAssertNil(OnlineRequest.sequence([0x0A]))
        XCTAssertNil(OnlineRequest.sequence([0x01, 0x02]))
        XCTAssertEqual(OnlineRequest.sequence([0x01]), "001")
    }
}
