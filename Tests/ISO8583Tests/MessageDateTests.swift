// DE 7 and DE 37 dates from the C library's time functions (Foundation's TimeZone would bring up ICU).

import Foundation
import XCTest

@testable import ISO8583

final class MessageDateTests: XCTestCase {
    func testTransmissionDateAndRRN() {
        let d = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18 11:06:40 UTC, day 322
        XCTAssertEqual(Messages.retrievalReferenceNumber(stan: "000042", at: d), "6322" + "11" + "000042")
        let p = Messages.parts(d, utc: true)
        XCTAssertEqual([p.year, p.month, p.day, p.hour, p.minute, p.second], [2026, 11, 18, 11, 6, 40])
        let newYear = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01 00:00:00 UTC
        XCTAssertEqual(Messages.retrievalReferenceNumber(stan: "000001", at: newYear), "600100000001")
    }
}
