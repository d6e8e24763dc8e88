// A data-driven description of an ISO 8583 message: one FieldSpec per data element, how the MTI and bitmaps are
// encoded, and how messages are framed. Specs are Codable so an integrator can describe any acquirer in JSON.

/// ISO 8583 data element formats.
public enum FieldType: String, Codable, Sendable {
    case n  // numeric digits
    case an  // alphanumeric
    case ans  // alphanumeric and special
    case b  // binary
    case z  // track 2/3 code set: digits and the separator (= or D)
}

/// How a field's data is written on the wire.
public enum DataEncoding: String, Codable, Sendable {
    case ascii
    case bcd  // packed decimal (n, z); odd lengths are padded with a leading 0 nibble (z: trailing F)
    case binary  // raw bytes (b)
    case ebcdic  // code page 037 (an, ans, n)
}

/// The length prefix of a variable field: how many digits the length has.
public enum LengthType: String, Codable, Sendable {
    case fixed
    case ll = "LL"
    case lll = "LLL"
    case llll = "LLLL"

    /// Number of digits in the length prefix: 0 for fixed, 2 for LL, 3 for LLL, 4 for LLLL.
    public var digits: Int {
        switch self {
        case .fixed: return 0
        case .ll: return 2
        case .lll: return 3
        case .llll: return 4
        }
    }
}

/// How the length prefix is written: ASCII digits, BCD (1 byte for LL, 2 for LLL/LLLL) or a binary count.
public enum LengthEncoding: String, Codable, Sendable { case ascii, bcd, binary, ebcdic }

/// The format of one data element: number, name, type, length and how its data and length prefix are encoded.
public struct FieldSpec: Codable, Sendable, Equatable {
    /// The data element number (2–128, never 65).
    public var number: Int
    /// Human-readable name, e.g. "System trace audit number".
    public var name: String
    /// The data element's format (n, an, ans, b or z).
    public var type: FieldType
    /// Fixed length, or the maximum for variable fields: digits for n and z, characters for an/ans, bytes for b.
    public var length: Int
    /// Fixed length, or the number of digits of a variable length prefix (LL, LLL, LLLL).
    public var lengthType: LengthType
    /// How the value is written on the wire.
    public var encoding: DataEncoding
    /// How a variable field's length prefix is written (ignored for fixed fields).
    public var lengthEncoding: LengthEncoding
    /// Card data that must never be printed (PAN, track 2, PIN block).
    public var sensitive: Bool

    /// Describes a data element; the length prefix defaults to ASCII and the field to fixed length and not sensitive.
    public init(
        _ number: Int, _ name: String, _ type: FieldType, _ length: Int, _ lengthType: LengthType = .fixed,
        encoding: DataEncoding, lengthEncoding: LengthEncoding = .ascii, sensitive: Bool = false
    ) {
        self.number = number
        self.name = name
        self.type = type
        self.length = length
        self.lengthType = lengthType
        self.encoding = encoding
        self.lengthEncoding = lengthEncoding
        self.sensitive = sensitive
    }

    enum CodingKeys: String, CodingKey {
        case number, name, type, length, lengthType, encoding, lengthEncoding, sensitive
    }
    /// Decodes a field from JSON, defaulting name to "DE n", length type to fixed, length encoding to ascii and
    /// sensitive to false. Throws if the number is not a data element or the length is not 1–9999.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        number = try c.decode(Int.self, forKey: .number)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? "DE \(number)"
        type = try c.decode(FieldType.self, forKey: .type)
        length = try c.decode(Int.self, forKey: .length)
        lengthType = try c.decodeIfPresent(LengthType.self, forKey: .lengthType) ?? .fixed
        encoding = try c.decode(DataEncoding.self, forKey: .encoding)
        lengthEncoding = try c.decodeIfPresent(LengthEncoding.self, forKey: .lengthEncoding) ?? .ascii
        sensitive = try c.decodeIfPresent(Bool.self, forKey: .sensitive) ?? false
        guard (2...192).contains(number), number != 65, number != 129 else {
            throw DecodingError.dataCorruptedError(
                forKey: .number, in: c, debugDescription: "field number \(number) is not a data element (2–128)")
        }
        guard length > 0, length <= 9999 else {
            throw DecodingError.dataCorruptedError(
                forKey: .length, in: c, debugDescription: "field \(number): length \(length) out of range")
        }
    }
}

/// How a whole message is laid out.
public struct MessageSpec: Codable, Sendable {
    /// How the MTI is written: 4 ASCII digits, 2 bytes of BCD, or 4 EBCDIC digits.
    public enum MTIEncoding: String, Codable, Sendable { case ascii, bcd, ebcdic }
    /// How the bitmaps are written: 8 raw bytes each, or 16 hex characters each.
    public enum BitmapEncoding: String, Codable, Sendable { case binary, hex }
    /// The length header in front of each message on the wire.
    public enum Framing: String, Codable, Sendable {
        case twoByteBinary = "2-byte-binary"  // big-endian, the common NAC format
        case twoByteBCD = "2-byte-bcd"
        case fourByteASCII = "4-ascii"
        case none
    }

    /// The profile name, e.g. "iso87-ascii"; used in error reasons.
    public var name: String
    /// How the MTI is encoded.
    public var mtiEncoding: MTIEncoding
    /// How the primary and secondary bitmaps are encoded.
    public var bitmapEncoding: BitmapEncoding
    /// The length header in front of each message.
    public var framing: Framing
    /// A 5-byte TPDU (ID 60, destination, origin) between the length header and the MTI, when the network uses one.
    public var tpdu: [UInt8]?
    /// Largest message accepted on receive (the length header is checked before anything is read).
    public var maxMessageLength: Int
    /// The data elements this profile defines; a message may only carry these.
    public var fields: [FieldSpec]

    /// Describes a message layout; no TPDU and an 8192-byte receive limit unless given.
    public init(
        name: String, mtiEncoding: MTIEncoding, bitmapEncoding: BitmapEncoding, framing: Framing, tpdu: [UInt8]? = nil,
        maxMessageLength: Int = 8192, fields: [FieldSpec]
    ) {
        self.name = name
        self.mtiEncoding = mtiEncoding
        self.bitmapEncoding = bitmapEncoding
        self.framing = framing
        self.tpdu = tpdu
        self.maxMessageLength = maxMessageLength
        self.fields = fields
    }

    /// Field specs by number (built on first use by the codec).
    public func field(_ n: Int) -> FieldSpec? { fields.first { $0.number == n } }
}
