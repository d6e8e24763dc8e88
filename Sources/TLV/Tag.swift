// BER-TLV tags as used by EMV. EMV Book 3 Annex B1: tag fields are one or more bytes; b5..b1 = 11111 of the
// first byte means "more bytes follow", and b8 of each subsequent byte means "another byte follows".

/// A BER-TLV tag of one to four bytes, kept as a big-endian integer (`0x9F02`, `0x70`, `0xDF8117`).
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// Builds a tag from its encoded bytes (1 to 4). Returns nil when the bytes are not one well-formed tag.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard !bytes.isEmpty, bytes.count <= 4 else { return nil }
        var v: UInt32 = 0
        for b in bytes { v = v << 8 | UInt32(b) }
        let t = Tag(v)
        guard t.bytes.elementsEqual(bytes) else { return nil }
        // Structural check: a multi-byte tag must announce continuation correctly.
        var it = Array(bytes)[...]
        guard let parsed = try? TLVParser.readTag(&it, base: 0), parsed == t, it.isEmpty else { return nil }
        self = t
    }

    /// The encoded bytes of the tag, most significant first.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        var started = false
        for shift in stride(from: 24, through: 0, by: -8) {
            let b = UInt8(truncatingIfNeeded: rawValue >> UInt32(shift))
            if b != 0 || started || shift == 0 {
                out.append(b)
                started = true
            }
        }
        return out
    }

    /// The first byte of the encoded tag (the most significant non-zero byte; computed without allocating).
    public var firstByte: UInt8 {
        var v = rawValue
        while v > 0xFF { v >>= 8 }
        return UInt8(v)
    }

    /// Book 3 Annex B1: b6 of the first byte set → constructed data object.
    public var isConstructed: Bool { firstByte & 0x20 != 0 }

    public enum TagClass: String, Sendable {
        case universal, application
        case contextSpecific = "context-specific"
        case `private`
    }

    /// Book 3 Annex B1: b8..b7 of the first byte.
    public var tagClass: TagClass {
        switch firstByte >> 6 {
        case 0: return .universal
        case 1: return .application
        case 2: return .contextSpecific
        default: return .private
        }
    }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension Tag: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: UInt32) { self.init(value) }
}
