// Reader command builders and parsers, with answers recorded from real readers (reader-stack notes §3.2–3.7) and
// hostile ones.
import XCTest

@testable import Readers

final class ReaderCommandsTests: XCTestCase {
    func testFeaturesAndTLVProperties() {
        // FEATURE_GET_TLV_PROPERTIES (0x12) at SCARD_CTL_CODE(3600 + 0x12), then a truncated entry.
        let features: [UInt8] = [
            0x12, 0x04, 0x42, 0x33, 0x00, 0x12, 0x0A, 0x04, 0x42, 0x00, 0x00, 0x0A, 0x13, 0x04, 0x42,
        ]
        XCTAssertEqual(ReaderCommands.parseFeatures(features), [0x12: 0x4233_0012, 0x0A: 0x4200_000A])
        // wLcdLayout (01, 2 bytes), dwMaxAPDUDataSize (0A, 4 bytes: 0x10000), then a length running past the end.
        let props: [UInt8] = [0x01, 0x02, 0x00, 0x00, 0x0A, 0x04, 0x00, 0x00, 0x01, 0x00, 0x0B, 0x09, 0x01]
        XCTAssertEqual(ReaderCommands.parseTLVProperties(props), [0x01: 0, 0x0A: 0x10000])
        XCTAssertEqual(ReaderCommands.parseTLVProperties([]), [:])
        XCTAssertEqual(PCSCControlCode.getFeatureRequest, 0x4200_0D48)
        XCTAssertEqual(PCSCControlCode.ccidEscape, 0x4200_0001)
    }

    func testFirmwareAnswers() {
        XCTAssertEqual(ReaderCommands.firmwareText(Array("ACR122U207".utf8)), "ACR122U207")
        XCTAssertEqual(ReaderCommands.firmwareText(Array("ACR122U215".utf8) + [0x90, 0x00]), "ACR122U215")
        XCTAssertEqual(ReaderCommands.firmwareText([0xE1, 0, 0, 0, 13] + Array("ACR1252U_V107".utf8)), "ACR1252U_V107")
        XCTAssertNil(ReaderCommands.firmwareText([0x63, 0x00, 0x01]))
        XCTAssertNil(ReaderCommands.firmwareText([]))

        XCTAssertEqual(
            ReaderCommands.parsePN53xFirmware([0xD5, 0x03, 0x32, 0x01, 0x06, 0x07])?.description, "PN532 v1.6")
        XCTAssertEqual(
            ReaderCommands.parsePN53xFirmware([0xD5, 0x03, 0x33, 0x02, 0x07, 0x07])?.description, "PN533 v2.7")
        XCTAssertEqual(
            ReaderCommands.parsePN53xFirmware([0xD5, 0x03, 0x33, 0x01, 0x30, 0x07])?.description,
            "Sony RC-S360 (PN533 core) rev 48")
        let acr = ReaderCommands.parsePN53xFirmware([0xD5, 0x03, 0x32, 0x01, 0x04, 0x05])
        XCTAssertEqual(acr?.typeA, true)
        XCTAssertEqual(acr?.typeB, false)
        XCTAssertNil(ReaderCommands.parsePN53xFirmware([0xD5, 0x03, 0x32]))
        XCTAssertNil(ReaderCommands.parsePN53xFirmware([0xD5, 0x05, 0x32, 0x01, 0x06, 0x07]))
    }

    func testVendorCommands() {
        XCTAssertEqual(ReaderCommands.acr122uFirmware, [0xFF, 0x00, 0x48, 0x00, 0x00])
        // Green on, red off, no blinking, one beep with the first blink state.
        XCTAssertEqual(
            ReaderCommands.acr122uLEDAndBuzzer(
                redOn: false, greenOn: true, onTenths: 2, offTenths: 0, repetitions: 1, buzzer: 1),
            [0xFF, 0x00, 0x40, 0x0E, 0x04, 0x02, 0x00, 0x01, 0x01])
        XCTAssertEqual(ReaderCommands.acr1252Firmware, [0xE0, 0x00, 0x00, 0x18, 0x00])
        XCTAssertEqual(ReaderCommands.acr1252Buzzer(tenMilliseconds: 10), [0xE0, 0x00, 0x00, 0x28, 0x01, 0x0A])
        XCTAssertEqual(ReaderCommands.acr1252LED(red: true, green: false), [0xE0, 0x00, 0x00, 0x29, 0x01, 0x02])
    }
}
