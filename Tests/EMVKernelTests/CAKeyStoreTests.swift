import XCTest
import TLV
@testable import EMVKernel

final class CAKeyStoreTests: XCTestCase {
    func testBundledFilesLoadAndMatchTheNotes() throws {
        let prod = try CAKeyStore.bundled(includeTestKeys: false)
        XCTAssertFalse(prod.containsTestKeys)
        XCTAssertNil(prod.key(rid: h("A000000003"), index: 0x94), "test keys stay out of a production store")
        XCTAssertNotNil(prod.key(rid: h("A000000003"), index: 0x09))
        XCTAssertNotNil(prod.key(rid: h("A000000004"), index: 0x06))
        XCTAssertNotNil(prod.key(rid: h("A000000025"), index: 0x10))

        let all = try CAKeyStore.bundled(includeTestKeys: true)
        XCTAssertTrue(all.containsTestKeys)
        // The checksums in ../shared/notes/emv.md §4.1.
        let expected: [(String, UInt8, String)] = [
            ("A000000003", 0x92, "429C954A3859CEF91295F663C963E582ED6EB253"), ("A000000003", 0x94, "C4A3C43CCF87327D136B804160E47D43B60E6E0F"),
            ("A000000003", 0x95, "EE1511CEC71020A9B90443B37B1D5F6E703030F6"), ("A000000003", 0x99, "4ABFFD6B1C51212D05552E431C5B17007D2F5E6D"),
            ("A000000004", 0xEF, "21766EBB0EE122AFB65D7845B73DB46BAB65427A"), ("A000000004", 0xF1, "D8E68DA167AB5A85D8C3D55ECB9B0517A1A5B4BB"),
            ("A000000004", 0xF3, "A69AC7603DAF566E972DEDC2CB433E07E8B01A9A"), ("A000000004", 0xF4, "BF6B5B9C47134E494571732A4903C935874682B9"),
            ("A000000004", 0xF5, "C2239804C8098170BE52D6D5D4159E81CE8466BF"), ("A000000004", 0xF8, "F06ECC6D2AAEBF259B7E755A38D9A9B24E2FF3DD"),
            ("A000000004", 0xFA, "5BED4068D96EA16D2D77E03D6036FC7A160EA99C"), ("A000000004", 0xFE, "9A295B05FB390EF7923F57618A9FDA2941FC34E0"),
        ]
        for (rid, idx, sum) in expected {
            let k = try XCTUnwrap(all.key(rid: h(rid), index: idx), "\(rid)/\(idx)")
            XCTAssertEqual(k.checksum, h(sum))
            XCTAssertTrue(k.isTest)
        }
        XCTAssertEqual(all.key(rid: h("A000000004"), index: 0xF5)?.key.exponent, [0x01, 0x00, 0x01])
        XCTAssertNotEqual(prod.fingerprint, all.fingerprint)
    }

    func line(_ rid: String = "A000000003", _ idx: String = "94", exp: String = "03", expiry: String = "-", checksum: String? = nil) -> String {
        let mod = "ACD2B12302EE644F3F835ABD1FC7A6F62CCE48FFEC622AA8EF062BEF6FB8BA8BC68BBF6AB5870EED579BC3973E121303D34841A796D6DCBC41DBF9E52C4609795C0CCF7EE86FA1D5CB041071ED2C51D2202F63F1156C58A92D38BC60BDF424E1776E2BC9648078A03B36FB554375FC53D57C73F5160EA59F3AFC5398EC7B67758D65C9BFF7828B6B82D4BE124A416AB7301914311EA462C19F771F31B3B57336000DFF732D3B83DE07052D730354D297BEC72871DCCF0E193F171ABA27EE464C6A97690943D59BDABB2A27EB71CEEBDAFA1176046478FD62FEC452D5CA393296530AA3F41927ADFE434A2DF2AE3054F8840657A26E0FC617"
        return "\(rid) \(idx) \(exp) \(expiry) \(mod) \(checksum ?? "C4A3C43CCF87327D136B804160E47D43B60E6E0F") Visa test 94"
    }

    func testLoaderRejectsBadLinesNamingThem() {
        func fails(_ text: String, line: Int, containing: String, file: StaticString = #filePath, l: UInt = #line) {
            var s = CAKeyStore()
            XCTAssertThrowsError(try s.load(text: text, source: "keys.capk", isTest: true), file: file, line: l) { e in
                guard let e = e as? CAKeyFileError else { return XCTFail("\(e)", file: file, line: l) }
                XCTAssertEqual(e.line, line, file: file, line: l)
                XCTAssertTrue(e.description.contains(containing), e.description, file: file, line: l)
                XCTAssertTrue(e.description.hasPrefix("keys.capk:\(line):"), file: file, line: l)
            }
            XCTAssertTrue(s.keys.isEmpty, "a bad file adds nothing", file: file, line: l)
        }
        fails("# comment\n\n" + line(checksum: "381A035DA58B482EE2AF75F4C3F2CA469BA4AA6C"), line: 3, containing: "checksum mismatch")
        fails(line() + "\n" + line(), line: 2, containing: "duplicate key A000000003/94")
        fails(line(exp: "05"), line: 1, containing: "EXPONENT")
        fails(line("A0000000"), line: 1, containing: "RID")
        fails(line(expiry: "2028-13-01"), line: 1, containing: "EXPIRY")
        fails("A000000003 94 03 -", line: 1, containing: "found 4 fields")
    }

    func testExpiryAndRevocations() throws {
        var s = CAKeyStore()
        try s.load(text: line(expiry: "2028-12-31"), source: "k", isTest: true)
        XCTAssertEqual(s.key(rid: h("A000000003"), index: 0x94)?.expiry, EMVDate(year: 2028, month: 12, day: 31))
        try s.loadRevocations(text: "# list\nA000000003 94 03DA0A\n", source: "crl")
        XCTAssertTrue(s.isRevoked(rid: h("A000000003"), index: 0x94, serial: h("03DA0A")))
        XCTAssertFalse(s.isRevoked(rid: h("A000000003"), index: 0x94, serial: h("03DA0B")))
        XCTAssertThrowsError(try s.loadRevocations(text: "A000000003 94 03DA", source: "crl"))
        // An expired CA key is refused during ODA.
        var d = TLVStore()
        d[0x5A] = h("4761739001010119"); d[0x8F] = [0x94]; d[0x90] = ODAVectorTests.visaIssuerCert; d[0x9F32] = [0x03]
        let oda = OfflineDataAuthenticator(keys: s, transactionDate: EMVDate(year: 2029, month: 1, day: 1)!)
        XCTAssertThrowsError(try oda.retrieveIssuerKey(rid: h("A000000003"), data: d)) { e in
            XCTAssertEqual(e as? ODAFailure, .caKeyExpired(rid: h("A000000003"), index: 0x94))
        }
    }
}
