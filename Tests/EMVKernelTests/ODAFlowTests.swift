// Whole SDA, DDA, fDDA and CDA verifications against card data signed by the simulators' test PKI, with the
// failures each step must catch. The PKI is generated once per test run (RSA keys made for the purpose).

import APDU
import EMVCrypto
import Simulators
import TLV
import XCTest

@testable import EMVKernel

final class ODAFlowTests: XCTestCase {
    static let rid = h("A000000003")
    static let pki = try! TestPKI(rid: rid, caIndex: 0xF0)
    static let pan = "4761739001010119"
    static let date = EMVDate(year: 2026, month: 11, day: 26)!

    /// Records as a card would hold them: SFI 1 record 1 (ODA) and SFI 2 record 1 (not ODA).
    static let record1 = TLV(
        tag: 0x70,
        children: [
            TLV(tag: 0x5A, value: BCD.packDigits(pan)!),
            TLV(tag: 0x5F24, value: h("281231")),
            TLV(tag: 0x9F07, value: h("FF00")),
        ]
    ).encoded

    var keys = CAKeyStore()

    override func setUpWithError() throws {
        keys = CAKeyStore()
        try Self.pki.register(in: &keys)
    }

    /// Builds the card's ODA data: certificates over `staticData`, optionally broken by `tamper`.
    func cardData(
        staticData: [UInt8], iccExpiry: [UInt8] = h("1228"), certPAN: String = pan,
        iccKey: EMVSigner? = nil
    ) throws -> TLVStore {
        let p = Self.pki
        let icc = iccKey ?? p.icc
        let (ic, ir) = try p.ca.issuerCertificate(
            for: p.issuer.publicKey, issuerIdentifier: "476173", expiryMMYY: h("1229"))
        let (cc, cr) = try p.issuer.iccCertificate(
            for: icc.publicKey, pan: certPAN, expiryMMYY: iccExpiry, staticData: staticData)
        var d = TLVStore()
        d[0x5A] = BCD.packDigits(Self.pan)
        d[0x8F] = [p.caIndex]
        d[0x90] = ic
        if !ir.isEmpty { d[0x92] = ir }
        d[0x9F32] = p.issuer.publicKey.exponent
        d[0x9F46] = cc
        if !cr.isEmpty { d[0x9F48] = cr }
        d[0x9F47] = icc.publicKey.exponent
        d[0x82] = h("3900")
        return d
    }

    func staticData(aip: Bool = false) -> [UInt8] {
        var s = StaticDataToBeAuthenticated()
        s.add(record: Self.record1, sfi: 1, recordNumber: 1)
        return try! s.finish(sdaTagList: aip ? [0x82] : nil, aip: h("3900")).get()
    }

    var oda: OfflineDataAuthenticator { OfflineDataAuthenticator(keys: keys, transactionDate: Self.date) }

    // MARK: SDA

    func testSDA() throws {
        let sd = staticData(aip: true)
        var d = try cardData(staticData: sd)
        d[0x93] = try Self.pki.issuer.signedStaticData(dataAuthenticationCode: h("BEEF"), staticData: sd)
        let ok = oda.performSDA(rid: Self.rid, data: d, staticData: sd)
        XCTAssertNil(ok.failure)
        XCTAssertEqual(ok.dataAuthenticationCode, h("BEEF"))
        var tvr = TerminalVerificationResults()
        ok.apply(to: &tvr)
        XCTAssertEqual(tvr.bytes, [0x02, 0, 0, 0, 0], "SDA selected, nothing failed")

        // Records changed after signing: hash mismatch, TVR "SDA failed".
        let other = sd + [0x00]
        let bad = oda.performSDA(rid: Self.rid, data: d, staticData: other)
        XCTAssertEqual(bad.failure, .hashMismatch(.signedStaticData))
        var tvr2 = TerminalVerificationResults()
        bad.apply(to: &tvr2)
        XCTAssertTrue(tvr2.isSet(.sdaFailed))
        XCTAssertTrue(tvr2.isSet(.sdaSelected))
    }

    func testStaticDataRules() throws {
        // SFI 1–10: value of the 70 template only; SFI 11+: the whole record.
        var s = StaticDataToBeAuthenticated()
        s.add(record: Self.record1, sfi: 1, recordNumber: 1)
        s.add(record: Self.record1, sfi: 11, recordNumber: 1)
        let v = try s.finish(sdaTagList: nil, aip: nil).get()
        XCTAssertEqual(v, Array(try TLVParser.parseOne(Self.record1).value) + Self.record1)
        // A record that is not a 70 template fails ODA (emv-utils' "template 71 instead of 70").
        var t = StaticDataToBeAuthenticated()
        t.add(record: TLV(tag: 0x71, children: [TLV(tag: 0x5A, value: [1])]).encoded, sfi: 2, recordNumber: 3)
        XCTAssertEqual(t.finish(sdaTagList: nil, aip: nil), .failure(.staticDataRecordNotTemplate70(sfi: 2, record: 3)))
        // The SDA Tag List may name only the AIP.
        XCTAssertEqual(
            StaticDataToBeAuthenticated().finish(sdaTagList: h("829F02"), aip: h("3900")), .failure(.sdaTagListInvalid))
    }

    // MARK: DDA

    func testDDAWithFormat1AndFormat2Responses() throws {
        let sd = staticData()
        let d = try cardData(staticData: sd)
        let ddol = h("11223344")
        let sdad = try Self.pki.icc.signedDynamicData(iccDynamicData: [0x04] + h("CAFEBABE"), terminalDynamicData: ddol)
        for response in [
            TLV(tag: 0x80, value: sdad).encoded,
            TLV(tag: 0x77, children: [TLV(tag: 0x9F4B, value: sdad)]).encoded,
        ] {
            let r = oda.performDDA(
                rid: Self.rid, data: d, staticData: sd, ddolData: ddol, internalAuthenticateResponse: response)
            XCTAssertNil(r.failure)
            XCTAssertEqual(r.iccDynamicNumber, h("CAFEBABE"))
        }
        // Replayed signature for another challenge.
        let replay = oda.performDDA(
            rid: Self.rid, data: d, staticData: sd, ddolData: h("11223345"),
            internalAuthenticateResponse: TLV(tag: 0x80, value: sdad).encoded)
        XCTAssertEqual(replay.failure, .hashMismatch(.signedDynamicData))
    }

    func testDDAFailuresNameTheStep() throws {
        let sd = staticData()
        let ddol = h("11223344")
        let sdad = try Self.pki.icc.signedDynamicData(iccDynamicData: [0x02, 0x00, 0x01], terminalDynamicData: ddol)
        let resp = TLV(tag: 0x80, value: sdad).encoded

        // Expired ICC certificate (10/2026 on 2026-11-26).
        let expired = try cardData(staticData: sd, iccExpiry: h("1026"))
        XCTAssertEqual(
            oda.performDDA(
                rid: Self.rid, data: expired, staticData: sd, ddolData: ddol, internalAuthenticateResponse: resp
            ).failure,
            .certificateExpired(.iccCertificate, "10/2026"))
        // Valid through the end of its month.
        let endOfMonth = try cardData(staticData: sd, iccExpiry: h("1126"))
        XCTAssertNil(
            oda.performDDA(
                rid: Self.rid, data: endOfMonth, staticData: sd, ddolData: ddol, internalAuthenticateResponse: resp
            ).failure)
        // Certificate for another PAN.
        let otherPAN = try cardData(staticData: sd, certPAN: "4761739001010127")
        XCTAssertEqual(
            oda.performDDA(
                rid: Self.rid, data: otherPAN, staticData: sd, ddolData: ddol, internalAuthenticateResponse: resp
            ).failure,
            .panMismatch)
        // Static data changed: the ICC certificate hash fails.
        let good = try cardData(staticData: sd)
        XCTAssertEqual(
            oda.performDDA(
                rid: Self.rid, data: good, staticData: sd + [1], ddolData: ddol, internalAuthenticateResponse: resp
            ).failure,
            .hashMismatch(.iccCertificate))
        // Tampered signature byte.
        var tampered = sdad
        tampered[10] ^= 0x01
        let t = oda.performDDA(
            rid: Self.rid, data: good, staticData: sd, ddolData: ddol,
            internalAuthenticateResponse: TLV(tag: 0x80, value: tampered).encoded)
        XCTAssertNotNil(t.failure)
        // Missing ICC certificate → ICC data missing.
        var missing = good
        missing[0x9F46] = nil
        let m = oda.performDDA(
            rid: Self.rid, data: missing, staticData: sd, ddolData: ddol, internalAuthenticateResponse: resp)
        XCTAssertEqual(m.failure, .missingData(0x9F46))
        var tvr = TerminalVerificationResults()
        m.apply(to: &tvr)
        XCTAssertEqual(tvr.bytes, [0x28, 0, 0, 0, 0], "ICC data missing + DDA failed")
        // A signature that is shorter than the ICC modulus.
        XCTAssertEqual(
            oda.performDDA(
                rid: Self.rid, data: good, staticData: sd, ddolData: ddol,
                internalAuthenticateResponse: TLV(tag: 0x80, value: Array(sdad.dropLast())).encoded
            ).failure,
            .wrongLength(.signedDynamicData, expected: sdad.count, actual: sdad.count - 1))
        // The issuer certificate signed by a different CA than the one the card names.
        let impostor = try TestPKI(
            rid: Self.rid, caIndex: 0xF0, ca: try .generate(bits: 1408), issuer: Self.pki.issuer, icc: Self.pki.icc)
        let (forged, _) = try impostor.ca.issuerCertificate(
            for: Self.pki.issuer.publicKey, issuerIdentifier: "476173", expiryMMYY: h("1229"))
        var forgedData = good
        forgedData[0x90] = forged
        XCTAssertNotNil(
            oda.performDDA(
                rid: Self.rid, data: forgedData, staticData: sd, ddolData: ddol, internalAuthenticateResponse: resp
            ).failure)
    }

    // MARK: fDDA

    func fddaData(
        sd: [UInt8], dynamic: [UInt8], cardAuthData: [UInt8]? = h("0112345678"), atc: [UInt8] = h("0042"),
        signWith terminal: [UInt8]? = nil, format: UInt8 = 0x05
    ) throws -> TLVStore {
        var d = try cardData(staticData: sd)
        d[0x9F37] = h("A1B2C3D4")
        d[0x9F02] = h("000000001234")
        d[0x5F2A] = h("0978")
        if let cardAuthData { d[0x9F69] = cardAuthData }
        d[0x9F36] = atc
        let termData =
            terminal
            ?? (cardAuthData == nil ? h("A1B2C3D4") : h("A1B2C3D4") + h("000000001234") + h("0978") + cardAuthData!)
        d[0x9F4B] = try Self.pki.icc.signedDynamicData(
            iccDynamicData: dynamic, terminalDynamicData: termData, format: format)
        return d
    }

    /// Book C-3 Annex C: the fDDA Signed Data Format is 05 or 95 (the format genuine phones sign with); any other
    /// format byte fails.
    func testBookC3AnnexC_fDDASignedDataFormat05Or95() throws {
        let sd = staticData(aip: true)
        for format: UInt8 in [0x05, 0x95] {
            let r = oda.performFDDA(
                rid: Self.rid, data: try fddaData(sd: sd, dynamic: [0x02] + h("0042"), format: format), staticData: sd)
            XCTAssertNil(r.failure, "format \(Hex.encode([format]))")
        }
        let bad = oda.performFDDA(
            rid: Self.rid, data: try fddaData(sd: sd, dynamic: [0x02] + h("0042"), format: 0x15), staticData: sd)
        XCTAssertEqual(bad.failure, .wrongFormat(.signedDynamicData, 0x15))
        // DDA (Book 2 Table 17) keeps format 05 only.
        let ddaKeyData = try fddaData(sd: sd, dynamic: [0x02] + h("0042"), signWith: h("A1B2C3D4"), format: 0x95)
        let dda = oda.performDDA(
            rid: Self.rid, data: ddaKeyData, staticData: sd, ddolData: h("A1B2C3D4"),
            internalAuthenticateResponse: TLV(tag: 0x80, value: ddaKeyData[0x9F4B]!).encoded)
        XCTAssertEqual(dda.failure, .wrongFormat(.signedDynamicData, 0x95))
    }

    func testFDDA() throws {
        let sd = staticData(aip: true)
        // ICC dynamic data: length and ICC Dynamic Number (genuine cards put the ATC there).
        let ok = oda.performFDDA(rid: Self.rid, data: try fddaData(sd: sd, dynamic: [0x02] + h("0042")), staticData: sd)
        XCTAssertNil(ok.failure)
        XCTAssertEqual(ok.iccDynamicNumber, h("0042"))
        // Amount changed after the card signed: hash mismatch (the amount is in the signed terminal data).
        var changed = try fddaData(sd: sd, dynamic: [0x02] + h("0102") + h("0042"))
        changed[0x9F02] = h("000000009999")
        XCTAssertEqual(
            oda.performFDDA(rid: Self.rid, data: changed, staticData: sd).failure, .hashMismatch(.signedDynamicData))
        // fDDA version other than 01.
        let v2 = oda.performFDDA(
            rid: Self.rid, data: try fddaData(sd: sd, dynamic: [0x02] + h("0102"), cardAuthData: h("0212345678")),
            staticData: sd)
        XCTAssertEqual(v2.failure, .unsupportedFDDAVersion(0x02))
        // Without 9F69 (fDDA version 00, Book C-3 Table C-1): the UN only.
        let v0 = oda.performFDDA(
            rid: Self.rid, data: try fddaData(sd: sd, dynamic: [0x02] + h("0102"), cardAuthData: nil), staticData: sd)
        XCTAssertNil(v0.failure)
        // No signature at all.
        var none = try fddaData(sd: sd, dynamic: [0x02] + h("0102"))
        none[0x9F4B] = nil
        XCTAssertEqual(oda.performFDDA(rid: Self.rid, data: none, staticData: sd).failure, .missingData(0x9F4B))
    }

    /// Phones differ from plastic: 8-byte dynamic numbers, extra dynamic data after the ATC, ICC keys as long as
    /// the issuer's (remainder needed) and exponent 65537. All of these are genuine and must pass.
    func testPhoneVariantsAreAccepted() throws {
        let sd = staticData(aip: true)
        let longKey = try EMVSigner.generate(bits: 1152, exponent: 65537)
        var d = try cardData(staticData: sd, iccKey: longKey)
        XCTAssertNotNil(d[0x9F48], "the ICC key needs a remainder")
        d[0x9F37] = h("A1B2C3D4")
        d[0x9F02] = h("000000001234")
        d[0x5F2A] = h("0978")
        d[0x9F69] = h("0112345678")
        d[0x9F36] = h("0007")
        let dynamic = [0x08] + h("0102030405060708") + h("0007") + h("5A5A5A")
        d[0x9F4B] = try longKey.signedDynamicData(
            iccDynamicData: dynamic,
            terminalDynamicData: h("A1B2C3D4") + h("000000001234") + h("0978") + h("0112345678"))
        let r = oda.performFDDA(rid: Self.rid, data: d, staticData: sd)
        XCTAssertNil(r.failure)
        XCTAssertEqual(r.iccDynamicNumber, h("0102030405060708"))
    }

    // MARK: CDA

    func cdaResponse(
        cid: UInt8, signedCID: UInt8? = nil, ac: [UInt8], pdol: [UInt8], cdol: [UInt8], un: [UInt8],
        tamperTDHC: Bool = false, longLength: Bool = false
    ) throws -> [UInt8] {
        // The objects other than 9F4B, as the card sends them (one with a long-form length to prove the raw bytes count).
        let atc = TLV(tag: 0x9F36, value: h("0042")).encoded
        let cidObj = TLV(tag: 0x9F27, value: [cid]).encoded
        let iad: [UInt8] =
            longLength
            ? h("9F10") + [0x81, 0x07] + h("06011203A00000") : TLV(tag: 0x9F10, value: h("06011203A00000")).encoded
        var tdhc = Digest.sha1(pdol + cdol + cidObj + atc + iad)
        if tamperTDHC { tdhc[0] ^= 1 }
        let dynamic = [0x08] + h("1122334455667788") + [signedCID ?? cid] + ac + tdhc
        let sdad = try Self.pki.icc.signedDynamicData(iccDynamicData: dynamic, terminalDynamicData: un)
        let body = cidObj + atc + TLV(tag: 0x9F4B, value: sdad).encoded + iad
        var out: [UInt8] = [0x77]
        TLV.appendLength(body.count, to: &out)
        return out + body
    }

    func testCDA() throws {
        let sd = staticData(aip: true)
        let d = try cardData(staticData: sd)
        let pdol = h("000000001234")
        let cdol = h("0000000012340978A1B2C3D4")
        let un = h("A1B2C3D4")
        for long in [false, true] {
            let resp = try cdaResponse(
                cid: 0x80, ac: h("0102030405060708"), pdol: pdol, cdol: cdol, un: un, longLength: long)
            let r = oda.performCDA(
                rid: Self.rid, data: d, staticData: sd, pdolData: pdol, cdolData: cdol, generateACResponse: resp, un: un
            )
            XCTAssertNil(r.failure, "long-form length: \(long)")
            XCTAssertEqual(r.cryptogram, h("0102030405060708"))
            XCTAssertEqual(r.cryptogramInformationData, 0x80)
            XCTAssertEqual(r.iccDynamicNumber, h("1122334455667788"))
        }
        // CID in the signature differs from the one returned.
        let cidResp = try cdaResponse(
            cid: 0x40, signedCID: 0x80, ac: h("0102030405060708"), pdol: pdol, cdol: cdol, un: un)
        XCTAssertEqual(
            oda.performCDA(
                rid: Self.rid, data: d, staticData: sd, pdolData: pdol, cdolData: cdol, generateACResponse: cidResp,
                un: un
            ).failure,
            .cryptogramInformationMismatch)
        // Transaction data changed after signing (e.g. CDOL data differs from what the card saw).
        let resp = try cdaResponse(cid: 0x80, ac: h("0102030405060708"), pdol: pdol, cdol: cdol, un: un)
        XCTAssertEqual(
            oda.performCDA(
                rid: Self.rid, data: d, staticData: sd, pdolData: pdol, cdolData: h("0000000099990978A1B2C3D4"),
                generateACResponse: resp, un: un
            ).failure, .hashMismatch(.signedDynamicData))
        let tdhcResp = try cdaResponse(
            cid: 0x80, ac: h("0102030405060708"), pdol: pdol, cdol: cdol, un: un, tamperTDHC: true)
        XCTAssertEqual(
            oda.performCDA(
                rid: Self.rid, data: d, staticData: sd, pdolData: pdol, cdolData: cdol, generateACResponse: tdhcResp,
                un: un
            ).failure,
            .hashMismatch(.signedDynamicData))
        // Another unpredictable number: the signature's own hash fails.
        XCTAssertEqual(
            oda.performCDA(
                rid: Self.rid, data: d, staticData: sd, pdolData: pdol, cdolData: cdol, generateACResponse: resp,
                un: h("A1B2C3D5")
            ).failure,
            .hashMismatch(.signedDynamicData))
        // Format 1 response when CDA was requested.
        let f1 = TLV(tag: 0x80, value: h("8000420102030405060708")).encoded
        let r1 = oda.performCDA(
            rid: Self.rid, data: d, staticData: sd, pdolData: pdol, cdolData: cdol, generateACResponse: f1, un: un)
        XCTAssertEqual(r1.failure, .formatOneResponseWithCDA)
        var tvr = TerminalVerificationResults()
        r1.apply(to: &tvr)
        XCTAssertTrue(tvr.isSet(.cdaFailed))
        // Garbage instead of a response.
        XCTAssertNotNil(
            oda.performCDA(
                rid: Self.rid, data: d, staticData: sd, pdolData: pdol, cdolData: cdol, generateACResponse: h("77FF01"),
                un: un
            ).failure)
    }
}
