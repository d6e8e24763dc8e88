// Receipts from journal records: the amount by the currency's own exponent, the card masked per copy, the CVM's
// lines, and text that never runs past the printer's width nor cuts a character in half.

import Foundation
import XCTest

@testable import Journal
@testable import TapdCore

final class ReceiptTests: XCTestCase {
    func record(
        currency: Int = 978, amount: Int64 = 1234, cvm: String? = "no_cvm", state: SaleState = .approved,
        kind: TransactionKind = .sale
    ) -> SaleRecord {
        SaleRecord(
            id: "5bbb0ff8-0000-4000-8000-000000000001", idempotencyKey: "k", state: state, kind: kind, amount: amount,
            approvedAmount: nil, currency: currency, maskedPAN: "476173******0119", mti: "0200", stan: "000001",
            rrn: "634023000001", responseCode: "00", approvalCode: "000001", reason: nil, reader: "r", scheme: "visa",
            cvm: cvm, message: "Approved", kernelOutput: nil, createdAt: Date(timeIntervalSince1970: 1_765_065_365),
            updatedAt: Date(timeIntervalSince1970: 1_765_065_366), followUps: [])
    }

    func receipt(_ r: SaleRecord, copy: Receipt.Copy = .customer, width: Int = 32, name: String = "Shop") -> Receipt {
        var m = MerchantSettings()
        m.name = name
        m.location = "Street 1"
        return Receipt(r, copy: copy, width: width, merchant: m, terminalID: "TAPD0001", merchantID: "TAPD00000000001")
    }

    func testAmountsFollowTheCurrencysExponent() {
        XCTAssertEqual(Receipt.money(1234, currency: 978), "12.34 EUR")
        XCTAssertEqual(Receipt.money(1200, currency: 392), "1200 JPY", "yen have no minor unit")
        XCTAssertEqual(Receipt.money(1234, currency: 48), "1.234 BHD", "Bahraini dinar: three")
        XCTAssertEqual(Receipt.money(5, currency: 48), "0.005 BHD")
        XCTAssertEqual(Receipt.amountDigits(7, exponent: 2), "0.07")
        XCTAssertEqual(Receipt.amountDigits(-700, exponent: 2), "-7.00")
        XCTAssertTrue(receipt(record(currency: 392, amount: 1200)).text.contains("1200 JPY"))
    }

    func testTheCustomersCopyShowsTheLastFourDigitsOnly() {
        XCTAssertEqual(receipt(record(), copy: .customer).pan, "**** 0119")
        XCTAssertEqual(receipt(record(), copy: .merchant).pan, "476173******0119")
        XCTAssertTrue(receipt(record(), copy: .customer).text.contains("CUSTOMER COPY"))
    }

    func testSignatureLineOnTheMerchantsCopyAndVerifiedOnDevice() {
        let signed = receipt(record(cvm: "signature"), copy: .merchant)
        XCTAssertTrue(signed.signatureLine)
        XCTAssertTrue(signed.text.contains("Cardholder signature"))
        XCTAssertFalse(receipt(record(cvm: "signature"), copy: .customer).signatureLine)
        let phone = receipt(record(cvm: "on_device_cvm"))
        XCTAssertEqual(phone.cvm, "verified on device")
        XCTAssertTrue(phone.text.contains("Cardholder verified on device"))
        XCTAssertFalse(receipt(record(cvm: "on_device_cvm", state: .declined)).text.contains("verified on device"))
    }

    func testLinesFitTheWidthAndMultiByteTextIsNeverCut() {
        let name = "Café Ünïcode ☕ 東京の店 with a name far too long for any thermal printer at all"
        for width in [32, 42, 48] {
            let r = receipt(record(), width: width, name: name)
            for line in r.text.split(separator: "\n", omittingEmptySubsequences: false) {
                XCTAssertLessThanOrEqual(line.count, width, "\(line)")
            }
            XCTAssertTrue(r.text.contains("Café Ünïcode ☕"), r.text)
            XCTAssertTrue(r.text.contains("…"), "a name too long ends in an ellipsis")
            // Valid UTF-8 all through: the text survives a round trip through its bytes.
            XCTAssertEqual(String(decoding: Array(r.text.utf8), as: UTF8.self), r.text)
        }
    }

    func testResultsAndTypesInWords() {
        XCTAssertEqual(receipt(record(kind: .refund)).transactionType, "REFUND")
        XCTAssertEqual(receipt(record(kind: .refund)).result, "REFUND ACCEPTED")
        XCTAssertEqual(receipt(record(state: .declined)).result, "DECLINED")
        XCTAssertEqual(receipt(record(state: .voided, kind: .preauth)).result, "RELEASED")
        var completed = record(state: .completed, kind: .preauth)
        completed.completedAmount = 16_250
        let c = receipt(completed)
        XCTAssertEqual(c.transactionType, "COMPLETION")
        XCTAssertEqual(c.amountText, "162.50 EUR")
    }
}

/// Dates from the API's query parameters and request bodies: malformed text is nil, never a crash.
final class APIDateTests: XCTestCase {
    func testDaysAndTimesAndMalformedText() {
        XCTAssertNotNil(APIDate.localMidnight("2026-12-06"))
        XCTAssertNotNil(APIDate.localMidnight("2024-02-29"), "a leap day")
        for bad in ["2026-02-29", "2026-13-01", "2026-00-10", "0000-00-00", "2026-1-01", "２０２６-01-01", "", "--"] {
            XCTAssertNil(APIDate.localMidnight(bad), bad)
        }
        let z = APIDate.dateTime("2026-12-06T13:07:27Z")
        XCTAssertEqual(APIDate.dateTime("2026-12-06T14:07:27+01:00"), z)
        XCTAssertEqual(APIDate.dateTime("2026-12-06t13:07:27.5z")?.timeIntervalSince(z!), 0.5)
        for bad in [
            "2026-12-06T13:07:27", "2026-12-06T13:07:27+1:00", "2026-12-06T13:07:27.Z", "2026-12-06 13:07:27Z",
            "2026-12-06T13:07:27+01:00x", "2026-12-06T13:07:27+24:00", "2026-02-30T00:00:00Z", "T", "",
            String(repeating: "9", count: 40),
        ] {
            XCTAssertNil(APIDate.dateTime(bad), bad)
        }
    }
}
