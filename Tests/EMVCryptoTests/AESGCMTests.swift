import Crypto  // swift-crypto (BoringSSL): an independent AES-GCM, and the one the journal sealed with before
import EMVCrypto
import XCTest

final class AESGCMTests: XCTestCase {
    private func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    /// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13 and 14 (AES-256, zero key and IV).
    func testPublishedVectors() throws {
        let key = [UInt8](repeating: 0, count: 32)
        let iv = [UInt8](repeating: 0, count: 12)
        XCTAssertEqual(try AESGCM.seal([], key: key, nonce: iv), iv + hex("530f8afbc74536b9a963b4f1c4cb738b"))
        XCTAssertEqual(
            try AESGCM.seal([UInt8](repeating: 0, count: 16), key: key, nonce: iv),
            iv + hex("cea7403d4d606b6e074ec5d3baf39d18") + hex("d0d1c8a799996bf0265b98b5d48ab919"))
        XCTAssertEqual(
            try AESGCM.open(iv + hex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"), key: key),
            [UInt8](repeating: 0, count: 16))
    }

    /// Both directions against swift-crypto, with associated data, over lengths around the block size: what the
    /// journal sealed with swift-crypto opens here, and the other way round.
    func testInteroperatesWithSwiftCrypto() throws {
        for length in [0, 1, 15, 16, 17, 31, 64, 200, 1000] {
            let key = secureRandomBytes(32)
            let plaintext = secureRandomBytes(length)
            let aad = Array("txn:\(length)".utf8)
            let ours = try AESGCM.seal(plaintext, key: key, authenticating: aad)
            XCTAssertEqual(ours.count, 12 + length + 16)
            let box = try AES.GCM.SealedBox(combined: ours)
            XCTAssertEqual(Array(try AES.GCM.open(box, using: SymmetricKey(data: key), authenticating: aad)), plaintext)
            let theirs = try XCTUnwrap(
                try AES.GCM.seal(plaintext, using: SymmetricKey(data: key), authenticating: aad).combined)
            XCTAssertEqual(try AESGCM.open(Array(theirs), key: key, authenticating: aad), plaintext)
        }
    }

    func testNoncesAreFresh() throws {
        let key = secureRandomBytes(32)
        let a = try AESGCM.seal([1, 2, 3], key: key)
        let b = try AESGCM.seal([1, 2, 3], key: key)
        XCTAssertNotEqual(Array(a.prefix(12)), Array(b.prefix(12)))
        XCTAssertNotEqual(a, b)
    }

    func testTamperingIsRefused() throws {
        let key = secureRandomBytes(32)
        let sealed = try AESGCM.seal(Array("5413330089020011".utf8), key: key, authenticating: Array("txn:1".utf8))
        for i in [0, 11, 12, 20, sealed.count - 1] {  // nonce, ciphertext and tag bytes
            var bad = sealed
            bad[i] ^= 0x01
            XCTAssertThrowsError(try AESGCM.open(bad, key: key, authenticating: Array("txn:1".utf8))) {
                XCTAssertEqual($0 as? CryptoError, .authenticationFailed)
            }
        }
        XCTAssertThrowsError(try AESGCM.open(sealed, key: key, authenticating: Array("txn:2".utf8))) {
            XCTAssertEqual($0 as? CryptoError, .authenticationFailed, "a value moved to another row")
        }
        XCTAssertThrowsError(try AESGCM.open(sealed, key: secureRandomBytes(32), authenticating: Array("txn:1".utf8)))
        XCTAssertThrowsError(try AESGCM.open(Array(sealed.prefix(27)), key: key)) {
            XCTAssertEqual($0 as? CryptoError, .invalidDataLength(27))
        }
        XCTAssertThrowsError(try AESGCM.seal([1], key: [1, 2, 3])) {
            XCTAssertEqual($0 as? CryptoError, .invalidKeyLength(3))
        }
        XCTAssertThrowsError(try AESGCM.seal([1], key: key, nonce: [0, 0])) {
            XCTAssertEqual($0 as? CryptoError, .invalidDataLength(2))
        }
    }
}
