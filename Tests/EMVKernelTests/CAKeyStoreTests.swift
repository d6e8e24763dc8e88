import EMVCrypto
import TLV
import XCTest

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
        // The checksums as the schemes publish them.
        let expected: [(String, UInt8, String)] = [
            ("A000000003", 0x92, "429C954A3859CEF91295F663C963E582ED6EB253"),
            ("A000000003", 0x94, "C4A3C43CCF87327D136B804160E47D43B60E6E0F"),
            ("A000000003", 0x95, "EE1511CEC71020A9B90443B37B1D5F6E703030F6"),
            ("A000000003", 0x99, "4ABFFD6B1C51212D05552E431C5B17007D2F5E6D"),
            ("A000000004", 0xEF, "21766EBB0EE122AFB65D7845B73DB46BAB65427A"),
            ("A000000004", 0xF1, "D8E68DA167AB5A85D8C3D55ECB9B0517A1A5B4BB"),
            ("A000000004", 0xF3, "A69AC7603DAF566E972DEDC2CB433E07E8B01A9A"),
            ("A000000004", 0xF4, "BF6B5B9C47134E494571732A4903C935874682B9"),
            ("A000000004", 0xF5, "C2239804C8098170BE52D6D5D4159E81CE8466BF"),
            ("A000000004", 0xF8, "F06ECC6D2AAEBF259B7E755A38D9A9B24E2FF3DD"),
            ("A000000004", 0xFA, "5BED4068D96EA16D2D77E03D6036FC7A160EA99C"),
            ("A000000004", 0xFE, "9A295B05FB390EF7923F57618A9FDA2941FC34E0"),
            // JCB, Discover and UnionPay test keys: the checksums their test provisioning lists publish.
            ("A000000065", 0x08, "DD36D5896228C8C4900742F107E2F91FE50BC7EE"),
            ("A000000065", 0x0F, "2A1B82DE00F5F0C401760ADF528228D3EDE0F403"),
            ("A000000065", 0x11, "D9FD62C9DD4E6DE7741E9A17FB1FF2C5DB948BCB"),
            ("A000000065", 0x13, "54CFAE617150DFA09D3F901C9123524523EBEDF3"),
            ("A000000333", 0x08, "EE23B616C95C02652AD18860E48787C079E8E85A"),
            ("A000000333", 0x09, "A075306EAB0045BAF72CDD33B3B678779DE1F527"),
            ("A000000333", 0x0A, "C88BE6B2417C4F941C9371EA35A377158767E4E3"),
            ("A000000333", 0x0B, "BD331F9996A490B33C13441066A09AD3FEB5F66C"),
        ]
        for (rid, idx, sum) in expected {
            let k = try XCTUnwrap(all.key(rid: h(rid), index: idx), "\(rid)/\(idx)")
            XCTAssertEqual(k.checksum, h(sum))
            XCTAssertTrue(k.isTest)
        }
        XCTAssertEqual(all.key(rid: h("A000000004"), index: 0xF5)?.key.exponent, [0x01, 0x00, 0x01])
        XCTAssertNotEqual(prod.fingerprint, all.fingerprint)
    }

    /// PBOC 3.0 part 17: an SM2 CA key is a point, filed with "SM2" in place of the exponent; it shares the (RID,
    /// index) namespace with the RSA keys and is refused when the point is not 64 bytes or the checksum is wrong.
    func testSM2CAKeysLoadBesideTheRSAKeys() throws {
        let all = try CAKeyStore.bundled(includeTestKeys: true)
        let sm2 = try XCTUnwrap(all.sm2Key(rid: h("A000000333"), index: 0x18))
        XCTAssertTrue(sm2.isTest)
        XCTAssertEqual(sm2.key.point.count, 64)
        XCTAssertNil(all.key(rid: h("A000000333"), index: 0x18), "not an RSA key")
        XCTAssertFalse(try CAKeyStore.bundled(includeTestKeys: false).hasKey(rid: h("A000000333"), index: 0x18))
        let point = String(repeating: "11", count: 64)
        let sum = Hex.encode(CAPublicKey.checksum(rid: h("A000000333"), index: 0x20, modulus: h(point), exponent: []))
        var store = CAKeyStore()
        XCTAssertNoThrow(try store.load(text: "A000000333 20 SM2 - \(point) \(sum) test", source: "t", isTest: true))
        XCTAssertThrowsError(
            try store.load(text: "A000000333 21 SM2 - \(point)11 \(sum) short", source: "t", isTest: true))
        XCTAssertThrowsError(
            try store.load(
                text: "A000000333 22 SM2 - \(point) \(String(repeating: "0", count: 40))", source: "t",
                isTest: true))
        XCTAssertThrowsError(
            try store.load(text: "A000000333 20 SM2 - \(point) \(sum) again", source: "u", isTest: true),
            "a second key under the same index")
    }

    func testBundledProductionKeysOfAllSixSchemes() throws {
        let prod = try CAKeyStore.bundled(includeTestKeys: false)
        // Checksums as published with the keys in public terminal configurations (compared across independent
        // lists); the loader recomputes them, so a mistyped modulus could not load at all.
        let expected: [(String, UInt8, Int, String)] = [
            ("A000000003", 0x08, 1408, "20D213126955DE205ADC2FD2822BD22DE21CF9A8"),
            ("A000000003", 0x09, 1984, "1FF80A40173F52D7D27E0F26A146A1C8CCB29046"),
            ("A000000004", 0x05, 1408, "EBFA0D5D06D8CE702DA3EAE890701D45E274C845"),
            ("A000000004", 0x06, 1984, "F910A1504D5FFB793D94F3B500765E1ABCAD72D9"),
            ("A000000025", 0x0F, 1408, "A73472B3AB557493A9BC2179CC8014053B12BAB4"),
            ("A000000025", 0x10, 1984, "C729CF2FD262394ABC4CC173506502446AA9B9FD"),
            ("A000000152", 0x04, 1408, "17F971CAF6B708E5B9165331FBA91593D0C0BF66"),
            ("A000000152", 0x05, 1984, "12BCD407B6E627A750FDF629EE8C2C9CC7BA636A"),
            ("A000000065", 0x12, 1408, "874B379B7F607DC1CAF87A19E400B6A9E25163E8"),
            ("A000000065", 0x14, 1984, "C0D15F6CD957E491DB56DCDD1CA87A03EBE06B7B"),
            ("A000000333", 0x03, 1408, "87F0CD7C0E86F38F89A66F8C47071A8B88586F26"),
            ("A000000333", 0x04, 1984, "F527081CF371DD7E1FD4FA414A665036E0F5E6E5"),
        ]
        XCTAssertEqual(prod.keys.count, expected.count)
        for (rid, idx, bits, sum) in expected {
            let k = try XCTUnwrap(prod.key(rid: h(rid), index: idx), "\(rid)/\(idx)")
            XCTAssertEqual(k.checksum, h(sum), "\(rid)/\(idx)")
            XCTAssertEqual(k.key.modulus.count * 8, bits, "\(rid)/\(idx)")
            XCTAssertEqual(k.key.exponent, [0x03])
            XCTAssertFalse(k.isTest)
        }
    }

    func testOperatorKeyListReplacesBundledKeysButNotItsOwnDuplicates() throws {
        var store = try CAKeyStore.bundled(includeTestKeys: false)
        let bundled = try XCTUnwrap(store.key(rid: h("A000000003"), index: 0x09))
        let fields = try CAKeyStore.bundledFile("production", "capk").split(separator: "\n")
            .first { $0.hasPrefix("A000000003 09 ") }.map { $0.split(separator: " ").map(String.init) }
        let f = try XCTUnwrap(fields)
        // The acquirer's list carries the same Visa key, with a date.
        let acquirerLine = "\(f[0]) \(f[1]) \(f[2]) 2031-12-31 \(f[4]) \(f[5]) Visa 09 (acquirer)"
        var plain = store
        XCTAssertThrowsError(try plain.load(text: acquirerLine, source: "acq.capk", isTest: false)) { error in
            XCTAssertEqual((error as? CAKeyFileError)?.line, 1)
            XCTAssertTrue("\(error)".contains("already loaded"), "\(error)")
        }
        let replaced = try store.load(
            text: "# acquirer keys\n" + acquirerLine, source: "acq.capk", isTest: false, replacingLoaded: true)
        XCTAssertEqual(replaced, [CAKeyID(rid: h("A000000003"), index: 0x09)])
        let now = try XCTUnwrap(store.key(rid: h("A000000003"), index: 0x09))
        XCTAssertEqual(now.expiry, EMVDate(iso: "2031-12-31"))
        XCTAssertEqual(now.key, bundled.key)
        XCTAssertEqual(now.label, "Visa 09 (acquirer)")
        // Twice in the operator's own file is still a mistake, named by its line.
        var again = try CAKeyStore.bundled(includeTestKeys: false)
        XCTAssertThrowsError(
            try again.load(
                text: acquirerLine + "\n" + acquirerLine, source: "acq.capk", isTest: false, replacingLoaded: true)
        ) { error in
            XCTAssertEqual((error as? CAKeyFileError)?.line, 2)
        }
        // The terminal's key set as the daemon and `tapctl diagnose` build it: bundled, then the operator's file.
        let terminal = try CAKeyStore.terminal(includeTestKeys: false, operatorFile: "/etc/tapd/acq.capk") {
            $0 == "/etc/tapd/acq.capk" ? acquirerLine : nil
        }
        XCTAssertEqual(terminal.replaced, [CAKeyID(rid: h("A000000003"), index: 0x09)])
        XCTAssertEqual(terminal.store.key(rid: h("A000000003"), index: 0x09)?.expiry, EMVDate(iso: "2031-12-31"))
        XCTAssertEqual(
            try CAKeyStore.terminal(includeTestKeys: false, operatorFile: nil) { _ in nil }.store.keys.count, 12)
        XCTAssertThrowsError(try CAKeyStore.terminal(includeTestKeys: false, operatorFile: "/nope") { _ in nil }) {
            XCTAssertEqual($0 as? CAKeyFileUnreadable, CAKeyFileUnreadable(path: "/nope"))
        }
    }

    func line(
        _ rid: String = "A000000003", _ idx: String = "94", exp: String = "03", expiry: String = "-",
        checksum: String? = nil
    ) -> String {
        let mod =
            "ACD2B12302EE644F3F835ABD1FC7A6F62CCE48FFEC622AA8EF062BEF6FB8BA8BC68BBF6AB5870EED579BC3973E121303D34841A796D6DCBC41DBF9E52C4609795C0CCF7EE86FA1D5CB041071ED2C51D2202F63F1156C58A92D38BC60BDF424E1776E2BC9648078A03B36FB554375FC53D57C73F5160EA59F3AFC5398EC7B67758D65C9BFF7828B6B82D4BE124A416AB7301914311EA462C19F771F31B3B57336000DFF732D3B83DE07052D730354D297BEC72871DCCF0E193F171ABA27EE464C6A97690943D59BDABB2A27EB71CEEBDAFA1176046478FD62FEC452D5CA393296530AA3F41927ADFE434A2DF2AE3054F8840657A26E0FC617"
        return
            "\(rid) \(idx) \(exp) \(expiry) \(mod) \(checksum ?? "C4A3C43CCF87327D136B804160E47D43B60E6E0F") Visa test 94"
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
        fails(
            "# comment\n\n" + line(checksum: "381A035DA58B482EE2AF75F4C3F2CA469BA4AA6C"), line: 3,
            containing: "checksum mismatch")
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
        d[0x5A] = h("4761739001010119")
        d[0x8F] = [0x94]
        d[0x90] = ODAVectorTests.visaIssuerCert
        d[0x9F32] = [0x03]
        let oda = OfflineDataAuthenticator(keys: s, transactionDate: EMVDate(year: 2029, month: 1, day: 1)!)
        XCTAssertThrowsError(try oda.retrieveIssuerKey(rid: h("A000000003"), data: d)) { e in
            XCTAssertEqual(e as? ODAFailure, .caKeyExpired(rid: h("A000000003"), index: 0x94))
        }
    }

    /// Book 2 §5.1 / §11.2: CA public key exponents are 3 or 65537; any other is refused, from a file or directly.
    func testCAKeysWithAnExponentOtherThan3Or65537AreRefused() throws {
        var store = CAKeyStore()
        let mod = [UInt8](repeating: 0xC3, count: 128)
        for e: [UInt8] in [[0x02], [0x05], [0x01, 0x00, 0x03]] {
            let line =
                "A000000003 99 \(Hex.encode(e)) - \(Hex.encode(mod)) \(Hex.encode(CAPublicKey.checksum(rid: [0xA0, 0, 0, 0, 3], index: 0x99, modulus: mod, exponent: e)))"
            XCTAssertThrowsError(try store.load(text: line, source: "t", isTest: true), Hex.encode(e))
            XCTAssertThrowsError(
                try store.add(
                    rid: [0xA0, 0, 0, 0, 3], index: 0x99, key: try RSAPublicKey(modulus: mod, exponent: e),
                    label: "t", isTest: true), Hex.encode(e))
        }
        XCTAssertTrue(CAPublicKey.isAllowedExponent([0x03]))
        XCTAssertTrue(CAPublicKey.isAllowedExponent([0x01, 0x00, 0x01]))
        XCTAssertTrue(CAPublicKey.isAllowedExponent([0x00, 0x00, 0x03]))
        XCTAssertFalse(CAPublicKey.isAllowedExponent([0x11]))
    }
}
