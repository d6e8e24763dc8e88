import XCTest

@testable import EMVCrypto

final class PrimitiveTests: XCTestCase {
    func testDigests() {
        XCTAssertEqual(Digest.sha1(Array("abc".utf8)), h("A9993E364706816ABA3E25717850C26C9CD0D89D"))
        XCTAssertEqual(
            Digest.sha256(Array("abc".utf8)), h("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"))
        XCTAssertEqual(Digest.sha1(parts: [Array("a".utf8), Array("bc".utf8)]), Digest.sha1(Array("abc".utf8)))
        let ctx = Digest.SHA1Context()
        ctx.update(Array("ab".utf8))
        ctx.update(Array("c".utf8))
        XCTAssertEqual(ctx.finish(), Digest.sha1(Array("abc".utf8)))
    }

    func testBlockCipherKnownAnswers() throws {
        // FIPS-197 Appendix C.1.
        let aes = try BlockCipher.aes(
            .ecb, encrypt: true, key: h("000102030405060708090A0B0C0D0E0F"), data: h("00112233445566778899AABBCCDDEEFF")
        )
        XCTAssertEqual(aes, h("69C4E0D86A7B0430D8CDB78070B4C55A"))
        XCTAssertEqual(
            try BlockCipher.aes(.ecb, encrypt: false, key: h("000102030405060708090A0B0C0D0E0F"), data: aes),
            h("00112233445566778899AABBCCDDEEFF"))
        // The classic DES example (key 133457799BBCDFF1).
        XCTAssertEqual(
            try BlockCipher.des(.ecb, encrypt: true, key: h("133457799BBCDFF1"), data: h("0123456789ABCDEF")),
            h("85E813540F0AB405"))
        // 2-key 3DES = E(K1) D(K2) E(K1); with K1 = K2 it is single DES.
        XCTAssertEqual(
            try BlockCipher.tdes(
                .ecb, encrypt: true, key: h("133457799BBCDFF1133457799BBCDFF1"), data: h("0123456789ABCDEF")),
            h("85E813540F0AB405"))
        // CBC round trip and input checks.
        let key = h("0123456789ABCDEFFEDCBA9876543210")
        let cbc = try BlockCipher.tdes(
            .cbc, encrypt: true, key: key, iv: h("0011223344556677"), data: [UInt8](repeating: 7, count: 24))
        XCTAssertEqual(
            try BlockCipher.tdes(.cbc, encrypt: false, key: key, iv: h("0011223344556677"), data: cbc),
            [UInt8](repeating: 7, count: 24))
        XCTAssertThrowsError(try BlockCipher.tdes(.ecb, encrypt: true, key: key, data: [1, 2, 3]))
        XCTAssertThrowsError(
            try BlockCipher.tdes(.ecb, encrypt: true, key: [1, 2, 3], data: [UInt8](repeating: 0, count: 8)))
    }

    func testCMACKnownAnswers() throws {
        // RFC 4493 §4 (AES-128).
        let k = h("2B7E151628AED2A6ABF7158809CF4F3C")
        XCTAssertEqual(try MAC.cmac(key: k, data: []), h("BB1D6929E95937287FA37D129B756746"))
        XCTAssertEqual(
            try MAC.cmac(key: k, data: h("6BC1BEE22E409F96E93D7E117393172A")), h("070A16B46B4D4144F79BDD9DD04A287C"))
        XCTAssertEqual(
            try MAC.cmac(
                key: k, data: h("6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E5130C81C46A35CE411")),
            h("DFA66747DE9AE63030CA32611497C827"))
        XCTAssertEqual(
            try MAC.cmac(
                key: k,
                data: h(
                    "6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E5130C81C46A35CE411E5FBC1191A0A52EFF69F2445DF4F9B17AD2B417BE66C3710"
                )),
            h("51F0BEBF7E3B9D92FC49741779363CFE"))
        // NIST SP 800-38B examples for three-key TDEA.
        let t = h("8AA83BF8CBDA10620BC1BF19FBB6CD58BC313D4A371CA8B5")
        XCTAssertEqual(try MAC.cmac(key: t, data: [], tdes: true), h("B7A688E122FFAF95"))
        XCTAssertEqual(try MAC.cmac(key: t, data: h("6BC1BEE22E409F96"), tdes: true), h("8E8F293136283797"))
    }

    func testMACPadding() {
        XCTAssertEqual(MACPadding.method1.pad([1, 2, 3]), [1, 2, 3, 0, 0, 0, 0, 0])
        XCTAssertEqual(MACPadding.method1.pad([UInt8](repeating: 1, count: 8)).count, 8)
        XCTAssertEqual(MACPadding.method1.pad([]).count, 8)
        XCTAssertEqual(
            MACPadding.method2.pad([UInt8](repeating: 1, count: 8)),
            [UInt8](repeating: 1, count: 8) + [0x80, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(adjustOddParity([0x00, 0x01, 0xFE]), [0x01, 0x01, 0xFE])
    }

    func testRSA() throws {
        for e: UInt in [3, 65537] {
            let kp = try RSAKeyPair.generate(bits: 1024, exponent: e)
            XCTAssertEqual(kp.publicKey.bits, 1024)
            var m = [UInt8](repeating: 0x55, count: 128)
            m[0] = 0x6A
            let s = try kp.sign(m)
            XCTAssertEqual(try kp.publicKey.apply(s), m)
            // Input not less than the modulus, and wrong lengths, are refused rather than wrapped.
            XCTAssertThrowsError(try kp.publicKey.apply([UInt8](repeating: 0xFF, count: 128))) {
                XCTAssertEqual($0 as? CryptoError, .inputNotLessThanModulus)
            }
            XCTAssertThrowsError(try kp.publicKey.apply([1, 2, 3]))
        }
        XCTAssertThrowsError(try RSAPublicKey(modulus: [0x02, 0x00], exponent: [3]), "even modulus")
        XCTAssertThrowsError(try RSAPublicKey(modulus: [], exponent: [3]))
        XCTAssertThrowsError(try RSAPublicKey(modulus: [0x03], exponent: [1, 2, 3, 4, 5]))
        XCTAssertEqual(secureRandomBytes(16).count, 16)
        XCTAssertNotEqual(secureRandomBytes(16), secureRandomBytes(16))
    }
}
