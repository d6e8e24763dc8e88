import Foundation
import TLV
import XCTest

@testable import ISO8583

final class CodecTests: XCTestCase {
    let ascii = try! ISO8583Codec(spec: .iso87ASCII)
    let bcd = try! ISO8583Codec(spec: .iso87BCD())

    func sample() -> ISOMessage {
        var m = ISOMessage(mti: "0200")
        m[2] = "4761739001010119"
        m[3] = "000000"
        m[4] = "000000001234"
        m[7] = "1126083000"
        m[11] = "000001"
        m[12] = "093000"
        m[13] = "1126"
        m[14] = "2812"
        m[22] = "072"
        m[23] = "001"
        m[25] = "00"
        m[35] = "4761739001010119D28122011000000000000"
        m[37] = "633009000001"
        m[41] = "TAPD0001"
        m[42] = "TAPD00000000001"
        m[49] = "978"
        m.set(
            55,
            bytes: [UInt8](hex: "9F2608AABBCCDDEEFF00119F2701809F100706011203A000009F3704010203049F360200425F2A020978")!
        )
        return m
    }

    /// 0800 echo in iso87-ascii, worked out by hand: bits 1 (secondary), 7, 11, 41 and 70.
    func testByteExactNetworkManagementMessage() throws {
        var m = ISOMessage(mti: "0800")
        m[7] = "1126083000"
        m[11] = "000001"
        m[41] = "TAPD0001"
        m[70] = "301"
        let expected =
            Array("0800".utf8) + [0x82, 0x20, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00] + [0x04, 0, 0, 0, 0, 0, 0, 0]
            + Array("1126083000".utf8) + Array("000001".utf8) + Array("TAPD0001".utf8) + Array("301".utf8)
        XCTAssertEqual(try ascii.pack(m), expected)
        XCTAssertEqual(try ascii.unpack(expected), m)
        // In iso87-bcd: MTI 08 00, DE 7/11/70 packed.
        let b = try bcd.pack(m)
        XCTAssertEqual(Array(b.prefix(2)), [0x08, 0x00])
        XCTAssertEqual(Array(b[18..<23]), [0x11, 0x26, 0x08, 0x30, 0x00])
        XCTAssertEqual(Array(b.suffix(2)), [0x03, 0x01])
        XCTAssertEqual(try bcd.unpack(b), m)
    }

    func testRoundTripsAndPadding() throws {
        let m = sample()
        for codec in [ascii, bcd] {
            XCTAssertEqual(try codec.unpack(try codec.pack(m)), m, codec.spec.name)
        }
        // Fixed numeric fields are zero-padded on the left, fixed text padded with spaces on the right.
        var short = ISOMessage(mti: "0100")
        short[4] = "1234"
        short[41] = "T1"
        let back = try ascii.unpack(try ascii.pack(short))
        XCTAssertEqual(back[4], "000000001234")
        XCTAssertEqual(back[41], "T1      ")
        // Odd-length BCD (PAN of 19 digits, track 2 with D).
        var odd = ISOMessage(mti: "0100")
        odd[2] = "4761739001010119123"
        odd[35] = "4761739001010119123D2812201"
        XCTAssertEqual(try bcd.unpack(try bcd.pack(odd)), odd)
        // TPDU in front of the MTI.
        let tpduCodec = try ISO8583Codec(spec: .iso87BCD(tpdu: [0x60, 0x00, 0x01, 0x00, 0x00]))
        let packed = try tpduCodec.pack(m)
        XCTAssertEqual(Array(packed.prefix(5)), [0x60, 0x00, 0x01, 0x00, 0x00])
        XCTAssertEqual(try tpduCodec.unpack(packed).tpdu, [0x60, 0x00, 0x01, 0x00, 0x00])
    }

    /// Every message tapd sends for the merchant's day, as the builders make it: a refund (0200, processing code 20,
    /// DE 55), a pre-authorisation (0100), its completion (0220), the reconciliation (0500) and a batch upload (0320).
    func merchantDayMessages() -> [ISOMessage] {
        let terminal = TerminalIdentity(
            terminalID: "TAPD0001", merchantID: "TAPD00000000001", acquirerInstitutionID: "123456")
        let at = Date(timeIntervalSince1970: 1_764_000_000)
        var refund = sample()
        refund[3] = "200000"
        var preauth = sample()
        preauth.mti = "0100"
        let completion = Messages.completion(
            of: Messages.stripped(preauth), amount: 1500, approvalCode: "000042", stan: "000043", at: at)
        let totals = Messages.ReconciliationTotals(
            credits: 1, creditsAmount: 400, creditReversals: 0, creditReversalsAmount: 0, debits: 3,
            debitsAmount: 13_734, debitReversals: 1, debitReversalsAmount: 1234)
        let reconciliation = Messages.reconciliation(
            totals, batch: 7, batchField: 60, processingCode: "920000", terminal: terminal, stan: "000044", at: at)
        let upload = Messages.batchUpload(
            original: Messages.stripped(refund), amount: 400, approvalCode: "000040", responseCode: "00", batch: 7,
            batchField: 60, stan: "000045", at: at)
        return [refund, preauth, completion, reconciliation, upload]
    }

    func testTheMerchantsDayMessages() throws {
        let m = merchantDayMessages()
        XCTAssertEqual(m.map(\.mti), ["0200", "0100", "0220", "0500", "0320"])
        XCTAssertEqual(m[2][90]?.prefix(10), "0100000001", "the completion names the authorisation")
        XCTAssertEqual(m[3][97], "D0000000000012100", "net: 13734 − 1234 − 400, debits outweigh credits")
        XCTAssertEqual(m[3][60], "000007")
        XCTAssertEqual(Messages.ReconciliationTotals(m[3])?.debits, 3)
        XCTAssertNil(m[4][35], "no track 2 in a batch upload")
        XCTAssertNil(m[4].bytes(55), "no chip data in a batch upload")
        XCTAssertEqual(m[4][90]?.prefix(10), "0200000001")
        XCTAssertEqual(m[3].responseMTI, "0510")
        XCTAssertEqual(m[4].responseMTI, "0330")
        var credit = Messages.ReconciliationTotals(m[3])!
        credit.creditsAmount = 99_999
        XCTAssertEqual(credit.netField.first, "C", "credits outweighing debits")
    }

    func testCrossCheckWithPyISO8583() throws {
        for (codec, profile) in [(ascii, "iso87-ascii"), (bcd, "iso87-bcd")] {
            for m in [sample()] + merchantDayMessages() { try crossCheck(m, codec, profile) }
        }
    }

    func crossCheck(_ m: ISOMessage, _ codec: ISO8583Codec, _ profile: String) throws {
        do {
            // tapd → pyiso8583
            let decoded = try Python.run(["decode", profile, Hex.encode(try codec.pack(m))])
            let doc = try JSONSerialization.jsonObject(with: Data(decoded.utf8)) as! [String: Any]
            XCTAssertEqual(doc["t"] as? String, m.mti, profile)
            let fields = doc["fields"] as! [String: String]
            for n in m.presentFields {
                let expected = n == 55 ? Hex.encode(m.bytes(55)!) : m[n]!
                XCTAssertEqual(fields[String(n)], expected, "\(profile) DE \(n)")
            }
            XCTAssertEqual(fields.count, m.presentFields.count, profile)
            // pyiso8583 → tapd
            var f: [String: String] = [:]
            for n in m.presentFields { f[String(n)] = n == 55 ? Hex.encode(m.bytes(55)!) : m[n]! }
            let json = String(
                decoding: try JSONSerialization.data(withJSONObject: ["t": m.mti, "fields": f]), as: UTF8.self)
            let hex = try Python.run(["encode", profile], input: json)
            XCTAssertEqual(
                try codec.unpack([UInt8](hex: hex.trimmingCharacters(in: .whitespacesAndNewlines))!), m, profile)
        }
    }

    func testMalformedInputIsRejectedWithFieldAndOffset() throws {
        let good = try ascii.pack(sample())
        func fails(_ b: [UInt8], field: Int?, contains: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try ascii.unpack(b), file: file, line: line) { e in
                guard let e = e as? ISO8583Error else { return XCTFail("\(e)", file: file, line: line) }
                XCTAssertEqual(e.field, field, "\(e)", file: file, line: line)
                XCTAssertTrue(e.description.contains(contains), e.description, file: file, line: line)
            }
        }
        fails(Array(good.prefix(3)), field: 0, contains: "truncated MTI")
        fails(Array("02X0".utf8) + good.dropFirst(4), field: 0, contains: "MTI")
        fails(Array(good.prefix(10)), field: 1, contains: "truncated primary bitmap")
        fails(Array(good.dropLast(5)), field: 55, contains: "remain")
        fails(good + [0x00], field: nil, contains: "after the last field")
        // A non-digit in DE 2's length prefix, and in DE 3.
        var badLen = good
        badLen[12] = 0x41
        fails(badLen, field: 2, contains: "length prefix")
        var badDigit = good
        badDigit[12 + 2 + 16] = 0x41
        fails(badDigit, field: 3, contains: "not numeric")
        // DE 2 announcing 20 digits (max 19).
        var tooLong = good
        tooLong[12] = 0x32
        tooLong[13] = 0x30
        fails(tooLong, field: 2, contains: "exceeds the maximum")
        // A field in the bitmap the spec does not know (DE 8).
        var unknown = good
        unknown[4] |= 0x01
        fails(unknown, field: 8, contains: "not defined")
        // Tertiary bitmap bit.
        var m = sample()
        m[70] = "301"
        var tertiary = try ascii.pack(m)
        tertiary[12] |= 0x80
        fails(tertiary, field: 65, contains: "tertiary")
        // Oversized message.
        fails([UInt8](repeating: 0x30, count: 9000), field: nil, contains: "exceeds")
        // Packing refuses what cannot be encoded and names the field, never the value.
        var bad = ISOMessage(mti: "0200")
        bad[4] = "12AB"
        XCTAssertThrowsError(try ascii.pack(bad)) { XCTAssertEqual(($0 as? ISO8583Error)?.field, 4) }
        var pan = ISOMessage(mti: "0200")
        pan[2] = "47617390010101191234"
        XCTAssertThrowsError(try ascii.pack(pan)) { e in
            XCTAssertFalse("\(e)".contains("4761739001010119"), "a PAN in an error message")
        }
    }

    func testDescriptionMasksCardData() {
        let d = "\(sample())"
        XCTAssertTrue(d.contains("DE2=476173******0119"), d)
        XCTAssertFalse(d.contains("4761739001010119"), "full PAN in a message description")
        XCTAssertTrue(d.contains("DE35=<37 masked>"))
    }

    func testFraming() throws {
        let body: [UInt8] = [1, 2, 3]
        XCTAssertEqual(try ISOFraming.frame(body, .twoByteBinary), [0, 3, 1, 2, 3])
        XCTAssertEqual(try ISOFraming.frame(body, .twoByteBCD), [0x00, 0x03, 1, 2, 3])
        XCTAssertEqual(try ISOFraming.frame(body, .fourByteASCII), Array("0003".utf8) + body)
        XCTAssertEqual(try ISOFraming.bodyLength([0x01, 0x00], .twoByteBinary, max: 8192), 256)
        XCTAssertNil(try ISOFraming.bodyLength([0x01], .twoByteBinary, max: 8192))
        XCTAssertThrowsError(try ISOFraming.bodyLength([0xFF, 0xFF], .twoByteBinary, max: 8192))
        XCTAssertThrowsError(try ISOFraming.bodyLength([0x00, 0x00], .twoByteBinary, max: 8192))
        XCTAssertThrowsError(try ISOFraming.bodyLength([0x1A, 0x00], .twoByteBCD, max: 8192))
        XCTAssertThrowsError(try ISOFraming.bodyLength(Array("00A0".utf8), .fourByteASCII, max: 8192))
    }

    func testSpecsLoadFromJSON() throws {
        let spec = try JSONDecoder().decode(MessageSpec.self, from: try JSONEncoder().encode(MessageSpec.iso87ASCII))
        XCTAssertEqual(spec.fields.count, MessageSpec.iso87ASCII.fields.count)
        let custom =
            #"{"name":"tiny","mtiEncoding":"ascii","bitmapEncoding":"hex","framing":"4-ascii","maxMessageLength":512,"#
            + #""fields":[{"number":3,"type":"n","length":6,"encoding":"ascii"},{"number":48,"type":"ans","length":99,"lengthType":"LL","encoding":"ebcdic","lengthEncoding":"ebcdic"}]}"#
        let c = try ISO8583Codec(spec: try JSONDecoder().decode(MessageSpec.self, from: Data(custom.utf8)))
        var m = ISOMessage(mti: "0100")
        m[3] = "000000"
        m[48] = "Hello, World"
        let packed = try c.pack(m)
        XCTAssertEqual(Array(packed.prefix(20)), Array("0100".utf8) + Array("2000000000010000".utf8))
        XCTAssertEqual(try c.unpack(packed), m)
        XCTAssertThrowsError(
            try JSONDecoder().decode(
                MessageSpec.self,
                from: Data(
                    #"{"name":"x","mtiEncoding":"ascii","bitmapEncoding":"binary","framing":"none","maxMessageLength":10,"fields":[{"number":1,"type":"n","length":6,"encoding":"ascii"}]}"#
                        .utf8)))
        XCTAssertThrowsError(
            try ISO8583Codec(
                spec: MessageSpec(
                    name: "bad", mtiEncoding: .ascii, bitmapEncoding: .binary, framing: .none,
                    fields: [FieldSpec(3, "x", .b, 6, encoding: .ascii)])))
    }
}

final class MessageTests: XCTestCase {
    let terminal = TerminalIdentity(
        terminalID: "TAPD0001", merchantID: "TAPD00000000001", acquirerInstitutionID: "123456")

    func transaction() -> CardTransaction {
        var store = TLVStore()
        store[0x9F26] = [1, 2, 3, 4, 5, 6, 7, 8]
        store[0x9F27] = [0x80]
        store[0x9F36] = [0, 0x42]
        store[0x95] = [0, 0, 0, 0, 0]
        store[0x9F02] = [0, 0, 0, 0, 0x12, 0x34]
        store[0x5F2A] = [0x09, 0x78]
        store[0x5A] = [0x47, 0x61]
        return CardTransaction(
            pan: "4761739001010119", track2: "4761739001010119D2812201", expiry: "2812", panSequenceNumber: "001",
            amount: 1234, currencyCode: 978, iccData: ICCData.build { store[$0] })
    }

    func testDE55BuildsTheRequestTagsOnly() throws {
        let t = transaction()
        let tags = try TLVParser.parse(t.iccData).map(\.tag)
        XCTAssertEqual(
            tags,
            [0x9F26, 0x9F27, 0x95, 0x9F36, 0x9F02, 0x5F2A].sorted {
                ICCData.requestTags.firstIndex(of: $0)! < ICCData.requestTags.firstIndex(of: $1)!
            })
        XCTAssertFalse(tags.contains(0x5A), "the PAN travels in DE 2, not DE 55")
        let r = try ICCData.parseResponse([UInt8](hex: "910A0102030405060708303072079F180400000001" + "8A023030")!)
        XCTAssertEqual(r.issuerAuthenticationData?.count, 10)
        XCTAssertEqual(r.scripts.count, 1)
        XCTAssertEqual(r.authorisationResponseCode, Array("00".utf8))
        XCTAssertThrowsError(try ICCData.parseResponse([0x91, 0x02, 0x01, 0x02]), "ARPC too short")
        XCTAssertThrowsError(try ICCData.parseResponse([0x91, 0x7F]))
    }

    func testRequestReversalAdviceAndEcho() throws {
        let date = Date(timeIntervalSince1970: 1_795_000_000)
        var stan = STAN(999_998)
        let s1 = stan.next()
        let s2 = stan.next()
        XCTAssertEqual([s1, s2], ["999999", "000001"], "STAN rolls over to 000001")
        let rrn = Messages.retrievalReferenceNumber(stan: s1, at: date)
        XCTAssertEqual(rrn.count, 12)
        let req = Messages.request("0200", transaction(), terminal: terminal, stan: s1, rrn: rrn, at: date)
        XCTAssertEqual(req[4], "000000001234")
        XCTAssertEqual(req[22], "072")
        XCTAssertEqual(req[7]?.count, 10)
        XCTAssertEqual(req.responseMTI, "0210")
        let rev = Messages.reversal(of: req)
        XCTAssertEqual(rev.mti, "0400")
        XCTAssertEqual(rev[11], req[11], "a reversal keeps the original STAN")
        XCTAssertEqual(rev[37], req[37])
        XCTAssertEqual(rev[90], "0200" + s1 + req[7]! + "00000123456" + "00000000000")
        XCTAssertEqual(rev[90]?.count, 42)
        XCTAssertNotEqual(rev.matchKey, req.matchKey, "the reversal's answer must not match the request")
        XCTAssertEqual(Messages.repeatMTI(Messages.reversal(of: req, mti: "0420")).mti, "0421")
        let adv = Messages.advice(transaction(), terminal: terminal, stan: s2, rrn: rrn, at: date)
        XCTAssertEqual(adv.mti, "0220")
        XCTAssertEqual(adv[39], "Y1")
        XCTAssertEqual(adv.responseMTI, "0230")
        let echo = Messages.networkManagement(terminal: terminal, stan: s2, at: date)
        XCTAssertEqual(echo[70], "301")
        XCTAssertEqual(echo.responseMTI, "0810")
        let codec = try ISO8583Codec(spec: .iso87ASCII)
        for m in [req, rev, adv, echo] { XCTAssertEqual(try codec.unpack(try codec.pack(m)), m, m.mti) }
    }

    func testAnswers() throws {
        var ok = ISOMessage(mti: "0210")
        ok[39] = "00"
        ok[38] = "A1B2C3"
        ok.set(55, bytes: [UInt8](hex: "910A00112233445566773030")!)
        let r = try AuthorizationResponse(ok)
        XCTAssertTrue(r.isApproved)
        XCTAssertEqual(r.approvalCode, "A1B2C3")
        XCTAssertNotNil(r.icc?.issuerAuthenticationData)
        var declined = ISOMessage(mti: "0210")
        declined[39] = "51"
        XCTAssertFalse(try AuthorizationResponse(declined).isApproved)
        XCTAssertThrowsError(try AuthorizationResponse(ISOMessage(mti: "0210")), "no DE 39")
        var badICC = ok
        badICC.set(55, bytes: [0x91, 0x20, 0x00])
        XCTAssertThrowsError(try AuthorizationResponse(badICC))
    }
}

/// Runs the pyiso8583 cross-check script (installed by `make test`'s dependency step).
enum Python {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "crosscheck.py"
    ).path

    static func run(_ args: [String], input: String? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script] + args
        let out = Pipe()
        let err = Pipe()
        let inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let input { inp.fileHandleForWriting.write(Data(input.utf8)) }
        try inp.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(
                domain: "crosscheck", code: Int(p.terminationStatus),
                userInfo: [
                    NSLocalizedDescriptionKey: "pyiso8583 cross-check failed (pip install pyiso8583): "
                        + String(decoding: e, as: UTF8.self)
                ])
        }
        return String(decoding: data, as: UTF8.self)
    }
}
