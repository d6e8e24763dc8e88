// Offline data authentication against the public vectors of openemv/emv-utils (tests/emv_rsa_test.c with Visa
// test CA key 94, tests/emv_rsa_cda_test.c with Mastercard test CA key F1).

import EMVCrypto
import TLV
import XCTest

@testable import EMVKernel

final class ODAVectorTests: XCTestCase {
    static let visaIssuerCert = h(
        "665CD65C20DEAE638C7320EA011E5E2B33FC5070FF7D153D74FE9A01ABFF0B9587B3779C524577F8A57C19923B39CD3F5CCDD457D360DC2619CDBB94328777BB905E1CB79E280458F60C8C5593EFD22D6385512B11B7F2EAFE1184CF9066B9B47A0BF832045066359AE465473D31B9F830A6DE7D88E969CB456033F8073BEC512205920E3DEA773D3E36E1F46C2E8BDDC423FB675CA1710A3D0A06E9C7570919735190BD6ED65BD5EF92C0416BFE4094EA96A218013838EF337151A8BE7222DCF0717399553C4DDA16EBABB2DD386A07BDF313D970C1324CAAB885067691E3EE5E5D8B912799BD53C8E1830237E9EC0A9254D80B2BD3622C"
    )
    static let visaSSAD = h(
        "30661BC4D33D38F913D48429E6760FD9BDF2D9172A22F30418A29138A2D35A473E2AE42A3A6E6EEDFBF99D6C8C21F12EB96FD717D67AE222DB53863257EC8D7D649E40F2A64D18659B2FB45D893A995B88AEC4209975975E8DB3AC516D4CDF4A26681C524F9EA5C3750283A2B8F4569F9A9672DE9B6ED2C529B9611B38F237C8BDCFF088988CB2DD6599B8E62D4E77EE5386B892BE36B7BFB553A2BFDE900FB774C1A544CEB2C5A6CE9968927ED38B87"
    )
    static let visaICCCert = h(
        "A6CDB529A1D8CB538E19A277764C633F3C2F468A6A7CC3B5EF3F5B9838B7900316A627927569F679EAE367E10160D7A1E08D9F20399F8B6FFE77A564B108DD924458A89D966C980D1E52A0093CA1CFA44CB3FCCF102632A799486B409C34C1F6A3DCC3C1C0EE1C0F6E1EA7A33C1CDAEA9852AAA4B954D429C9EEDBF8803D6D159CAB6B8DCAB0694B5850D5F3C4014B45ABCB5B8F69BFC647D94F9E0039439A2D5584DEAD27729C894615F62AE7AC8216"
    )
    static let visaICCRemainder = h(
        "4DD8A50B21B9CBF62BFAD4BB3F4CF6B5239F3FD23F8B93E96C84C9CE67DFD70359153855A8F735CAFBE5")
    static let visaSDAD = h(
        "7207EF0CB50E15CCA221CB77E81B7BCE11730216436CC828F0A9D72A16BCF1A0B736768308CDD816872457CE835AF450BD6378F17A45C0861DB8D61208F1C394FD08F1719492F281970A424546A564FD825C83CEE6F8F4987EFC431A641248C6466296CBAE8ED35CE0286A5810792B0E99E575BBDBEA8F6979165097A3C6851A12022E5B7A6F0A8AC41E794E6AF0CACF700BD7E045E103A62294F074E7E55A82FC9EE7E8B8711A5D524667361941C1C9"
    )

    var store: CAKeyStore!
    override func setUpWithError() throws { store = try CAKeyStore.bundled(includeTestKeys: true) }

    func visaData(exponent: [UInt8] = [0x03]) -> TLVStore {
        var d = TLVStore()
        d[0x5A] = h("4761739001010119")
        d[0x8F] = [0x94]
        d[0x90] = Self.visaIssuerCert
        d[0x9F32] = exponent
        return d
    }

    func testVisaIssuerCertificateRecoversAndValidates() throws {
        let ca = try XCTUnwrap(store.key(rid: h("A000000003"), index: 0x94))
        let x = try SignedDataRecovery.recover(
            Self.visaIssuerCert, key: ca.key, object: .issuerCertificate, format: 0x02)
        let cert = try XCTUnwrap(PublicKeyCertificate.issuer(recovered: x))
        XCTAssertEqual(cert.subjectIdentifier, h("476173FF"))
        XCTAssertEqual(cert.rawExpiry, h("1231"))
        XCTAssertEqual(cert.serialNumber, h("03DA0A"))
        XCTAssertEqual(cert.publicKeyLength, 176)
        XCTAssertFalse(cert.needsRemainder)
        XCTAssertNil(PublicKeyCertificate.icc(recovered: [0x6A, 0x04, 0xBC]), "too short to be a certificate")

        let oda = OfflineDataAuthenticator(keys: store, transactionDate: EMVDate(year: 2031, month: 12, day: 31)!)
        let key = try oda.retrieveIssuerKey(rid: h("A000000003"), data: visaData())
        XCTAssertEqual(key.modulus.count, 176)
        XCTAssertEqual(key.exponent, [0x03])
    }

    func testVisaIssuerCertificateNegativeCases() throws {
        let rid = h("A000000003")
        // Expires at the end of December 2031: 2032-01-01 is too late (emv-utils' 320101 vs 311231 boundary).
        let late = OfflineDataAuthenticator(keys: store, transactionDate: EMVDate(year: 2032, month: 1, day: 1)!)
        XCTAssertThrowsError(try late.retrieveIssuerKey(rid: rid, data: visaData())) { e in
            XCTAssertEqual(e as? ODAFailure, .certificateExpired(.issuerCertificate, "12/2031"))
        }
        let oda = OfflineDataAuthenticator(keys: store, transactionDate: EMVDate(year: 2031, month: 12, day: 31)!)
        // Wrong issuer exponent: the hash no longer matches.
        XCTAssertThrowsError(try oda.retrieveIssuerKey(rid: rid, data: visaData(exponent: [1, 0, 1]))) { e in
            XCTAssertEqual(e as? ODAFailure, .hashMismatch(.issuerCertificate))
        }
        // Last byte of the certificate changed (emv-utils' invalid_issuer_cert): recovery yields no BC trailer.
        var bad = visaData()
        bad[0x90] = Array(Self.visaIssuerCert.dropLast()) + [0x2D]
        XCTAssertThrowsError(try oda.retrieveIssuerKey(rid: rid, data: bad)) { e in
            guard case .badTrailer(.issuerCertificate, _)? = e as? ODAFailure else { return XCTFail("\(e)") }
        }
        // A PAN from another issuer.
        var other = visaData()
        other[0x5A] = h("4111111111111111")
        XCTAssertThrowsError(try oda.retrieveIssuerKey(rid: rid, data: other)) { e in
            XCTAssertEqual(e as? ODAFailure, .issuerIdentifierMismatch)
        }
        // A CA index the terminal does not have.
        var unknown = visaData()
        unknown[0x8F] = [0x42]
        XCTAssertThrowsError(try oda.retrieveIssuerKey(rid: rid, data: unknown)) { e in
            XCTAssertEqual(e as? ODAFailure, .unknownCAKey(rid: rid, index: 0x42))
        }
        // Revoked (RID, index, serial).
        var revoking = store!
        try revoking.loadRevocations(text: "A000000003 94 03DA0A test revocation\n", source: "test")
        let strict = OfflineDataAuthenticator(keys: revoking, transactionDate: EMVDate(year: 2031, month: 12, day: 31)!)
        XCTAssertThrowsError(try strict.retrieveIssuerKey(rid: rid, data: visaData())) { e in
            XCTAssertEqual(e as? ODAFailure, .revoked(serial: h("03DA0A")))
        }
        // Missing certificate: ICC data missing, which sets its own TVR bit.
        var missing = visaData()
        missing[0x90] = nil
        XCTAssertThrowsError(try oda.retrieveIssuerKey(rid: rid, data: missing)) { e in
            XCTAssertEqual(e as? ODAFailure, .missingData(0x90))
            var tvr = TerminalVerificationResults()
            ODAResult(method: .dda, failure: e as? ODAFailure).apply(to: &tvr)
            XCTAssertTrue(tvr.isSet(.iccDataMissing))
            XCTAssertTrue(tvr.isSet(.ddaFailed))
        }
    }

    func testVisaSSADRecoversDataAuthenticationCode() throws {
        let oda = OfflineDataAuthenticator(keys: store, transactionDate: EMVDate(year: 2031, month: 12, day: 31)!)
        let issuer = try oda.retrieveIssuerKey(rid: h("A000000003"), data: visaData())
        let x = try SignedDataRecovery.recover(Self.visaSSAD, key: issuer, object: .signedStaticData, format: 0x03)
        XCTAssertEqual(SignedStaticApplicationData(recovered: x).dataAuthenticationCode, h("DAC0"))
        // emv-utils' invalid_enc_ssad differs in the last byte.
        XCTAssertThrowsError(
            try SignedDataRecovery.recover(
                Array(Self.visaSSAD.dropLast()) + [0x88], key: issuer,
                object: .signedStaticData, format: 0x03))
    }

    func testVisaICCCertificateAndDDASignature() throws {
        let oda = OfflineDataAuthenticator(keys: store, transactionDate: EMVDate(year: 2022, month: 5, day: 6)!)
        var issuerData = visaData()
        issuerData[0x9F32] = [0x03]
        let issuer = try OfflineDataAuthenticator(keys: store, transactionDate: EMVDate(year: 2022, month: 5, day: 6)!)
            .retrieveIssuerKey(rid: h("A000000003"), data: issuerData)
        let x = try SignedDataRecovery.recover(Self.visaICCCert, key: issuer, object: .iccCertificate, format: 0x04)
        let cert = try XCTUnwrap(PublicKeyCertificate.icc(recovered: x))
        XCTAssertEqual(cert.subjectIdentifier, h("4761739001010119FFFF"))
        XCTAssertEqual(cert.rawExpiry, h("1222"))
        XCTAssertEqual(cert.publicKeyLength, 176)
        XCTAssertTrue(cert.needsRemainder)
        XCTAssertFalse(cert.expiry!.hasExpired(on: EMVDate(year: 2022, month: 12, day: 31)!))
        XCTAssertTrue(cert.expiry!.hasExpired(on: EMVDate(year: 2023, month: 1, day: 1)!))
        // The vector's static data is not published, so the ICC key is assembled from the recovered fields.
        let icc = try RSAPublicKey(modulus: cert.keyPart + Self.visaICCRemainder, exponent: [0x03])
        let sdad = try oda.verifySignedDynamicData(Self.visaSDAD, iccKey: icc, terminalDynamicData: h("7FBC4049"))
        XCTAssertEqual(try sdad.iccDynamicNumber(), h("00AE"))
        // Another unpredictable number: the hash fails.
        XCTAssertThrowsError(
            try oda.verifySignedDynamicData(Self.visaSDAD, iccKey: icc, terminalDynamicData: h("7FBC404A"))
        ) { e in
            XCTAssertEqual(e as? ODAFailure, .hashMismatch(.signedDynamicData))
        }
        // emv-utils' invalid_enc_sdad (last byte C8).
        XCTAssertThrowsError(
            try oda.verifySignedDynamicData(
                Array(Self.visaSDAD.dropLast()) + [0xC8], iccKey: icc,
                terminalDynamicData: h("7FBC4049")))
        // Wrong remainder byte: a different key, so the signature does not verify.
        let wrongKey = try RSAPublicKey(
            modulus: cert.keyPart + [0x4E] + Array(Self.visaICCRemainder.dropFirst()), exponent: [0x03])
        XCTAssertThrowsError(
            try oda.verifySignedDynamicData(Self.visaSDAD, iccKey: wrongKey, terminalDynamicData: h("7FBC4049")))
    }

    func testMastercardCDASignature() throws {
        let issuerCert = h(
            "3312205B0EFA6715BA18134BB2168A9CA250D268853506D925DD72B2A2E0CF107518DE182F0089B255B7D70A189D90859E741E7D79BB5D36339B16D9B1508DDBC35E2A3008B923E14417A42E86D3AD0A1AD6DBB394E7BC0BA812F3D4971412DE4997C8B34BA93F3CE0F5AE27E0A052DB57CD7595C467E831041AC2DBEC91E2EC8D27D4EABAA31322B769415B550B8B18E3B05B32CAE7813AB21D8F3B2BFF3741C6AD967AE694800F5B24A20EF78013E4"
        )
        let iccCert = h(
            "1BA49B6A034309AA5212D5D39EA0861983E295DFD0052FB0543E3743E4DF5D0CD44FC3FABBC163727C2E3F64ACD670E4B8F1D5C5A6F9C42D6A02AD24F1D9220661D78489FC89D3D2F017AE0EE080D43F620B863C25470AE8C2632FDA6421D424C29E21653CC56BBBA65F851EBAF1F8C7"
        )
        let iccRemainder = h("0000000000000006600000000000000000000000000000000055")
        let sdad = h(
            "7B9F22B297CCEAD536B87C449EEE744C6971AA0EBDD6B611C88E30FFF0A671CC6D6AC45A5555311E30C466863817EA0AA3D13B54BEA6849976592DFC73DED0BB958D506DF7180FAA7A1FD0540859C0E539035BAB64CE8891353DDD3008A0B446"
        )
        var d = TLVStore()
        d[0x5A] = h("5413330089020011")
        d[0x8F] = [0xF1]
        d[0x90] = issuerCert
        d[0x9F32] = [0x03]
        let oda = OfflineDataAuthenticator(keys: store, transactionDate: EMVDate(year: 2025, month: 5, day: 6)!)
        let issuer = try oda.retrieveIssuerKey(rid: h("A000000004"), data: d)
        XCTAssertEqual(issuer.modulus.count, 112)
        let x = try SignedDataRecovery.recover(iccCert, key: issuer, object: .iccCertificate, format: 0x04)
        let cert = try XCTUnwrap(PublicKeyCertificate.icc(recovered: x))
        XCTAssertEqual(cert.subjectIdentifier, h("5413330089020011FFFF"))
        XCTAssertEqual(cert.rawExpiry, h("1227"))
        XCTAssertEqual(cert.publicKeyLength, 96)
        let icc = try RSAPublicKey(modulus: cert.keyPart + iccRemainder, exponent: [0x03])
        let signed = try oda.verifySignedDynamicData(sdad, iccKey: icc, terminalDynamicData: h("8B55633B"))
        let cda = try CDADynamicData(signed)
        XCTAssertEqual(cda.iccDynamicNumber, h("537EB5E03CC433C8"))
        XCTAssertEqual(cda.cryptogramInformationData, 0x00)  // AAC
        XCTAssertEqual(cda.applicationCryptogram, h("55B6408DBC985131"))
        XCTAssertEqual(cda.transactionDataHashCode, h("A04620C52455EA8F2370647AF36748A2CA4AA9F6"))
        // Last SDAD byte changed to 47: the trailer is no longer BC.
        XCTAssertThrowsError(
            try oda.verifySignedDynamicData(
                Array(sdad.dropLast()) + [0x47], iccKey: icc, terminalDynamicData: h("8B55633B"))
        ) { e in
            guard case .badTrailer(.signedDynamicData, _)? = e as? ODAFailure else { return XCTFail("\(e)") }
        }
    }
}

func h(_ s: String) -> [UInt8] { [UInt8](hex: s)! }
