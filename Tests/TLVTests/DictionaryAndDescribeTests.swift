import XCTest

@testable import TLV

final class DictionaryAndDescribeTests: XCTestCase {
    func testBook3AndKernelElementsArePresent() {
        // A sample across Book 3 Annex A, Book B, C-2 and C-3.
        for t: Tag in [
            0x4F, 0x50, 0x57, 0x5A, 0x5F24, 0x5F2A, 0x5F34, 0x82, 0x84, 0x87, 0x8C, 0x8E, 0x8F, 0x90, 0x92, 0x93,
            0x94, 0x95, 0x9A, 0x9B, 0x9C, 0x9F02, 0x9F03, 0x9F07, 0x9F10, 0x9F1A, 0x9F26, 0x9F27, 0x9F32, 0x9F33,
            0x9F34, 0x9F35, 0x9F36, 0x9F37, 0x9F38, 0x9F40, 0x9F46, 0x9F47, 0x9F48, 0x9F49, 0x9F4A, 0x9F4B,
            0x9F4E, 0x9F2A, 0x9F29, 0xBF0C, 0xA5, 0x6F, 0x70, 0x77, 0x80,
            0xDF8117, 0xDF8118, 0xDF8119, 0xDF811B, 0xDF8120, 0xDF8123, 0xDF8124, 0xDF8126, 0xDF8129, 0xDF8132,
            0xDF8137, 0xDF8301, 0xDF8306, 0x9F6B, 0x9F5D, 0x9F66, 0x9F6C, 0x9F69, 0x9F6E, 0x9F7C,
        ] {
            XCTAssertNotNil(DataDictionary.element(t), "missing \(t.hex)")
        }
        XCTAssertGreaterThan(DataDictionary.all.count, 200)
        for e in DataDictionary.all { XCTAssertLessThanOrEqual(e.minLength, e.maxLength, e.tag.hex) }
    }

    func testKernelContextDecidesSharedTags() {
        XCTAssertEqual(DataDictionary.element(0x9F66, context: .c3)?.name, "Terminal Transaction Qualifiers (TTQ)")
        XCTAssertEqual(DataDictionary.element(0x9F66, context: .c2)?.name, "PUNATC (Track2)")
        XCTAssertEqual(DataDictionary.element(0x9F69, context: .c2)?.name, "UDOL")
        XCTAssertEqual(DataDictionary.context(forAID: [0xA0, 0, 0, 0, 0x04, 0x10, 0x10]), .c2)
        XCTAssertTrue(DataDictionary.isContextSpecific(0x9F6C))
    }

    func testDescribeExplainsBitFieldsDatesAmountsAndMasksCardData() {
        let body = [UInt8](
            hex: "8202" + "3900" + "9505" + "8000048000" + "9F6604" + "36004000" + "9A03" + "261126"
                + "9F0206" + "000000001234" + "5F2A02" + "0978" + "5A08" + "4761739001010119"
                + "5713" + "4761739001010119D28122011000000000000F" + "9F2701" + "80")!
        let bytes = TLV(tag: 0x77, value: body).encoded
        let d = Describe.describe(bytes, context: .c3)
        XCTAssertTrue(d.problems.isEmpty, "\(d.problems)")
        let text = Describe.render(d)
        XCTAssertFalse(text.contains("SDA supported"), "AIP 3900 does not announce SDA")
        XCTAssertTrue(text.contains("DDA supported"))
        XCTAssertTrue(text.contains("CDA supported"))
        XCTAssertTrue(text.contains("Offline data authentication was not performed"))
        XCTAssertTrue(text.contains("Online PIN supported"))
        XCTAssertTrue(text.contains("Consumer Device CVM supported"))
        XCTAssertTrue(text.contains("2026-11-26"))
        XCTAssertTrue(text.contains("1234 (minor units)"))
        XCTAssertTrue(text.contains("EUR (978)"))
        XCTAssertTrue(text.contains("ARQC"))
        XCTAssertTrue(text.contains("476173******0119"))
        XCTAssertFalse(text.contains("4761739001010119"), "a full PAN must never be printed")
        XCTAssertFalse(text.contains("D28122011"), "track 2 must never be printed")
    }

    func testDescribeReportsMalformedInputWithoutCrashing() {
        let d = Describe.describe([UInt8](hex: "9F4B10AABB")!)
        XCTAssertEqual(d.problems.count, 1)
        XCTAssertTrue(Describe.render(d).contains("error: length 16 exceeds the 2 bytes that remain at offset 0"))
        // Wrong lengths against the dictionary are flagged.
        let w = Describe.render(Describe.describe([UInt8](hex: "9F360100")!))
        XCTAssertTrue(w.contains("outside 2...2"))
    }

    func testCVMListAndCVMResults() {
        let list = CVMList([UInt8](hex: "000000000000000042031E031F00")!)
        XCTAssertEqual(list?.rules.count, 3)
        XCTAssertEqual(list?.rules.first?.applySucceedingRuleIfUnsuccessful, true)
        XCTAssertNil(CVMList([1, 2, 3]))
        let r = BitField.field(.cvmResults).explain([0x1F, 0x00, 0x02])
        XCTAssertEqual(r, ["CVM performed: No CVM required", "Condition: Always", "Result: Successful"])
    }

    func testMaskingRules() {
        XCTAssertEqual(CardDataMask.pan("5413330089020011"), "541333******0011")
        XCTAssertEqual(CardDataMask.pan("4761739001010119123"), "476173*********9123")
        XCTAssertEqual(CardDataMask.pan("1234567890"), "******7890")
        let redacted = CardDataMask.redacted(
            TLV(tag: 0x70, children: [TLV(tag: 0x5A, value: [0x47, 0x61]), TLV(tag: 0x9F36, value: [1])]))
        XCTAssertEqual(redacted.first(0x5A)?.bytes, [0, 0])
        XCTAssertEqual(redacted.first(0x9F36)?.bytes, [1])
    }

    /// A printable binary value reads as text beside its hex (a DF name is "2PAY.SYS.DDF01"); card data never does.
    func testPrintableBinaryValuesShowAsText() {
        let d = Describe.describe([UInt8](hex: "6F10840E325041592E5359532E4444463031")!)
        let df = d.objects[0].children[0]
        XCTAssertEqual(df.value, "325041592E5359532E4444463031")
        XCTAssertEqual(df.text, "2PAY.SYS.DDF01")
        XCTAssertTrue(Describe.render(d).contains("325041592E5359532E4444463031  \"2PAY.SYS.DDF01\""))
        // Not text: short, non-printable, digits only, or card data.
        XCTAssertNil(Describe.describe([UInt8](hex: "8407A0000000031010")!).objects[0].text)
        XCTAssertNil(Describe.describe([UInt8](hex: "9F360200FF")!).objects[0].text)
        XCTAssertNil(
            Describe.describe([UInt8](hex: "5F20084A4F484E20444F45")!).objects[0].text,
            "cardholder name is masked, never text")
    }
}
