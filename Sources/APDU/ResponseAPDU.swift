import TLV

// Response APDUs and status words (ISO/IEC 7816-4 §5.6, EMV Book 1 §9.4, Book 3 §6.3.5).

public struct StatusWord: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ sw1: UInt8, _ sw2: UInt8) { rawValue = UInt16(sw1) << 8 | UInt16(sw2) }

    public var sw1: UInt8 { UInt8(rawValue >> 8) }
    public var sw2: UInt8 { UInt8(rawValue & 0xFF) }

    public static let success = StatusWord(rawValue: 0x9000)
    public static let selectedFileInvalidated = StatusWord(rawValue: 0x6283)  // blocked application
    public static let wrongLength = StatusWord(rawValue: 0x6700)
    public static let securityStatusNotSatisfied = StatusWord(rawValue: 0x6982)
    public static let authenticationMethodBlocked = StatusWord(rawValue: 0x6983)
    public static let conditionsNotSatisfied = StatusWord(rawValue: 0x6985)
    public static let commandNotAllowed = StatusWord(rawValue: 0x6986)  // phones: "see phone"
    public static let fileNotFound = StatusWord(rawValue: 0x6A82)
    public static let recordNotFound = StatusWord(rawValue: 0x6A83)
    public static let wrongP1P2 = StatusWord(rawValue: 0x6A86)
    public static let referencedDataNotFound = StatusWord(rawValue: 0x6A88)
    public static let insNotSupported = StatusWord(rawValue: 0x6D00)
    public static let claNotSupported = StatusWord(rawValue: 0x6E00)
    public static let noPreciseDiagnosis = StatusWord(rawValue: 0x6F00)

    public var isSuccess: Bool { rawValue == 0x9000 }
    /// 62xx / 63xx: processing completed with a warning (Book 3 §6.3.5 treats these as "normal" for some commands).
    public var isWarning: Bool { sw1 == 0x62 || sw1 == 0x63 }

    /// Meaning in words, for logs and diagnostics.
    public var meaning: String {
        switch rawValue {
        case 0x9000: return "success"
        case 0x6283: return "selected file invalidated (application blocked)"
        case 0x6581: return "memory failure"
        case 0x6700: return "wrong length"
        case 0x6881: return "logical channel not supported"
        case 0x6882: return "secure messaging not supported"
        case 0x6982: return "security status not satisfied"
        case 0x6983: return "authentication method blocked"
        case 0x6984: return "referenced data invalidated"
        case 0x6985: return "conditions of use not satisfied"
        case 0x6986: return "command not allowed (see phone)"
        case 0x6A80: return "incorrect data field"
        case 0x6A81: return "function not supported (card or application blocked)"
        case 0x6A82: return "file or application not found"
        case 0x6A83: return "record not found"
        case 0x6A86: return "incorrect P1 P2"
        case 0x6A88: return "referenced data not found"
        case 0x6D00: return "instruction not supported"
        case 0x6E00: return "class not supported"
        case 0x6F00: return "no precise diagnosis"
        default: break
        }
        switch sw1 {
        case 0x61: return "\(sw2 == 0 ? 256 : Int(sw2)) response bytes still available"
        case 0x62: return "warning: state of non-volatile memory unchanged"
        case 0x63:
            return sw2 & 0xF0 == 0xC0
                ? "warning: counter \(sw2 & 0x0F)" : "warning: state of non-volatile memory changed"
        case 0x64: return "execution error: state of non-volatile memory unchanged"
        case 0x65: return "execution error: state of non-volatile memory changed"
        case 0x6C: return "wrong Le: \(sw2 == 0 ? 256 : Int(sw2)) bytes available"
        default: return "unknown status"
        }
    }

    public var description: String {
        "\(Hex.encode([sw1, sw2])) (\(meaning))"
    }
}

public struct ResponseAPDU: Sendable, Equatable {
    public let data: [UInt8]
    public let status: StatusWord

    public init(data: [UInt8], status: StatusWord) {
        self.data = data
        self.status = status
    }

    /// Splits a raw response into data and SW1 SW2. A response under 2 bytes is not a response
    /// (vpcd, for one, answers 0 bytes when the card vanished mid-APDU).
    public init(bytes: [UInt8]) throws {
        guard bytes.count >= 2 else {
            throw CardError.malformedResponse("response of \(bytes.count) bytes (at least SW1 SW2 expected)")
        }
        data = Array(bytes.dropLast(2))
        status = StatusWord(bytes[bytes.count - 2], bytes[bytes.count - 1])
    }

    public var bytes: [UInt8] { data + [status.sw1, status.sw2] }
}
