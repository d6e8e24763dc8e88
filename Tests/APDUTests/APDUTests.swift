import TLV
import XCTest

@testable import APDU

final class CommandEncodingTests: XCTestCase {
    func testShortAndExtendedCases() throws {
        XCTAssertEqual(try CommandAPDU(cla: 0, ins: 0x84, p1: 0, p2: 0).encoded().hex, "00840000")  // case 1
        // case 2S
        XCTAssertEqual(try CommandAPDU(cla: 0, ins: 0x84, p1: 0, p2: 0, le: 256).encoded().hex, "0084000000")
        // case 3S
        XCTAssertEqual(try CommandAPDU(cla: 0, ins: 0x88, p1: 0, p2: 0, data: [1, 2]).encoded().hex, "00880000020102")
        XCTAssertEqual(
            // 4S
            try CommandAPDU.select(name: [0xA0, 0, 0, 0, 3, 0x10, 0x10]).encoded().hex, "00A4040007A000000003101000")
        let big = [UInt8](repeating: 0xAB, count: 300)
        let ext = try CommandAPDU(cla: 0x80, ins: 0xAE, p1: 0x80, p2: 0, data: big, le: 65536).encoded()
        XCTAssertEqual(Array(ext.prefix(7)), [0x80, 0xAE, 0x80, 0x00, 0x00, 0x01, 0x2C])  // case 4E
        XCTAssertEqual(Array(ext.suffix(2)), [0x00, 0x00])
        // case 2E
        XCTAssertEqual(try CommandAPDU(cla: 0, ins: 0xB0, p1: 0, p2: 0, le: 1000).encoded().hex, "00B00000" + "0003E8")
        XCTAssertThrowsError(
            try CommandAPDU(cla: 0, ins: 0, p1: 0, p2: 0, data: [UInt8](repeating: 0, count: 70000)).encoded())
    }

    func testParseRoundTrip() throws {
        for c in [
            CommandAPDU.getChallenge, .select(name: CommandAPDU.ppseName), .readRecord(sfi: 2, record: 3),
            .getProcessingOptions(pdolData: [UInt8](repeating: 1, count: 200)),
            CommandAPDU(cla: 0x80, ins: 0xAE, p1: 0x90, p2: 0, data: [UInt8](repeating: 2, count: 400), le: 65536),
            CommandAPDU(cla: 0, ins: 0xB0, p1: 0, p2: 0, le: 1000),
        ] {
            XCTAssertEqual(CommandAPDU(bytes: try c.encoded()), c)
        }
        XCTAssertNil(CommandAPDU(bytes: [0, 0xA4, 4]))
        XCTAssertNil(CommandAPDU(bytes: [0, 0xA4, 4, 0, 5, 1, 2]), "Lc larger than the data")
    }

    func testEMVCommands() throws {
        XCTAssertEqual(try CommandAPDU.readRecord(sfi: 1, record: 1).encoded().hex, "00B2010C00")
        XCTAssertEqual(try CommandAPDU.getProcessingOptions(pdolData: []).encoded().hex, "80A80000028300" + "00")
        XCTAssertEqual(try CommandAPDU.generateAC(.arqc, cda: true, cdolData: [1]).encoded().hex, "80AE90000101" + "00")
        XCTAssertEqual(try CommandAPDU.getData(tag: 0x9F36).encoded().hex, "80CA9F3600")
        XCTAssertEqual(
            try CommandAPDU.exchangeRelayResistanceData(entropy: [1, 2, 3, 4]).encoded().hex,
            "80EA00000401020304" + "00")
        XCTAssertEqual(StatusWord(0x69, 0x86).meaning, "command not allowed (see phone)")
        XCTAssertEqual(StatusWord(0x61, 0x10).meaning, "16 response bytes still available")
    }

    func testResponseUnderTwoBytesIsAnError() {
        XCTAssertThrowsError(try ResponseAPDU(bytes: [])) { e in
            XCTAssertEqual(e as? CardError, .malformedResponse("response of 0 bytes (at least SW1 SW2 expected)"))
        }
        XCTAssertThrowsError(try ResponseAPDU(bytes: [0x90]))
    }
}

final class TransportRuleTests: XCTestCase {
    let select = CommandAPDU.select(name: [0xA0, 0, 0, 0, 3, 0x10, 0x10])

    func testGetResponseChaining() async throws {
        // Book 1 §9.3.1.3: 61xx → GET RESPONSE Le=xx, concatenated.
        let ch = ScriptedChannel([
            ScriptedExchange("00A4040007A000000003101000", "6F02" + "6104"),
            ScriptedExchange("00C0000004", "84020102" + "6100"),
            ScriptedExchange("00C0000000", "AABB" + "9000"),
        ])
        let r = try await CardTransport(channel: ch).send(select)
        XCTAssertEqual(r.status, .success)
        XCTAssertEqual(r.data.hex, "6F0284020102AABB")
        let m = await ch.mismatches
        XCTAssertEqual(m, [])
    }

    func testWrongLeIsReissued() async throws {
        // Book 1 §9.3.1.2: 6Cxx → the same command with Le = xx.
        let ch = ScriptedChannel([
            ScriptedExchange("00B2010C00", "6C1A"),
            ScriptedExchange("00B2010C1A", "7000" + "9000"),
        ])
        let r = try await CardTransport(channel: ch).send(.readRecord(sfi: 1, record: 1))
        XCTAssertEqual(r.data, [0x70, 0x00])
        let remaining = await ch.remaining
        XCTAssertEqual(remaining, 0)
    }

    func testPhonesThatRejectLeGetTheCommandAgainWithoutLe() async throws {
        for sw in ["6700", "6F00"] {
            let ch = ScriptedChannel([
                ScriptedExchange("0084000000", sw),
                ScriptedExchange("00840000", "0102030405060708" + "9000"),
            ])
            let r = try await CardTransport(channel: ch).send(.getChallenge)
            XCTAssertEqual(r.data.count, 8, sw)
        }
        // If the retry fails too, the first answer stands and there is no third try.
        let ch = ScriptedChannel([ScriptedExchange("0084000000", "6700"), ScriptedExchange("00840000", "6700")])
        let r = try await CardTransport(channel: ch).send(.getChallenge)
        XCTAssertEqual(r.status, .wrongLength)
        // No Le in the command: no retry.
        let noLe = ScriptedChannel([ScriptedExchange("00880000020102", "6700")])
        let r2 = try await CardTransport(channel: noLe).send(
            CommandAPDU(cla: 0, ins: 0x88, p1: 0, p2: 0, data: [1, 2]))
        XCTAssertEqual(r2.status, .wrongLength)
    }

    /// GPO, GENERATE AC, EXCHANGE RELAY RESISTANCE DATA and RECOVER AC change the card's state: a 6Cxx, 6700 or 6F00
    /// answer goes back as it is, the command is never sent a second time (Book C-2 / C-3 send each once).
    func testStateChangingCommandsAreNeverSentTwice() async throws {
        let commands: [(CommandAPDU, String)] = [
            (.getProcessingOptions(pdolData: []), "GPO"),
            (.generateAC(.arqc, cda: true, cdolData: [1, 2, 3]), "GENERATE AC"),
            (.exchangeRelayResistanceData(entropy: [1, 2, 3, 4]), "EXCHANGE RELAY RESISTANCE DATA"),
            (.recoverAC(drdolData: [1, 2, 3, 4]), "RECOVER AC"),
        ]
        for (c, name) in commands {
            for sw in ["6C10", "6700", "6F00"] {
                let ch = ScriptedChannel([ScriptedExchange(command: try c.encoded(), response: [UInt8](hex: sw)!)])
                let r = try await CardTransport(channel: ch).send(c)
                XCTAssertEqual(Hex.encode([r.status.sw1, r.status.sw2]), sw, "\(name) \(sw)")
                let sent = await ch.received
                XCTAssertEqual(sent.count, 1, "\(name) answered \(sw) was sent again")
                let mismatches = await ch.mismatches
                XCTAssertTrue(mismatches.isEmpty)
            }
        }
        // 61xx is not a resend: GET RESPONSE fetches the rest of a GPO answer.
        let ch = ScriptedChannel([
            ScriptedExchange("80A8000002830000", "7702" + "6102"), ScriptedExchange("00C0000002", "82009000"),
        ])
        let r = try await CardTransport(channel: ch).send(.getProcessingOptions(pdolData: []))
        XCTAssertEqual(Hex.encode(r.data), "77028200")
    }

    func testEndless61xxIsBounded() async throws {
        var ex = [ScriptedExchange("00B2010C00", "01" + "6101")]
        for _ in 0..<(CardTransport.maxGetResponseRounds + 5) {
            ex.append(ScriptedExchange("00C0000001", "02" + "6101"))
        }
        do {
            _ = try await CardTransport(channel: ScriptedChannel(ex)).send(.readRecord(sfi: 1, record: 1))
            XCTFail("expected an error")
        } catch let e as CardError {
            XCTAssertEqual(e, .responseTooLong(CardTransport.maxResponseLength))
        }
    }

    func testCardErrorsPropagateAndEmptyResponsesFail() async {
        let gone = ScriptedChannel([ScriptedExchange(command: [0x00, 0xB2, 0x01, 0x0C, 0x00], error: .cardRemoved)])
        do {
            _ = try await CardTransport(channel: gone).send(.readRecord(sfi: 1, record: 1))
            XCTFail()
        } catch { XCTAssertEqual(error as? CardError, .cardRemoved) }
        // vpcd answers 0 bytes when the card vanished mid-APDU.
        let empty = ScriptedChannel([ScriptedExchange("00B2010C00", "")])
        do {
            _ = try await CardTransport(channel: empty).send(.readRecord(sfi: 1, record: 1))
            XCTFail()
        } catch {
            XCTAssertEqual(error as? CardError, .malformedResponse("response of 0 bytes (at least SW1 SW2 expected)"))
        }
    }
}

final class ScriptedChannelTests: XCTestCase {
    func testExactModeRecordsMismatches() async throws {
        let ch = ScriptedChannel([ScriptedExchange("00A404000E325041592E5359532E444446303100", "9000")])
        do {
            _ = try await ch.transmit([0x00, 0xB2, 0x01, 0x0C, 0x00])
            XCTFail()
        } catch {}
        let m = await ch.mismatches
        XCTAssertEqual(m.count, 1)
        XCTAssertTrue(m[0].description.contains("expected 00A404000E"))
    }

    func testReplayModeMatchesHeaderAndSelectData() async throws {
        let ch = ScriptedChannel(
            [
                ScriptedExchange("00A4040007A000000003101000", "6F00" + "9000"),
                ScriptedExchange("80A8000002830000", "7700" + "9000"),
                ScriptedExchange("00B2010C00", "7001" + "9000"),
                ScriptedExchange("00B2010C00", "7002" + "9000"),
            ], matching: .replay)
        // Different PDOL data than recorded: still matches on CLA INS P1 P2.
        let gpo = try await ch.transmit(try CommandAPDU.getProcessingOptions(pdolData: [1, 2, 3]).encoded())
        XCTAssertEqual(gpo, [0x77, 0x00, 0x90, 0x00])
        // SELECT must match its data too.
        let other = try await ch.transmit(try CommandAPDU.select(name: [0xA0, 0, 0, 0, 4, 0x10, 0x10]).encoded())
        XCTAssertEqual(other, [0x6D, 0x00])
        // Repeated commands take the unused exchanges in order.
        let r1 = try await ch.transmit([0x00, 0xB2, 0x01, 0x0C, 0x00])
        let r2 = try await ch.transmit([0x00, 0xB2, 0x01, 0x0C, 0x00])
        let r3 = try await ch.transmit([0x00, 0xB2, 0x01, 0x0C, 0x00])
        XCTAssertEqual([r1, r2, r3], [[0x70, 0x01, 0x90, 0x00], [0x70, 0x02, 0x90, 0x00], [0x6D, 0x00]])
    }

    func testRecordingChannelKeepsTimingAndErrors() async throws {
        let inner = ScriptedChannel([
            ScriptedExchange(
                command: [0x00, 0x84, 0x00, 0x00, 0x00], response: [1, 2, 0x90, 0x00], delay: .milliseconds(20)),
            ScriptedExchange(command: [0x00, 0x84, 0x00, 0x00, 0x00], error: .timeout),
        ])
        let rec = RecordingChannel(inner)
        _ = try await rec.transmit([0x00, 0x84, 0x00, 0x00, 0x00])
        do {
            _ = try await rec.transmit([0x00, 0x84, 0x00, 0x00, 0x00])
            XCTFail()
        } catch {}
        let ex = await rec.exchanges
        XCTAssertEqual(ex.count, 2)
        XCTAssertGreaterThan(ex[0].duration, .milliseconds(15), "the slow card's delay is in the record")
        XCTAssertEqual(ex[1].error, .timeout)
        XCTAssertNil(ex[1].response)
    }
}
