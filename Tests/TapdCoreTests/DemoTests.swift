// Runs the real `tapd demo` binary (built next to this test bundle): every sale ends as expected through the
// acquirer simulator over mutual TLS, and no full PAN or track 2 appears in its output.

import Foundation
import Simulators
import TestSupport
import XCTest

final class DemoTests: XCTestCase {
    func testDemoRunsEndToEndAndMasksCardData() throws {
        let tapd = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "tapd"
        ).path
        guard FileManager.default.isExecutableFile(atPath: tapd) else { return XCTFail("tapd not built at \(tapd)") }
        let (status, text) = try Tool.run(tapd, ["demo"])
        let pans = [
            CardProfile.visaCard().pan, CardProfile.mastercardCard().pan, CardProfile.visaPhone().pan,
            CardProfile.mastercardPhone().pan,
        ]
        let leaked = pans.filter { text.contains($0) }
        XCTAssertTrue(leaked.isEmpty, "\(leaked.count) full PANs in the demo output")
        XCTAssertEqual(status, 0, text.count < 4000 && leaked.isEmpty ? text : "demo failed")
        XCTAssertTrue(text.contains("Demo complete: every sale ended as expected."))
        XCTAssertTrue(text.contains("answered 51 (declined)"))
        XCTAssertTrue(text.contains("POST /v1/transactions → 201"), "the demo's sales go through the API socket")
        XCTAssertTrue(text.contains("reversal 0400 with the same STAN and the original data (DE 90) delivered"))
        XCTAssertTrue(text.contains("advice 0220 for the offline approval delivered"))
        XCTAssertTrue(text.contains("Store-and-forward queue: 0 pending, 0 quarantined."))
    }
}
