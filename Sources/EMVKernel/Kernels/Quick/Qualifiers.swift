// The qualifiers a reader and a card exchange in the kernels that return the cryptogram with GPO: Book C-3 (Visa)
// and Book C-7 (UnionPay) give 9F66 and 9F6C the same layout for every bit tapd reads.

/// Book C-3 v2.10 Annex A, 9F66: what the reader tells the card (and what its own decisions follow).
public struct TerminalTransactionQualifiers: Sendable, Equatable {
    public let bytes: [UInt8]
    /// A TTQ that is not four bytes reads as all bits clear.
    public init(_ b: [UInt8]?) { bytes = (b?.count == 4) ? b! : [0, 0, 0, 0] }
    public var contactSupported: Bool { bytes[0] & 0x10 != 0 }  // byte 1 b5: EMV contact chip supported
    public var offlineOnlyReader: Bool { bytes[0] & 0x08 != 0 }  // byte 1 b4
    public var onlinePINSupported: Bool { bytes[0] & 0x04 != 0 }  // byte 1 b3
    public var signatureSupported: Bool { bytes[0] & 0x02 != 0 }  // byte 1 b2
    public var odaForOnlineSupported: Bool { bytes[0] & 0x01 != 0 }  // byte 1 b1
    public var onlineCryptogramRequired: Bool { bytes[1] & 0x80 != 0 }  // byte 2 b8
    public var cvmRequired: Bool { bytes[1] & 0x40 != 0 }  // byte 2 b7
    public var consumerDeviceCVMSupported: Bool { bytes[2] & 0x40 != 0 }  // byte 3 b7
}

/// Book C-3 v2.10 Annex A, 9F6C: what the card asks of the reader.
public struct CardTransactionQualifiers: Sendable, Equatable {
    public let bytes: [UInt8]
    /// Nil unless exactly two bytes (the kernel has checked the length on entry).
    public init?(_ b: [UInt8]) {
        guard b.count == 2 else { return nil }
        bytes = b
    }
    public var onlinePINRequired: Bool { bytes[0] & 0x80 != 0 }  // byte 1 b8
    public var signatureRequired: Bool { bytes[0] & 0x40 != 0 }  // byte 1 b7
    public var goOnlineIfODAFails: Bool { bytes[0] & 0x20 != 0 }  // byte 1 b6
    public var switchInterfaceIfODAFails: Bool { bytes[0] & 0x10 != 0 }  // byte 1 b5
    public var goOnlineIfApplicationExpired: Bool { bytes[0] & 0x08 != 0 }  // byte 1 b4
    public var consumerDeviceCVMPerformed: Bool { bytes[1] & 0x80 != 0 }  // byte 2 b8
}
