// Terminal Verification Results (tag 95), EMV Book 3 Annex C5; byte 5 b4..b1 per Book C-2 (relay resistance).

public struct TerminalVerificationResults: Equatable, Sendable, CustomStringConvertible {
    public private(set) var bytes: [UInt8] = [0, 0, 0, 0, 0]

    public init() {}
    public init?(_ b: [UInt8]) {
        guard b.count == 5 else { return nil }
        bytes = b
    }

    /// A TVR bit: byte 1...5, bit 8...1.
    public struct Bit: Equatable, Sendable {
        public let byte: Int
        public let bit: Int
        var mask: UInt8 { 1 << (bit - 1) }

        // Byte 1
        public static let odaNotPerformed = Bit(byte: 1, bit: 8)
        public static let sdaFailed = Bit(byte: 1, bit: 7)
        public static let iccDataMissing = Bit(byte: 1, bit: 6)
        public static let cardOnExceptionFile = Bit(byte: 1, bit: 5)
        public static let ddaFailed = Bit(byte: 1, bit: 4)
        public static let cdaFailed = Bit(byte: 1, bit: 3)
        public static let sdaSelected = Bit(byte: 1, bit: 2)
        // Byte 2
        public static let differentApplicationVersions = Bit(byte: 2, bit: 8)
        public static let expiredApplication = Bit(byte: 2, bit: 7)
        public static let applicationNotYetEffective = Bit(byte: 2, bit: 6)
        public static let serviceNotAllowed = Bit(byte: 2, bit: 5)
        public static let newCard = Bit(byte: 2, bit: 4)
        // Byte 3
        public static let cardholderVerificationNotSuccessful = Bit(byte: 3, bit: 8)
        public static let unrecognisedCVM = Bit(byte: 3, bit: 7)
        public static let pinTryLimitExceeded = Bit(byte: 3, bit: 6)
        public static let pinPadNotPresent = Bit(byte: 3, bit: 5)
        public static let pinNotEntered = Bit(byte: 3, bit: 4)
        public static let onlinePINEntered = Bit(byte: 3, bit: 3)
        // Byte 4
        public static let exceedsFloorLimit = Bit(byte: 4, bit: 8)
        public static let lowerConsecutiveOfflineLimitExceeded = Bit(byte: 4, bit: 7)
        public static let upperConsecutiveOfflineLimitExceeded = Bit(byte: 4, bit: 6)
        public static let randomlySelectedOnline = Bit(byte: 4, bit: 5)
        public static let merchantForcedOnline = Bit(byte: 4, bit: 4)
        // Byte 5
        public static let defaultTDOLUsed = Bit(byte: 5, bit: 8)
        public static let issuerAuthenticationFailed = Bit(byte: 5, bit: 7)
        public static let scriptFailedBeforeFinalGenAC = Bit(byte: 5, bit: 6)
        public static let scriptFailedAfterFinalGenAC = Bit(byte: 5, bit: 5)
        public static let relayResistanceThresholdExceeded = Bit(byte: 5, bit: 4)  // Book C-2
        public static let relayResistanceTimeLimitsExceeded = Bit(byte: 5, bit: 3)  // Book C-2
    }

    public mutating func set(_ b: Bit) { bytes[b.byte - 1] |= b.mask }
    public mutating func clear(_ b: Bit) { bytes[b.byte - 1] &= ~b.mask }
    public func isSet(_ b: Bit) -> Bool { bytes[b.byte - 1] & b.mask != 0 }

    /// Book C-2: TVR byte 5 b2..b1, relay resistance performed.
    public enum RelayResistance: UInt8, Sendable {
        case notSupported = 0
        case notPerformed = 1
        case performed = 2
    }
    public mutating func setRelayResistance(_ r: RelayResistance) {
        bytes[4] = (bytes[4] & 0xFC) | r.rawValue
    }

    public var description: String {
        bytes.map { String($0, radix: 16, uppercase: true) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
    }
}
