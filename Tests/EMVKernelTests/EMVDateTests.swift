import Foundation
import XCTest

@testable import EMVKernel

final class EMVDateTests: XCTestCase {
    /// The C-library date (what the daemon uses for tag 9A) agrees with Foundation's UTC Gregorian calendar
    /// around year ends, leap days and through a whole year hour by hour.
    func testUTCDateFromSecondsMatchesFoundationCalendar() throws {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = try XCTUnwrap(TimeZone(identifier: "UTC"))
        var instants: [Int] = [
            0, 951_782_399, 951_782_400, 951_868_800, 1_709_164_800, 1_709_251_199, 1_735_689_599, 1_735_689_600,
            2_524_607_999,
        ]
        instants += stride(from: 1_767_225_600, to: 1_767_225_600 + 366 * 86_400, by: 3_600).map { $0 }
        for s in instants {
            let c = cal.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: TimeInterval(s)))
            XCTAssertEqual(EMVDate(utcSeconds: s), EMVDate(year: c.year!, month: c.month!, day: c.day!), "\(s)")
        }
        XCTAssertEqual(
            EMVDate(utcSeconds: 951_782_400)?.description, EMVDate(year: 2000, month: 2, day: 29)?.description)
        // Outside EMV's two-digit year window there is no date.
        XCTAssertNil(EMVDate(utcSeconds: 2_524_608_000))  // 2050-01-01
        XCTAssertNil(EMVDate(utcSeconds: -631_152_001))  // 1949-12-31
        XCTAssertNotNil(EMVDate.utcToday())
    }
}
