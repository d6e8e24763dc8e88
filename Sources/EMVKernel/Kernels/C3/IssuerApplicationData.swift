// Issuer Application Data (9F10) as Visa and Mastercard cards format it. Formats vary widely in the field
// (the 32-byte VCPS format broke decoders that only knew VIS 1.5), so every reader
// here is bounds-checked and unknown formats stay opaque rather than guessed.

/// Visa IAD: formats 0, 1 and 3 (VIS 1.5; byte 1 is the length 06 or 07 of the Visa discretionary data: DKI,
/// CVN, CVR) and format 2 (the 32-byte VCPS form whose first byte is 1F).
public struct VisaIssuerApplicationData: Sendable, Equatable {
    public enum Format: String, Sendable {
        case vis = "VIS 1.5 (formats 0/1/3)"
        case vcps32 = "32-byte (format 2)"
    }
    public let format: Format
    public let derivationKeyIndex: UInt8?
    public let cryptogramVersion: UInt8
    /// Card Verification Results after their length byte, when the format places them where they can be read.
    public let cvr: [UInt8]
    let raw: [UInt8]

    public init?(_ iad: [UInt8]) {
        raw = iad
        guard let len = iad.first else { return nil }
        if len == 0x06 || len == 0x07, iad.count >= 7 {
            format = .vis
            derivationKeyIndex = iad[1]
            cryptogramVersion = iad[2]
            let cvrLen = Int(iad[3])
            guard cvrLen >= 1, 4 + cvrLen <= iad.count else { return nil }
            cvr = Array(iad[4..<(4 + cvrLen)])
        } else if len == 0x1F, iad.count == 32 {
            // Format 2: byte 2 holds the IAD format in its high nibble and the CVN in its low nibble.
            format = .vcps32
            cryptogramVersion = iad[1] & 0x0F
            derivationKeyIndex = iad[2]
            cvr = Array(iad[3..<8])
        } else {
            return nil
        }
    }

    /// Book C-3 v2.10 §5.4.3.1: without a CID the cryptogram type is in IAD byte 5 b6–b5 — the
    /// CVR's byte 2 in the VIS layout 06 DKI CVN 03 CVR… (the CVR counts its length byte 03 as byte 1) and the same
    /// byte in the 32-byte layout: 00 AAC, 01 TC, 10 ARQC; 11 is RFU (nil).
    public static func cryptogramKind(iad: [UInt8]) -> ApplicationCryptogram.Kind? {
        guard iad.count >= 5 else { return nil }
        switch (iad[4] >> 4) & 0x03 {
        case 0: return .aac
        case 1: return .tc
        case 2: return .arqc
        default: return nil
        }
    }

    /// The cryptogram type this IAD reports (IAD byte 5; see `cryptogramKind(iad:)`).
    public var firstCryptogramKind: ApplicationCryptogram.Kind? { Self.cryptogramKind(iad: raw) }
}
