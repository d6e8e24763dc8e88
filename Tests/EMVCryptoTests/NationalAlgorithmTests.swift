// SM3, SM4 and SM2 from libcrypto, checked against the standards' own examples where they have one.

import XCTest

@testable import EMVCrypto

final class NationalAlgorithmTests: XCTestCase {
    /// GB/T 32905-2016 Appendix A, example 1: SM3("abc").
    func testSM3OfABCIsTheStandardsExample() throws {
        XCTAssertEqual(
            try NationalAlgorithms.sm3(Array("abc".utf8)),
            h("66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0"))
    }

    /// GB/T 32907-2016 Appendix A, example 1: key and plaintext 0123456789ABCDEFFEDCBA9876543210.
    func testSM4EncryptsTheStandardsExample() throws {
        let k = h("0123456789ABCDEFFEDCBA9876543210")
        let c = try NationalAlgorithms.sm4(.ecb, encrypt: true, key: k, data: k)
        XCTAssertEqual(c, h("681EDF34D206965E86B3E94F536E4246"))
        XCTAssertEqual(try NationalAlgorithms.sm4(.ecb, encrypt: false, key: k, data: c), k)
        XCTAssertThrowsError(try NationalAlgorithms.sm4(.ecb, encrypt: true, key: k, data: [1, 2, 3]))
        XCTAssertThrowsError(try NationalAlgorithms.sm4(.ecb, encrypt: true, key: [1], data: k))
    }

    /// ISO/IEC 9797-1 algorithm 1 over SM4: the last block of the CBC encryption of the padded data.
    func testSM4MACIsTheLastCBCBlock() throws {
        let k = h("0123456789ABCDEFFEDCBA9876543210")
        let data = [UInt8](repeating: 0x11, count: 20)
        let padded = data + [0x80] + [UInt8](repeating: 0, count: 11)
        var x = [UInt8](repeating: 0, count: 16)
        for i in stride(from: 0, to: padded.count, by: 16) {
            x = try NationalAlgorithms.sm4(
                .ecb, encrypt: true, key: k, data: zip(x, padded[i..<(i + 16)]).map { $0 ^ $1 })
        }
        XCTAssertEqual(try NationalAlgorithms.sm4MAC(key: k, data: data, padding: .method2), x)
    }

    /// GM/T 0003.5 (GB/T 32918.5) example on the recommended curve: the signature r ‖ s of "message digest" with the
    /// identifier "1234567812345678" by the key P verifies; with another identifier or message it does not.
    func testSM2VerifiesTheStandardsExample() throws {
        let p = try NationalAlgorithms.SM2PublicKey(
            point: h(
                "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
                    + "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"))
        let sig = h(
            "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
                + "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")
        let m = Array("message digest".utf8)
        XCTAssertTrue(try NationalAlgorithms.sm2Verify(sig, of: m, key: p))
        XCTAssertFalse(try NationalAlgorithms.sm2Verify(sig, of: m, key: p, id: Array("ALICE123@YAHOO.COM".utf8)))
        XCTAssertFalse(try NationalAlgorithms.sm2Verify(sig, of: Array("message digesT".utf8), key: p))
    }

    func testSM2SignaturesVerifyAndAnyChangeFails() throws {
        let pair = try NationalAlgorithms.SM2KeyPair.generate()
        let message = Array("signed dynamic application data".utf8)
        let sig = try pair.sign(message)
        XCTAssertEqual(sig.count, 64)
        XCTAssertTrue(try NationalAlgorithms.sm2Verify(sig, of: message, key: pair.publicKey))
        var tampered = sig
        tampered[10] ^= 1
        XCTAssertFalse(try NationalAlgorithms.sm2Verify(tampered, of: message, key: pair.publicKey))
        XCTAssertFalse(try NationalAlgorithms.sm2Verify(sig, of: message + [0], key: pair.publicKey))
        // Another signer identifier changes Z_A, so the signature no longer verifies.
        XCTAssertFalse(
            try NationalAlgorithms.sm2Verify(
                sig, of: message, key: pair.publicKey, id: Array("ALICE123@YAHOO.COM".utf8)))
        let other = try NationalAlgorithms.SM2KeyPair.generate()
        XCTAssertFalse(try NationalAlgorithms.sm2Verify(sig, of: message, key: other.publicKey))
        // A key that is not a point of the curve is an error, not a crash; a short signature too.
        XCTAssertThrowsError(
            try NationalAlgorithms.sm2Verify(
                sig, of: message, key: try .init(point: [UInt8](repeating: 0x01, count: 64))))
        XCTAssertThrowsError(try NationalAlgorithms.sm2Verify([1, 2], of: message, key: pair.publicKey))
        XCTAssertThrowsError(try NationalAlgorithms.SM2PublicKey(point: [0x04]))
    }
}
