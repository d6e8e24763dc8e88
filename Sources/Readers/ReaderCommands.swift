// Reader-level commands that are not card APDUs: PC/SC Part 10 features, and the vendor commands of the readers
// tapd supports (reader-stack notes §3.2, §3.3, §3.6–3.8). Builders and parsers are pure; PCSCCard sends them.

import CPCSCLite
import Foundation

/// SCardControl codes and PC/SC Part 10 tags that tapd uses to query readers and send vendor escapes.
public enum PCSCControlCode {
    /// SCARD_CTL_CODE(code) on pcsc-lite = 0x42000000 + code (PCSC/reader.h).
    public static func ctl(_ code: UInt32) -> UInt32 { 0x4200_0000 + code }
    /// CM_IOCTL_GET_FEATURE_REQUEST (PC/SC Part 10).
    public static let getFeatureRequest = ctl(3400)
    /// libccid's vendor escape (IOCTL_SMARTCARD_VENDOR_IFD_EXCHANGE); needs DRIVER_OPTION_CCID_EXCHANGE_AUTHORIZED.
    public static let ccidEscape = ctl(1)
    /// PC/SC Part 10 feature tag for the TLV properties.
    public static let featureGetTLVProperties: UInt8 = 0x12
    /// TLV property tag: dwMaxAPDUDataSize (0 = short APDUs only).
    public static let propertyMaxAPDUDataSize: UInt8 = 0x0A
}

/// Builders and parsers for reader commands that are not card APDUs: PC/SC Part 10 features and the ACR122U, ACR1252U
/// and PN53x vendor commands.
public enum ReaderCommands {
    /// Feature list from CM_IOCTL_GET_FEATURE_REQUEST: tag (1) ‖ length 4 ‖ control code (4, big-endian).
    public static func parseFeatures(_ bytes: [UInt8]) -> [UInt8: UInt32] {
        var out: [UInt8: UInt32] = [:]
        var i = 0
        while i + 6 <= bytes.count {
            let tag = bytes[i]
            let len = Int(bytes[i + 1])
            guard len == 4 else { break }
            out[tag] = bytes[(i + 2)..<(i + 6)].reduce(0) { $0 << 8 | UInt32($1) }
            i += 6
        }
        return out
    }

    /// TLV properties (FEATURE_GET_TLV_PROPERTIES): tag (1) ‖ length (1) ‖ value, little-endian integers.
    public static func parseTLVProperties(_ bytes: [UInt8]) -> [UInt8: UInt64] {
        var out: [UInt8: UInt64] = [:]
        var i = 0
        while i + 2 <= bytes.count {
            let tag = bytes[i]
            let len = Int(bytes[i + 1])
            guard len <= 8, i + 2 + len <= bytes.count else { break }
            out[tag] = bytes[(i + 2)..<(i + 2 + len)].reversed().reduce(0) { $0 << 8 | UInt64($1) }
            i += 2 + len
        }
        return out
    }

    // MARK: ACS ACR122U (pseudo-APDUs, ACR122U API v2.04)

    /// Reader firmware string, e.g. "ACR122U207".
    public static let acr122uFirmware: [UInt8] = [0xFF, 0x00, 0x48, 0x00, 0x00]

    /// LED and buzzer (FF 00 40 P2 04 T1 T2 Rep Link): red/green final and blinking states, blink durations in
    /// units of 100 ms, repetitions, and which LED the buzzer follows.
    public static func acr122uLEDAndBuzzer(
        redOn: Bool, greenOn: Bool, blinkRed: Bool = false, blinkGreen: Bool = false,
        onTenths: UInt8 = 1, offTenths: UInt8 = 1, repetitions: UInt8 = 1, buzzer: UInt8 = 0
    ) -> [UInt8] {
        var p2: UInt8 = 0
        if redOn { p2 |= 0x01 }
        if greenOn { p2 |= 0x02 }
        p2 |= 0x0C  // update both final-state masks
        if blinkRed { p2 |= 0x10 }
        if blinkGreen { p2 |= 0x20 }
        p2 |= (blinkRed ? 0x40 : 0) | (blinkGreen ? 0x80 : 0)
        return [0xFF, 0x00, 0x40, p2, 0x04, onTenths, offTenths, repetitions, buzzer & 0x03]
    }

    // MARK: ACS ACR1252U (SCardControl escapes)

    /// ACR1252U escape that reads the firmware version string (E0 00 00 18 00), sent with SCardControl.
    public static let acr1252Firmware: [UInt8] = [0xE0, 0x00, 0x00, 0x18, 0x00]
    /// ACR1252U escape that sounds the buzzer for `tenMilliseconds` × 10 ms (E0 00 00 28 01 duration).
    public static func acr1252Buzzer(tenMilliseconds: UInt8) -> [UInt8] {
        [0xE0, 0x00, 0x00, 0x28, 0x01, tenMilliseconds]
    }
    /// ACR1252U escape that sets the red and green LEDs (E0 00 00 29 01 status: bit 1 red, bit 0 green).
    public static func acr1252LED(red: Bool, green: Bool) -> [UInt8] {
        [0xE0, 0x00, 0x00, 0x29, 0x01, (red ? 0x02 : 0) | (green ? 0x01 : 0)]
    }

    /// A firmware answer as text: printable ASCII only (ACR122U: 10 bytes, maybe followed by 90 00; ACR1252U: after
    /// a 5-byte E1 00 00 00 LL header). nil when nothing printable is left.
    public static func firmwareText(_ bytes: [UInt8]) -> String? {
        var b = bytes
        if b.count >= 2, b.suffix(2) == [0x90, 0x00] { b.removeLast(2) }
        if b.count >= 5, b[0] == 0xE1, b[1] == 0, b[2] == 0, b[3] == 0, Int(b[4]) == b.count - 5 { b.removeFirst(5) }
        guard !b.isEmpty, b.count <= 64, b.allSatisfy({ (0x20...0x7E).contains($0) }) else { return nil }
        return String(decoding: b, as: UTF8.self)
    }

    // MARK: PN53x GetFirmwareVersion (D4 02 → D5 03 IC Ver Rev Support)

    /// The answer to a PN53x GetFirmwareVersion: IC (0x32 PN532, 0x33 PN533), firmware version and revision, and
    /// supported card types.
    public struct PN53xFirmware: Sendable, Equatable, CustomStringConvertible {
        public let ic: UInt8, version: UInt8, revision: UInt8, support: UInt8
        /// Whether the chip supports ISO 14443 type A (Support bit 0).
        public var typeA: Bool { support & 0x01 != 0 }
        /// Whether the chip supports ISO 14443 type B (Support bit 1).
        public var typeB: Bool { support & 0x02 != 0 }
        /// The chip and firmware for logs, e.g. "PN533 v2.7".
        public var description: String {
            if ic == 0x33 && version == 0x01 { return "Sony RC-S360 (PN533 core) rev \(revision)" }
            return "PN5\(String(ic, radix: 16)) v\(version).\(revision)"
        }
    }

    /// The PN53x GetFirmwareVersion command (D4 02); the chip answers D5 03 IC Ver Rev Support.
    public static let pn53xGetFirmwareVersion: [UInt8] = [0xD4, 0x02]

    /// Reads a GetFirmwareVersion answer (D5 03 IC Ver Rev Support); nil unless it is a complete one from a PN532 or
    /// PN533.
    public static func parsePN53xFirmware(_ bytes: [UInt8]) -> PN53xFirmware? {
        guard bytes.count >= 6, bytes[0] == 0xD5, bytes[1] == 0x03, [0x32, 0x33].contains(bytes[2]) else { return nil }
        return PN53xFirmware(ic: bytes[2], version: bytes[3], revision: bytes[4], support: bytes[5])
    }
}

extension PCSCCard {
    /// SCardControl: a reader command that is not an APDU.
    public func control(_ code: UInt32, _ input: [UInt8] = []) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 1024)
        var returned: DWORD = 0
        let rv = Int(
            input.withUnsafeBufferPointer { i in
                SCardControl(handle, DWORD(code), i.baseAddress, DWORD(i.count), &out, DWORD(out.count), &returned)
            })
        guard rv == PCSCCode.success else { throw PCSCError(call: "SCardControl", code: rv) }
        return Array(out.prefix(min(Int(returned), out.count)))
    }

    /// The largest APDU data field the reader carries (PC/SC Part 10 dwMaxAPDUDataSize): 0 means short APDUs only;
    /// nil when the reader's driver does not say (vpcd 0.8, readers without Part 10 features).
    public func maxAPDUDataSize() -> Int? {
        guard let features = try? control(PCSCControlCode.getFeatureRequest),
            let code = ReaderCommands.parseFeatures(features)[PCSCControlCode.featureGetTLVProperties],
            let props = try? control(code),
            let v = ReaderCommands.parseTLVProperties(props)[PCSCControlCode.propertyMaxAPDUDataSize]
        else { return nil }
        return Int(clamping: v)
    }
}
