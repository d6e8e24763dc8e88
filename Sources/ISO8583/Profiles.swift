// The built-in message specs. Both follow ISO 8583:1987 field formats (as in the widely used "87" packagers).
//
// iso87-ascii: MTI as 4 ASCII digits; binary primary and secondary bitmaps; numeric and text fields in ASCII;
//   LL/LLL/LLLL lengths as ASCII digits; DE 52, 55, 64, 128 binary (DE 55 with a 3-digit ASCII length); DE 90 n42;
//   each message framed by a 2-byte big-endian length.
// iso87-bcd: MTI and numeric fields as packed BCD, lengths as BCD (1 byte for LL, 2 for LLL), text in ASCII,
//   binary fields raw, track 2 in BCD with D as separator; optional 5-byte TPDU; 2-byte big-endian length.

extension MessageSpec {
    /// The 1987 data elements tapd uses, with the encodings of a profile.
    static func iso87Fields(numeric: DataEncoding, lengths: LengthEncoding) -> [FieldSpec] {
        func n(_ no: Int, _ name: String, _ len: Int, _ lt: LengthType = .fixed, sensitive: Bool = false) -> FieldSpec {
            FieldSpec(no, name, .n, len, lt, encoding: numeric, lengthEncoding: lengths, sensitive: sensitive)
        }
        func an(
            _ no: Int, _ name: String, _ len: Int, _ lt: LengthType = .fixed, _ t: FieldType = .ans,
            sensitive: Bool = false
        ) -> FieldSpec {
            FieldSpec(no, name, t, len, lt, encoding: .ascii, lengthEncoding: lengths, sensitive: sensitive)
        }
        func b(_ no: Int, _ name: String, _ len: Int, _ lt: LengthType = .fixed, sensitive: Bool = false) -> FieldSpec {
            FieldSpec(no, name, .b, len, lt, encoding: .binary, lengthEncoding: lengths, sensitive: sensitive)
        }
        return [
            n(2, "Primary account number", 19, .ll, sensitive: true),
            n(3, "Processing code", 6),
            n(4, "Amount, transaction", 12),
            n(5, "Amount, settlement", 12),
            n(6, "Amount, cardholder billing", 12),
            n(7, "Transmission date and time (MMDDhhmmss)", 10),
            n(11, "System trace audit number", 6),
            n(12, "Time, local transaction (hhmmss)", 6),
            n(13, "Date, local transaction (MMDD)", 4),
            n(14, "Date, expiration (YYMM)", 4, sensitive: true),
            n(15, "Date, settlement", 4),
            n(18, "Merchant category code", 4),
            n(22, "POS entry mode", 3),
            n(23, "Card sequence number", 3),
            n(24, "Network international identifier", 3),
            n(25, "POS condition code", 2),
            n(26, "POS PIN capture code", 2),
            n(32, "Acquiring institution identification code", 11, .ll),
            FieldSpec(
                35, "Track 2 data", .z, 37, .ll, encoding: numeric == .bcd ? .bcd : .ascii, lengthEncoding: lengths,
                sensitive: true),
            an(37, "Retrieval reference number", 12, .fixed, .an),
            an(38, "Authorization identification response", 6, .fixed, .an),
            an(39, "Response code", 2, .fixed, .an),
            an(41, "Card acceptor terminal identification", 8),
            an(42, "Card acceptor identification code", 15),
            an(43, "Card acceptor name/location", 40),
            an(44, "Additional response data", 25, .ll),
            an(45, "Track 1 data", 76, .ll, sensitive: true),
            an(48, "Additional data, private", 999, .lll),
            n(49, "Currency code, transaction", 3),
            b(52, "PIN data", 8, sensitive: true),
            n(53, "Security related control information", 16),
            an(54, "Additional amounts", 120, .lll),
            b(55, "ICC data (EMV)", 999, .lll),
            an(60, "Reserved, private", 999, .lll),
            an(61, "Reserved, private", 999, .lll),
            an(62, "Reserved, private", 999, .lll),
            an(63, "Reserved, private", 999, .lll),
            b(64, "Message authentication code", 8),
            n(66, "Settlement code", 1),
            n(70, "Network management information code", 3),
            n(74, "Credits, number", 10),
            n(75, "Credits, reversal number", 10),
            n(76, "Debits, number", 10),
            n(77, "Debits, reversal number", 10),
            n(81, "Authorizations, number", 10),
            n(86, "Credits, amount", 16),
            n(87, "Credits, reversal amount", 16),
            n(88, "Debits, amount", 16),
            n(89, "Debits, reversal amount", 16),
            n(90, "Original data elements", 42),
            an(95, "Replacement amounts", 42, .fixed, .an),
            // x+n16: C (credit) or D (debit), then 16 digits; written as text in both profiles.
            an(97, "Amount, net settlement", 17, .fixed, .an),
            b(128, "Message authentication code", 8),
        ]
    }

    /// The iso87-ascii profile: ASCII MTI and fields, binary bitmaps, 2-byte binary length header, no TPDU.
    public static let iso87ASCII = MessageSpec(
        name: "iso87-ascii", mtiEncoding: .ascii, bitmapEncoding: .binary, framing: .twoByteBinary,
        fields: iso87Fields(numeric: .ascii, lengths: .ascii))

    /// `tpdu`: the 5-byte TPDU (60 ‖ destination ‖ origin) when the network routes by one.
    public static func iso87BCD(tpdu: [UInt8]? = nil) -> MessageSpec {
        MessageSpec(
            name: "iso87-bcd", mtiEncoding: .bcd, bitmapEncoding: .binary, framing: .twoByteBinary, tpdu: tpdu,
            fields: iso87Fields(numeric: .bcd, lengths: .bcd))
    }

    /// A profile by name: "iso87-ascii" or "iso87-bcd".
    public static func named(_ name: String) -> MessageSpec? {
        switch name {
        case "iso87-ascii": return .iso87ASCII
        case "iso87-bcd": return .iso87BCD()
        default: return nil
        }
    }
}
