// The libnfc back end through real libnfc 1.8.0 (driver pn532_uart) talking to the PN532 emulator on a
// pseudo-terminal: no mock between tapd and libnfc, and none between libnfc and the serial line. The stock
// `nfc-list` (libnfc-bin) is run against the same emulator to show it is a PN532 that libnfc's own tools accept.

import APDU
import EMVKernel
import Foundation
import Simulators
import TestSupport
import XCTest

@testable import Readers

final class LibNFCTests: XCTestCase {
    static func keys() throws -> CAKeyStore {
        var k = try CAKeyStore.bundled(includeTestKeys: true)
        try VirtualCard.registerTestCAs(in: &k)
        return k
    }

    func transaction(_ card: any CardChannel, amount: UInt64 = 1234) async throws -> Outcome {
        let ep = EntryPoint(configuration: TerminalConfiguration(), keys: try Self.keys(), risk: RiskManager())
        let txn = TransactionParameters(amount: amount, date: EMVDate(year: 2026, month: 11, day: 26)!)
        var o = await ep.process(card: card, transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)))
        if o.kind == .seePhone || o.kind == .tryAgain {
            o = await ep.process(
                card: card, transaction: txn, combinations: try XCTUnwrap(ep.preProcess(txn)), restarted: true)
        }
        return o
    }

    func testStockNfcListSeesTheEmulatedTarget() throws {
        let emulator = try PN532Emulator()
        defer { emulator.stop() }
        emulator.present(try VirtualCard(.visaCard()))
        let (status, text) = try Tool.run("/usr/bin/nfc-list", [], environment: ["LIBNFC_DEVICE": emulator.connstring])
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("opened"), text)
        XCTAssertTrue(text.contains("ISO/IEC 14443A (106 kbps) target"), text)
        XCTAssertTrue(text.contains("ATQA (SENS_RES): 00  04"), text)
        XCTAssertTrue(text.contains("ATS: 78  80  70  02"), text)
        // The whole open sequence of reader-stack notes §2.3–2.5 was used, ending with PowerDown.
        let c = emulator.commands
        for code: UInt8 in [0x14, 0x00, 0x02, 0x12, 0x06, 0x08, 0x32, 0x4A, 0x52, 0x16] {
            XCTAssertTrue(c.contains(code), "command \(String(code, radix: 16)) not used")
        }
    }

    func testWholeTransactionsThroughLibnfc() async throws {
        let emulator = try PN532Emulator()
        defer { emulator.stop() }
        let reader = try await NFCReader(context: try NFCContext.shared(), connstring: emulator.connstring)
        defer { reader.close() }
        XCTAssertTrue(reader.name.hasPrefix("pn532_uart"), reader.name)
        for profile in [CardProfile.visaCard(), .mastercardCard(), .visaPhone(), .mastercardPhone()] {
            emulator.present(try VirtualCard(profile))
            let found = try await reader.waitForCard(timeout: .seconds(2))
            let card = try XCTUnwrap(found)
            XCTAssertEqual(card.target.kind, .iso14443A)
            XCTAssertTrue(card.target.isoDEP)
            XCTAssertEqual(card.target.ats, Array(PN532Emulator.defaultATS.dropFirst()))
            XCTAssertEqual(card.target.frameWaitingTime.fwi, 7)
            let o = try await transaction(card)
            XCTAssertEqual(o.kind, .onlineRequest, o.reason ?? "")
            XCTAssertNil(o.oda?.failure)
            guard case .verified = try TestIssuer.verify(o.transactionData) else {
                return XCTFail("ARQC does not verify")
            }
            let present = await card.isPresent()
            XCTAssertTrue(present)
            await card.release()
            emulator.present(nil)
        }
    }

    func testEmptyFieldTimesOutAndCancelIsPrompt() async throws {
        let emulator = try PN532Emulator()
        defer { emulator.stop() }
        let reader = try await NFCReader(context: try NFCContext.shared(), connstring: emulator.connstring)
        defer { reader.close() }
        let none = try await reader.waitForCard(timeout: .milliseconds(300))
        XCTAssertNil(none)
        // Both types were asked for: 4A 01 00 (106 kbps type A) and 4A 01 03 00 (type B).
        XCTAssertGreaterThanOrEqual(emulator.commands.filter { $0 == 0x4A }.count, 2)

        let started = ContinuousClock.now
        let waiting = Task { try await reader.waitForCard(timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(150))
        reader.cancel()
        do {
            _ = try await waiting.value
            XCTFail("a cancelled wait must throw")
        } catch let e as CardError {
            XCTAssertEqual(e, .cancelled)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "cancel ended the 30 s wait")
        // The reader is usable afterwards.
        emulator.present(try VirtualCard(.visaCard()))
        let card = try await reader.waitForCard(timeout: .seconds(2))
        XCTAssertNotNil(card)
    }

    func testCardLeavingMidTransactionIsCardRemoved() async throws {
        let emulator = try PN532Emulator()
        defer { emulator.stop() }
        let reader = try await NFCReader(context: try NFCContext.shared(), connstring: emulator.connstring)
        defer { reader.close() }
        emulator.present(try VirtualCard(.visaCard()), persona: .vanishAfter(1))
        let found = try await reader.waitForCard(timeout: .seconds(2))
        let card = try XCTUnwrap(found)
        let ppse = try CommandAPDU.select(name: CommandAPDU.ppseName).encoded()
        let first = try await card.transmit(ppse)
        XCTAssertEqual(Array(first.suffix(2)), [0x90, 0x00])
        do {
            _ = try await card.transmit(ppse)
            XCTFail("the card has gone")
        } catch let e as CardError {
            XCTAssertEqual(e, .cardRemoved)
        }
        let present = await card.isPresent()
        XCTAssertFalse(present)
        let o = try await transaction(card)
        XCTAssertNotEqual(o.kind, .onlineRequest)
        XCTAssertNotEqual(o.kind, .approved)
    }

    func testSlowPhoneIsNotCutOffAndOversizedCommandsAreRefused() async throws {
        let emulator = try PN532Emulator()
        defer { emulator.stop() }
        let reader = try await NFCReader(context: try NFCContext.shared(), connstring: emulator.connstring)
        defer { reader.close() }
        emulator.present(try VirtualCard(.mastercardPhone()), persona: .slowGPO(milliseconds: 700))
        let found = try await reader.waitForCard(timeout: .seconds(2))
        let card = try XCTUnwrap(found)
        let o = try await transaction(card, amount: 4200)
        XCTAssertEqual(o.kind, .onlineRequest, o.reason ?? "")
        // 263 bytes would make libnfc 1.8.0 abort the process: refused before libnfc sees it.
        let big = [0x80, 0xE2, 0x00, 0x00, 0xFF] + [UInt8](repeating: 0, count: 258)
        do {
            _ = try await card.transmit(big)
            XCTFail("must be refused")
        } catch let e as CardError {
            XCTAssertEqual(e, .commandTooLong(263))
        }
        let r = try await card.transmit(try CommandAPDU.select(name: CommandAPDU.ppseName).encoded())
        XCTAssertEqual(Array(r.suffix(2)), [0x90, 0x00], "still working after the refusal")
    }

    /// A card that answers every command with 256 bytes (a full short-APDU answer) followed by 90 00, and
    /// remembers the length of the last command it got.
    final class BigAnswers: CardChannel, @unchecked Sendable {
        var lastCommandLength = 0
        func transmit(_ command: [UInt8]) async throws -> [UInt8] {
            lastCommandLength = command.count
            return (0..<256).map { UInt8($0 & 0xFF) } + [0x90, 0x00]
        }
    }

    func testExtendedFramesBothWays() async throws {
        // 262-byte C-APDUs go to the chip in an extended frame; 258-byte answers come back in one.
        let emulator = try PN532Emulator()
        defer { emulator.stop() }
        let reader = try await NFCReader(context: try NFCContext.shared(), connstring: emulator.connstring)
        defer { reader.close() }
        let big = BigAnswers()
        emulator.present(big)
        let found = try await reader.waitForCard(timeout: .seconds(2))
        let card = try XCTUnwrap(found)
        let command = [0x80, 0xE2, 0x00, 0x00, 0xFF] + [UInt8](repeating: 0x5A, count: 255) + [0x00, 0x00]
        XCTAssertEqual(command.count, NFCReader.maxCommandLength)
        let r = try await card.transmit(command)
        XCTAssertEqual(r.count, 258)
        XCTAssertEqual(Array(r.suffix(2)), [0x90, 0x00])
        XCTAssertEqual(r[255], 0xFF)
        XCTAssertEqual(big.lastCommandLength, 262)
    }

    func testTheSerialPortIsLockedAgainstASecondUser() async throws {
        let emulator = try PN532Emulator()
        defer { emulator.stop() }
        let ctx = try NFCContext.shared()
        let reader = try await NFCReader(context: ctx, connstring: emulator.connstring)
        do {
            _ = try await NFCReader(context: ctx, connstring: emulator.connstring)
            XCTFail("a second open must fail")
        } catch let e as NFCError {
            XCTAssertTrue(e.message.contains("in use by another process"), e.description)
        }
        reader.close()
        // Released on close: the next owner gets it.
        let again = try await NFCReader(context: ctx, connstring: emulator.connstring)
        again.close()
    }

    func testOpeningNothingIsAClearError() async throws {
        do {
            _ = try await NFCReader(context: try NFCContext.shared(), connstring: "pn532_uart:/dev/tapd-no-such-tty")
            XCTFail("must fail")
        } catch let e as NFCError {
            XCTAssertTrue(e.description.contains("/dev/tapd-no-such-tty"), e.description)
        }
    }

    func testFrameWaitingTime() {
        // ISO/IEC 14443-4 §7.2: FWT = 302 µs × 2^FWI; TB(1) upper nibble; default FWI 4 without TB.
        XCTAssertEqual(FrameWaitingTime(atsAfterTL: [0x78, 0x80, 0x70, 0x02]).fwi, 7)
        XCTAssertEqual(FrameWaitingTime(atsAfterTL: [0x38, 0x80, 0xE0]).fwi, 14)  // TA + TB(1)=E0
        XCTAssertEqual(FrameWaitingTime(atsAfterTL: [0x20, 0xA1]).fwi, 10)  // TB only
        XCTAssertEqual(FrameWaitingTime(atsAfterTL: [0x08]).fwi, 4)  // no TB
        XCTAssertEqual(FrameWaitingTime(atsAfterTL: []).fwi, 4)
        XCTAssertEqual(FrameWaitingTime(atsAfterTL: [0x30, 0x80]).fwi, 4)  // TB promised but missing
        XCTAssertEqual(FrameWaitingTime(fwi: 15).fwi, 4)  // RFU
        XCTAssertEqual(FrameWaitingTime(fwi: 0).microseconds, 302.06, accuracy: 0.01)
        XCTAssertEqual(FrameWaitingTime(fwi: 7).exchangeDeadline, .seconds(2))
        XCTAssertEqual(FrameWaitingTime(fwi: 14).exchangeDeadline, .seconds(10))
        XCTAssertEqual(NFCReader.serialPort(of: "pn532_uart:/dev/ttyUSB0:115200"), "/dev/ttyUSB0")
        XCTAssertEqual(NFCReader.serialPort(of: "pn532_uart:/dev/ttyS1"), "/dev/ttyS1")
        XCTAssertNil(NFCReader.serialPort(of: "pn53x_usb:001:004"))
        XCTAssertNil(NFCReader.serialPort(of: "acr122_usb"))
    }
}
