import XCTest

@testable import TLV

final class TLVParserTests: XCTestCase {
    func testMultiByteTagsLongLengthsAndNesting() throws {
        // 6F { 84 ..., A5 { BF0C { 61 { 4F ... } } } } with a long-form length inside.
        let aid = [UInt8](hex: "A0000000041010")!
        let inner = TLV(tag: 0x61, children: [TLV(tag: 0x4F, value: aid), TLV(tag: 0xDF8117, value: [0xE0])])
        let big = TLV(tag: 0x9F4B, value: [UInt8](repeating: 0xAB, count: 300))
        let root = TLV(
            tag: 0x6F,
            children: [
                TLV(tag: 0x84, value: aid), TLV(tag: 0xA5, children: [TLV(tag: 0xBF0C, children: [inner]), big]),
            ])
        let bytes = root.encoded
        let parsed = try TLVParser.parseOne(bytes)
        XCTAssertEqual(parsed, root)
        XCTAssertEqual(parsed.first(0x4F)?.bytes, aid)
        XCTAssertEqual(parsed.first(0xDF8117)?.bytes, [0xE0])
        XCTAssertEqual(parsed.first(0x9F4B)?.value.count, 300)
        XCTAssertEqual(parsed.encoded, bytes, "re-encoding is byte-identical")
        XCTAssertTrue(Tag(0xBF0C).isConstructed)
        XCTAssertEqual(Tag(0xDF8117).bytes, [0xDF, 0x81, 0x17])
        XCTAssertEqual(Tag(bytes: [0x9F, 0x02]), Tag(0x9F02))
        XCTAssertNil(Tag(bytes: [0x9F, 0x82]), "continuation bit set on the last byte")
    }

    func testLengthEncodings() throws {
        var out: [UInt8] = []
        TLV.appendLength(127, to: &out)
        XCTAssertEqual(out, [0x7F])
        out = []
        TLV.appendLength(128, to: &out)
        XCTAssertEqual(out, [0x81, 0x80])
        out = []
        TLV.appendLength(256, to: &out)
        XCTAssertEqual(out, [0x82, 0x01, 0x00])
        // Non-minimal long form is legal BER and accepted.
        XCTAssertEqual(try TLVParser.parseOne([0x5F, 0x2A, 0x81, 0x02, 0x09, 0x78]).bytes, [0x09, 0x78])
        XCTAssertEqual(try TLVParser.parseOne([0x9F, 0x36, 0x00]).bytes, [])
    }

    func testPaddingBetweenObjectsIsSkipped() throws {
        // Book 3 Annex B: 00 between objects; FF as ISO 7816-4 padding.
        let objs = try TLVParser.parse([0x00, 0x9F, 0x36, 0x02, 0x00, 0x2A, 0x00, 0xFF, 0x82, 0x02, 0x20, 0x00, 0x00])
        XCTAssertEqual(objs.map(\.tag), [0x9F36, 0x82])
    }

    func testStrictErrorsNameOffsetAndReason() {
        func fails(
            _ hex: String, _ reason: TLVError.Reason, offset: Int, file: StaticString = #filePath, line: UInt = #line
        ) {
            XCTAssertThrowsError(try TLVParser.parse([UInt8](hex: hex)!), file: file, line: line) { e in
                guard let e = e as? TLVError else { return XCTFail("\(e)", file: file, line: line) }
                XCTAssertEqual(e.reason, reason, file: file, line: line)
                XCTAssertEqual(e.offset, offset, file: file, line: line)
                XCTAssertFalse(e.description.isEmpty)
            }
        }
        fails("9F", .truncatedTag, offset: 0)
        fails("9F3602002A9F", .truncatedTag, offset: 5)
        fails("9F81818101", .tagTooLong, offset: 0)
        fails("9F36", .truncatedLength, offset: 2)
        fails("9F3681", .truncatedLength, offset: 2)
        fails("9F368102", .valueOverrun(declared: 2, available: 0), offset: 0)
        fails("9F3680", .indefiniteLength, offset: 2)
        fails("9F3684FFFFFFFF", .lengthFieldTooLong(4), offset: 2)
        fails("9F360500", .valueOverrun(declared: 5, available: 1), offset: 0)
        fails("7003" + "9F3605", .valueOverrun(declared: 5, available: 0), offset: 2)  // error inside a template
        // Nesting deeper than the bound.
        var deep: [UInt8] = [0x5A, 0x00]
        for _ in 0..<20 { deep = TLV(tag: 0x70, value: deep).encoded }
        XCTAssertThrowsError(try TLVParser.parse(deep)) { e in XCTAssertEqual((e as? TLVError)?.reason, .nestingTooDeep)
        }
        // More than one object where one is expected.
        XCTAssertThrowsError(try TLVParser.parseOne([0x82, 0x00, 0x84, 0x00]))
    }

    func testLenientParseKeepsGoingAndReports() {
        // A good object, then a template whose inner length overruns, then nothing more can be read.
        let bytes = [UInt8](hex: "9F36020042" + "7005" + "5A08476173")!
        let r = TLVParser.parseLenient(bytes)
        XCTAssertEqual(r.objects.first?.tag, 0x9F36)
        XCTAssertEqual(r.objects.count, 2)
        XCTAssertEqual(r.problems.count, 1)
        XCTAssertEqual(r.problems.first?.reason, .valueOverrun(declared: 8, available: 3))
        // Truncated outer value: kept with what arrived, reported.
        let r2 = TLVParser.parseLenient([UInt8](hex: "9F4B10AABB")!)
        XCTAssertEqual(r2.objects.first?.bytes, [0xAA, 0xBB])
        XCTAssertEqual(r2.problems.first?.reason, .valueOverrun(declared: 16, available: 2))
    }

    func testRawObjectsKeepReceivedEncoding() throws {
        let bytes = [UInt8](hex: "9F270180" + "9F108103060112")!
        let raw = try TLVParser.rawObjects(bytes[...])
        XCTAssertEqual(raw.map(\.tag), [0x9F27, 0x9F10])
        XCTAssertEqual(Array(raw[1].encoded), [UInt8](hex: "9F108103060112")!, "the long-form length stays as received")
        XCTAssertNotEqual(
            try TLVParser.parse(bytes)[1].encoded, Array(raw[1].encoded), "a re-encoding would normalise it")
    }

    func testStoreFlattensTemplatesAndReportsRepeats() throws {
        var s = TLVStore()
        let rec = try TLVParser.parse([UInt8](hex: "70085A0247615F240128" + "70045A029999")!)
        let repeated = s.add(rec)
        XCTAssertEqual(s[0x5A], [0x47, 0x61])
        XCTAssertEqual(repeated, [0x5A])
    }

    func testHex() {
        XCTAssertEqual([UInt8](hex: "9f 02:06"), [0x9F, 0x02, 0x06])
        XCTAssertNil([UInt8](hex: "9F0"))
        XCTAssertNil([UInt8](hex: "9G"))
        XCTAssertEqual(Hex.encode([0x00, 0xFF]), "00FF")
    }
}
