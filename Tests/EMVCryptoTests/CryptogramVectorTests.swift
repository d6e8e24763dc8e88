// pyemv's generate_ac defaults to ISO 9797-1 padding method 2 ("EMV").
// Vectors from knovichikhin/pyemv tests/test_cvn_hsm.py and tests/test_kd_hsm.py.
import XCTest

@testable import EMVCrypto

final class CryptogramVectorTests: XCTestCase {
    let imk = h("0123456789ABCDEFFEDCBA9876543210")

    func testIssuerMasterKeyCheckValue() throws {
        XCTAssertEqual(try keyCheckValue(imk, count: 2), h("08D7"))
    }

    func testOptionAWith16DigitPAN() throws {
        let mk = try KeyDerivation.iccMasterKeyOptionA(
            issuerMasterKey: imk, pan: "1234567890123456", panSequenceNumber: "00")
        XCTAssertEqual(try keyCheckValue(mk, count: 2), h("BAB0"))
    }

    func testOptionAWith17DigitPANUsesRightmost16Digits() throws {
        let mk = try KeyDerivation.iccMasterKeyOptionA(
            issuerMasterKey: imk, pan: "12345678901234567", panSequenceNumber: "45")
        XCTAssertEqual(try keyCheckValue(mk, count: 2), h("FF08"))
        let sk = try KeyDerivation.commonSessionKey(masterKey: mk, diversification: h("1234567890123456"))
        XCTAssertEqual(try keyCheckValue(sk, count: 2), h("DF82"))
        let ac = try ApplicationCryptogramAlgorithm.generate(
            key: sk, data: h("0123456789ABCDEF0123456789ABCDEF"), padding: .method2)
        XCTAssertEqual(ac, h("19C1FBC83EBDC0D5"))
        XCTAssertEqual(
            try ApplicationCryptogramAlgorithm.arpcMethod1(key: mk, arqc: ac, arc: h("0000")), h("78A372523FA35A03"))
    }

    func testOptionB() throws {
        // 16 digits: Option B falls back to Option A.
        let mk16 = try KeyDerivation.iccMasterKeyOptionB(issuerMasterKey: imk, pan: "1234567890123456")
        XCTAssertEqual(try keyCheckValue(mk16, count: 2), h("BAB0"))
        let sk16 = try KeyDerivation.commonSessionKey(masterKey: mk16, diversification: h("1234567890123456"))
        XCTAssertEqual(try keyCheckValue(sk16, count: 2), h("BC19"))
        let ac16 = try ApplicationCryptogramAlgorithm.generate(
            key: sk16, data: h("0123456789ABCDEF0123456789ABCDEF"), padding: .method2)
        XCTAssertEqual(ac16, h("0CE77D211CB5459A"))
        XCTAssertEqual(
            try ApplicationCryptogramAlgorithm.arpcMethod2(key: sk16, arqc: ac16, csu: h("00000000")), h("8CD9AA5D"))

        let mk = try KeyDerivation.iccMasterKeyOptionB(
            issuerMasterKey: imk, pan: "12345678901234567", panSequenceNumber: "45")
        XCTAssertEqual(try keyCheckValue(mk, count: 2), h("0BAF"))
        let sk = try KeyDerivation.commonSessionKey(masterKey: mk, diversification: h("1234567890123456"))
        XCTAssertEqual(try keyCheckValue(sk, count: 2), h("4262"))
        let ac = try ApplicationCryptogramAlgorithm.generate(
            key: sk, data: h("0123456789ABCDEF0123456789ABCDEF"), padding: .method2)
        XCTAssertEqual(ac, h("5760EE07B4FA65D1"))
        XCTAssertEqual(
            try ApplicationCryptogramAlgorithm.arpcMethod2(key: sk, arqc: ac, csu: h("00000000")), h("106B81D9"))
    }

    /// Visa CVN 10: MAC under the ICC master key, padding method 1, ARPC method 1.
    func testVisaCVN10() throws {
        let mk = try KeyDerivation.iccMasterKeyOptionA(
            issuerMasterKey: imk, pan: "1234567890123456", panSequenceNumber: "00")
        let data = h(
            "000000004000" + "000000000000" + "0124" + "8000048000" + "0124" + "191105" + "01" + "52BF4585" + "1800"
                + "001C" + "03A06010")
        let arqc = try ApplicationCryptogramAlgorithm.generate(key: mk, data: data, padding: .method1)
        XCTAssertEqual(arqc, h("29CCA15AE665FA2E"))
        XCTAssertEqual(
            try ApplicationCryptogramAlgorithm.arpcMethod1(key: mk, arqc: arqc, arc: h("3030")), h("28993816AFAE4AEB"))
    }

    /// Visa CVN 18: common session key with R = ATC ‖ 00…, full IAD, padding method 2, ARPC method 2.
    func testVisaCVN18() throws {
        let mk = try KeyDerivation.iccMasterKeyOptionA(
            issuerMasterKey: imk, pan: "1234567890123456", panSequenceNumber: "00")
        let sk = try KeyDerivation.commonSessionKey(masterKey: mk, diversification: h("001C000000000000"))
        XCTAssertEqual(try keyCheckValue(sk, count: 2), h("22C8"))
        let data = h(
            "000000004000" + "000000000000" + "0124" + "8000048000" + "0124" + "191105" + "01" + "52BF4585" + "1800"
                + "001C" + "06011203A0B800")
        let arqc = try ApplicationCryptogramAlgorithm.generate(key: sk, data: data, padding: .method2)
        XCTAssertEqual(arqc, h("7A788EA6B8A3E733"))
        XCTAssertEqual(
            try ApplicationCryptogramAlgorithm.arpcMethod2(key: sk, arqc: arqc, csu: h("00000000")), h("9AF514C1"))
    }

    /// Mastercard CVN 16: session key with R = ATC ‖ 0000 ‖ UN, padding method 2, ARPC method 1 with the ICC MK.
    func testMastercardCVN16() throws {
        let mk = try KeyDerivation.iccMasterKeyOptionA(
            issuerMasterKey: imk, pan: "1234567890123456", panSequenceNumber: "00")
        let sk = try KeyDerivation.commonSessionKey(masterKey: mk, diversification: h("001C0000ABCDEF12"))
        XCTAssertEqual(try keyCheckValue(sk, count: 2), h("2FD5"))
        let data = h(
            "000000009999" + "000000000000" + "0124" + "8000000000" + "0124" + "209906" + "00" + "ABCDEF12" + "1800"
                + "001C" + "A00003220000")
        let arqc = try ApplicationCryptogramAlgorithm.generate(key: sk, data: data, padding: .method2)
        XCTAssertEqual(arqc, h("24CCF3DEE3158C70"))
        XCTAssertEqual(
            try ApplicationCryptogramAlgorithm.arpcMethod1(key: mk, arqc: arqc, arc: h("0010")), h("73F6BBF389A6586C"))
    }
}

func h(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var chars = Array(s.utf8)[...]
    while chars.count >= 2 {
        out.append(UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16)!)
        chars = chars.dropFirst(2)
    }
    return out
}
