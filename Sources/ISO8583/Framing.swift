// Message framing on the wire: a length header in front of each message (the common "NAC" 2-byte big-endian
// length, a 2-byte BCD length, or 4 ASCII digits). Hostile lengths are refused before anything is read.

/// The length header in front of each ISO 8583 message on the wire: writing it and reading it back.
public enum ISOFraming {
    /// Size in bytes of the length header for a framing (0 for none).
    public static func headerLength(_ f: MessageSpec.Framing) -> Int {
        switch f {
        case .twoByteBinary, .twoByteBCD: return 2
        case .fourByteASCII: return 4
        case .none: return 0
        }
    }

    /// Prepends the length header to a message body. Throws `ISO8583Error` when the length does not fit the header
    /// (above 65535 bytes for 2-byte binary, 9999 for BCD and ASCII).
    public static func frame(_ body: [UInt8], _ f: MessageSpec.Framing) throws(ISO8583Error) -> [UInt8] {
        let n = body.count
        switch f {
        case .twoByteBinary:
            guard n <= 0xFFFF else {
                throw ISO8583Error(field: nil, offset: 0, reason: "message of \(n) bytes does not fit a 2-byte length")
            }
            return [UInt8(n >> 8), UInt8(n & 0xFF)] + body
        case .twoByteBCD:
            guard n <= 9999 else {
                throw ISO8583Error(field: nil, offset: 0, reason: "message of \(n) bytes does not fit a BCD length")
            }
            return [UInt8((n / 1000) << 4 | (n / 100) % 10), UInt8(((n / 10) % 10) << 4 | n % 10)] + body
        case .fourByteASCII:
            guard n <= 9999 else {
                throw ISO8583Error(field: nil, offset: 0, reason: "message of \(n) bytes does not fit 4 digits")
            }
            let s = String(n)
            return Array((String(repeating: "0", count: 4 - s.count) + s).utf8) + body
        case .none:
            return body
        }
    }

    /// The body length announced by a header, or nil while the header is incomplete. Throws on a malformed
    /// header or a length above `max`.
    public static func bodyLength(_ header: some Collection<UInt8>, _ f: MessageSpec.Framing, max: Int)
        throws(ISO8583Error) -> Int?
    {
        let h = Array(header.prefix(headerLength(f)))
        guard h.count == headerLength(f) else { return nil }
        let n: Int
        switch f {
        case .twoByteBinary: n = Int(h[0]) << 8 | Int(h[1])
        case .twoByteBCD:
            guard h.allSatisfy({ $0 >> 4 <= 9 && $0 & 0x0F <= 9 }) else {
                throw ISO8583Error(field: nil, offset: 0, reason: "length header is not BCD")
            }
            n = Int(h[0] >> 4) * 1000 + Int(h[0] & 0x0F) * 100 + Int(h[1] >> 4) * 10 + Int(h[1] & 0x0F)
        case .fourByteASCII:
            guard h.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw ISO8583Error(field: nil, offset: 0, reason: "length header is not digits")
            }
            n = h.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        case .none: return nil
        }
        guard n <= max else {
            throw ISO8583Error(field: nil, offset: 0, reason: "announced length \(n) exceeds the maximum \(max)")
        }
        guard n > 0 else { throw ISO8583Error(field: nil, offset: 0, reason: "announced length 0") }
        return n
    }
}
