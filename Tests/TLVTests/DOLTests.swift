import XCTest

@testable import TLV

final class DOLTests: XCTestCase {
    func testParseAndTotalLength() throws {
        let dol = try DataObjectList(parsing: [UInt8](hex: "9F66049F02069F37045F2A029A039C01DF811701")!)
        XCTAssertEqual(dol.entries.map(\.tag), [0x9F66, 0x9F02, 0x9F37, 0x5F2A, 0x9A, 0x9C, 0xDF8117])
        XCTAssertEqual(dol.totalLength, 4 + 6 + 4 + 2 + 3 + 1 + 1)
        XCTAssertEqual(dol.encoded, [UInt8](hex: "9F66049F02069F37045F2A029A039C01DF811701")!)
    }

    /// Book 3 §5.4: the padding and truncation rules by format.
    func testBuildRules() throws {
        let dol = try DataObjectList(
            parsing: [UInt8](
                hex: "9F0208" + "9F0204" + "5A0A" + "5A04" + "9F4E06" + "9F4E02" + "9F3704" + "7003" + "DF7F02")!)
        var store = TLVStore()
        store[0x9F02] = [UInt8](hex: "000000001234")!  // n: pad left / keep rightmost
        store[0x5A] = [UInt8](hex: "4761739001010119")!  // cn: pad right with F / keep leftmost
        store[0x9F4E] = Array("SHOP".utf8)  // ans: pad right with 00 / keep leftmost
        store[0x70] = [0x5A, 0x00]  // constructed → zeros
        let data = dol.build { store[$0] }
        XCTAssertEqual(
            data.hex,
            "0000000000001234" + "00001234" + "4761739001010119FFFF" + "47617390" + "53484F500000" + "5348"
                + "00000000" + "000000" + "0000")
        XCTAssertEqual(data.count, dol.totalLength)
    }

    func testMalformedDOLsAreRejected() {
        XCTAssertThrowsError(try DataObjectList(parsing: [0x9F]))
        XCTAssertThrowsError(try DataObjectList(parsing: [0x9F, 0x02]))
        // A hostile DOL asking for many large objects.
        var huge: [UInt8] = []
        for _ in 0..<10 { huge += [0x9F, 0x4E, 0x81, 0xFF] }
        XCTAssertThrowsError(try DataObjectList(parsing: huge)) { e in
            XCTAssertTrue("\(e)".contains("exceeds"))
        }
    }

    func testSplitRoundTrip() throws {
        let dol = try DataObjectList(parsing: [UInt8](hex: "9F02069F3704")!)
        let parts = try XCTUnwrap(dol.split([UInt8](hex: "00000000123401020304")!))
        XCTAssertEqual(parts.map(\.0), [0x9F02, 0x9F37])
        XCTAssertEqual(parts[1].1, [1, 2, 3, 4])
        XCTAssertNil(dol.split([1, 2, 3]))
    }

    func testBCD() {
        XCTAssertEqual(BCD.encode(1234, bytes: 6), [0, 0, 0, 0, 0x12, 0x34])
        XCTAssertNil(BCD.encode(1234, bytes: 1))
        XCTAssertEqual(BCD.decode([0x12, 0x34]), 1234)
        XCTAssertNil(BCD.decode([0x1A]))
        XCTAssertNil(BCD.decode([UInt8](repeating: 0x99, count: 11)), "overflow is refused")
        XCTAssertEqual(BCD.digits([0x47, 0x61, 0x7F]), "47617")
        XCTAssertEqual(BCD.packDigits("47617"), [0x47, 0x61, 0x7F])
    }
}
