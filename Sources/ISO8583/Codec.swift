// Packs and unpacks ISO 8583 messages by a MessageSpec. Every length is checked against the bytes present; a
// fault names the field, its offset and the reason, and never reveals a sensitive value.

/// A malformed ISO 8583 message or spec: the field, the byte offset and the reason, never the field's value.
public struct ISO8583Error: Error, Equatable, Sendable, CustomStringConvertible {
    /// The data element (0 = MTI, 1 = bitmap) or nil for the frame.
    public let field: Int?
    /// Byte offset in the message where the fault was found.
    public let offset: Int
    /// What was wrong, in words safe to log.
    public let reason: String

    /// Creates an error for a field (0 = MTI, 1 = bitmap, nil = the frame) at a byte offset.
    public init(field: Int?, offset: Int, reason: String) {
        self.field = field
        self.offset = offset
        self.reason = reason
    }

    /// The field ("MTI", "bitmap", "DE n" or "frame"), the offset and the reason, for logs.
    public var description: String {
        "\(field.map { $0 == 0 ? "MTI" : $0 == 1 ? "bitmap" : "DE \($0)" } ?? "frame") at offset \(offset): \(reason)"
    }
}

/// Packs and unpacks ISO 8583 messages (MTI, bitmaps, data elements) according to a `MessageSpec`.
public struct ISO8583Codec: Sendable {
    /// The message spec this codec was built from.
    public let spec: MessageSpec
    private let table: [FieldSpec?]

    /// Builds a codec for `spec`. Throws `ISO8583Error` if a field is outside DE 2–128, is DE 65, is defined twice, or
    /// has a type its encoding cannot carry.
    public init(spec: MessageSpec) throws {
        var t = [FieldSpec?](repeating: nil, count: 129)
        for f in spec.fields {
            guard (2...128).contains(f.number), f.number != 65 else {
                throw ISO8583Error(field: f.number, offset: 0, reason: "not a data element this codec supports")
            }
            guard t[f.number] == nil else {
                throw ISO8583Error(field: f.number, offset: 0, reason: "defined twice in \(spec.name)")
            }
            switch (f.type, f.encoding) {
            case (.b, .binary), (.n, .ascii), (.n, .bcd), (.n, .ebcdic), (.an, .ascii), (.an, .ebcdic), (.ans, .ascii),
                (.ans, .ebcdic), (.z, .ascii), (.z, .bcd), (.z, .ebcdic):
                break
            default:
                throw ISO8583Error(
                    field: f.number, offset: 0, reason: "type \(f.type) cannot be encoded as \(f.encoding)")
            }
            t[f.number] = f
        }
        self.spec = spec
        self.table = t
    }

    // MARK: Pack

    /// Encodes a message as TPDU (when the spec has one), MTI, bitmaps and fields, without the length header.
    /// Throws `ISO8583Error` for an MTI that is not 4 digits, a field the spec lacks, or a malformed or too long value.
    public func pack(_ m: ISOMessage) throws(ISO8583Error) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        if let tpdu = spec.tpdu { out += m.tpdu ?? tpdu }
        try packMTI(m.mti, into: &out)
        var bitmap = [UInt8](repeating: 0, count: 16)
        var secondary = false
        for n in 2...128 where m.values[n] != nil {
            guard table[n] != nil else {
                throw ISO8583Error(field: n, offset: out.count, reason: "not defined in \(spec.name)")
            }
            bitmap[(n - 1) / 8] |= 0x80 >> UInt8((n - 1) % 8)
            if n > 64 { secondary = true }
        }
        if secondary { bitmap[0] |= 0x80 }
        let bm = Array(bitmap.prefix(secondary ? 16 : 8))
        switch spec.bitmapEncoding {
        case .binary: out += bm
        case .hex: out += Array(hexString(bm).utf8)
        }
        for n in 2...128 {
            guard let v = m.values[n], let f = table[n] else { continue }
            try packField(f, v, into: &out)
        }
        return out
    }

    private func packMTI(_ mti: String, into out: inout [UInt8]) throws(ISO8583Error) {
        let d = Array(mti.utf8)
        guard d.count == 4, d.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw ISO8583Error(field: 0, offset: out.count, reason: "MTI must be 4 digits")
        }
        switch spec.mtiEncoding {
        case .ascii: out += d
        case .ebcdic: out += EBCDIC.encode(d)
        case .bcd: out += [(d[0] - 0x30) << 4 | (d[1] - 0x30), (d[2] - 0x30) << 4 | (d[3] - 0x30)]
        }
    }

    private func packField(_ f: FieldSpec, _ value: [UInt8], into out: inout [UInt8]) throws(ISO8583Error) {
        var v = value
        let at = out.count
        func fail(_ r: String) -> ISO8583Error { ISO8583Error(field: f.number, offset: at, reason: r) }
        // Validate the logical value.
        switch f.type {
        case .n: guard v.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw fail("not numeric") }
        case .z:
            guard v.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x3D || $0 == 0x44 }) else {
                throw fail("not track data (digits and = or D)")
            }
        case .an, .ans: guard v.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { throw fail("not printable text") }
        case .b: break
        }
        if f.lengthType == .fixed {
            if v.count > f.length { throw fail("\(v.count) exceeds the fixed length \(f.length)") }
            if v.count < f.length {
                switch f.type {
                case .n: v = [UInt8](repeating: 0x30, count: f.length - v.count) + v
                case .an, .ans: v += [UInt8](repeating: 0x20, count: f.length - v.count)
                case .b, .z: throw fail("\(v.count) is shorter than the fixed length \(f.length)")
                }
            }
        } else {
            if v.count > f.length { throw fail("\(v.count) exceeds the maximum length \(f.length)") }
            try packLength(v.count, f, into: &out)
        }
        switch f.encoding {
        case .ascii, .binary: out += v
        case .ebcdic: out += EBCDIC.encode(v)
        case .bcd: packBCD(v, trailingF: f.type == .z, into: &out)
        }
    }

    private func packLength(_ count: Int, _ f: FieldSpec, into out: inout [UInt8]) throws(ISO8583Error) {
        let digits = f.lengthType.digits
        switch f.lengthEncoding {
        case .ascii, .ebcdic:
            var d = digits
            while d > 0 {
                d -= 1
                let digit = UInt8((count / pow10[d]) % 10)
                out.append(f.lengthEncoding == .ascii ? 0x30 + digit : 0xF0 + digit)
            }
        case .bcd:
            // LL → one byte, LLL and LLLL → two bytes.
            if digits <= 2 {
                out.append(UInt8((count / 10) % 10) << 4 | UInt8(count % 10))
            } else {
                out += [
                    UInt8((count / 1000) % 10) << 4 | UInt8((count / 100) % 10),
                    UInt8((count / 10) % 10) << 4 | UInt8(count % 10),
                ]
            }
        case .binary:
            if digits <= 2 { out.append(UInt8(count)) } else { out += [UInt8(count >> 8), UInt8(count & 0xFF)] }
        }
    }

    private let pow10 = [1, 10, 100, 1000, 10000]

    /// Digits (and D / = as nibble D) into packed BCD, written straight into `out`; an odd count gets a leading
    /// 0 nibble, or a trailing F for z.
    private func packBCD(_ text: [UInt8], trailingF: Bool, into out: inout [UInt8]) {
        @inline(__always) func nib(_ c: UInt8) -> UInt8 { c == 0x3D || c == 0x44 ? 0x0D : c - 0x30 }
        var i = 0
        if text.count % 2 == 1 && !trailingF {
            out.append(nib(text[0]))
            i = 1
        }
        while i + 1 < text.count {
            out.append(nib(text[i]) << 4 | nib(text[i + 1]))
            i += 2
        }
        if i < text.count { out.append(nib(text[i]) << 4 | 0x0F) }
    }

    // MARK: Unpack

    /// Decodes one message body (without the length header, with the TPDU when the spec has one). Throws `ISO8583Error`
    /// on truncation, bad encoding, a field the spec lacks, a tertiary bitmap or bytes left over.
    public func unpack(_ bytes: [UInt8]) throws(ISO8583Error) -> ISOMessage {
        guard bytes.count <= spec.maxMessageLength else {
            throw ISO8583Error(
                field: nil, offset: 0, reason: "message of \(bytes.count) bytes exceeds \(spec.maxMessageLength)")
        }
        var i = 0
        var tpdu: [UInt8]? = nil
        if spec.tpdu != nil {
            guard bytes.count >= 5 else { throw ISO8583Error(field: nil, offset: 0, reason: "truncated TPDU") }
            tpdu = Array(bytes[0..<5])
            i = 5
        }
        var m = ISOMessage(mti: try unpackMTI(bytes, &i))
        m.tpdu = tpdu
        // Bitmaps.
        let bmStart = i
        var bitmap: [UInt8]
        switch spec.bitmapEncoding {
        case .binary:
            guard bytes.count - i >= 8 else {
                throw ISO8583Error(field: 1, offset: i, reason: "truncated primary bitmap")
            }
            bitmap = Array(bytes[i..<(i + 8)])
            i += 8
            if bitmap[0] & 0x80 != 0 {
                guard bytes.count - i >= 8 else {
                    throw ISO8583Error(field: 1, offset: i, reason: "truncated secondary bitmap")
                }
                bitmap += bytes[i..<(i + 8)]
                i += 8
            }
        case .hex:
            guard bytes.count - i >= 16, let p = hexBytes(bytes[i..<(i + 16)]) else {
                throw ISO8583Error(field: 1, offset: i, reason: "truncated or non-hex primary bitmap")
            }
            bitmap = p
            i += 16
            if bitmap[0] & 0x80 != 0 {
                guard bytes.count - i >= 16, let s = hexBytes(bytes[i..<(i + 16)]) else {
                    throw ISO8583Error(field: 1, offset: i, reason: "truncated or non-hex secondary bitmap")
                }
                bitmap += s
                i += 16
            }
        }
        if bitmap.count == 16, bitmap[8] & 0x80 != 0 {
            throw ISO8583Error(field: 65, offset: bmStart, reason: "a tertiary bitmap (field 65) is not supported")
        }
        for n in 2...(bitmap.count * 8) where bitmap[(n - 1) / 8] & (0x80 >> UInt8((n - 1) % 8)) != 0 {
            guard let f = table[n] else {
                throw ISO8583Error(field: n, offset: i, reason: "present in the bitmap but not defined in \(spec.name)")
            }
            m.values[n] = try unpackField(f, bytes, &i)
        }
        guard i == bytes.count else {
            throw ISO8583Error(field: nil, offset: i, reason: "\(bytes.count - i) bytes after the last field")
        }
        return m
    }

    private func unpackMTI(_ b: [UInt8], _ i: inout Int) throws(ISO8583Error) -> String {
        let n = spec.mtiEncoding == .bcd ? 2 : 4
        guard b.count - i >= n else { throw ISO8583Error(field: 0, offset: i, reason: "truncated MTI") }
        let raw = b[i..<(i + n)]
        defer { i += n }
        let digits: [UInt8]?
        switch spec.mtiEncoding {
        case .ascii: digits = Array(raw)
        case .ebcdic: digits = EBCDIC.decode(raw)
        case .bcd: digits = unpackBCD(raw, digits: 4, trailingF: false)
        }
        guard let d = digits, d.count == 4, d.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw ISO8583Error(field: 0, offset: i, reason: "MTI is not 4 digits")
        }
        return String(decoding: d, as: UTF8.self)
    }

    private func unpackField(_ f: FieldSpec, _ b: [UInt8], _ i: inout Int) throws(ISO8583Error) -> [UInt8] {
        let at = i
        func fail(_ r: String) -> ISO8583Error { ISO8583Error(field: f.number, offset: at, reason: r) }
        var count = f.length
        if f.lengthType != .fixed {
            count = try unpackLength(f, b, &i)
            guard count <= f.length else { throw fail("length \(count) exceeds the maximum \(f.length)") }
        }
        // Bytes on the wire for `count` units.
        let size: Int
        switch f.encoding {
        case .bcd: size = (count + 1) / 2
        default: size = count
        }
        guard b.count - i >= size else { throw fail("needs \(size) bytes, \(b.count - i) remain") }
        let raw = b[i..<(i + size)]
        i += size
        let value: [UInt8]
        switch f.encoding {
        case .ascii, .binary: value = Array(raw)
        case .ebcdic:
            guard let v = EBCDIC.decode(raw) else { throw fail("not EBCDIC text") }
            value = v
        case .bcd:
            guard let v = unpackBCD(raw, digits: count, trailingF: f.type == .z) else { throw fail("not BCD") }
            value = v
        }
        switch f.type {
        case .n: guard value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw fail("not numeric") }
        case .z:
            guard value.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x3D || $0 == 0x44 }) else {
                throw fail("not track data")
            }
        case .an, .ans: guard value.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { throw fail("not printable text") }
        case .b: break
        }
        return value
    }

    private func unpackLength(_ f: FieldSpec, _ b: [UInt8], _ i: inout Int) throws(ISO8583Error) -> Int {
        let digits = f.lengthType.digits
        let at = i
        func fail(_ r: String) -> ISO8583Error { ISO8583Error(field: f.number, offset: at, reason: r) }
        switch f.lengthEncoding {
        case .ascii, .ebcdic:
            guard b.count - i >= digits else { throw fail("truncated length prefix") }
            let raw = b[i..<(i + digits)]
            i += digits
            guard let d = f.lengthEncoding == .ascii ? Array(raw) : EBCDIC.decode(raw),
                d.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
            else { throw fail("length prefix is not digits") }
            return d.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        case .bcd:
            let n = (digits + 1) / 2
            guard b.count - i >= n else { throw fail("truncated length prefix") }
            var v = 0
            for k in 0..<n {
                let hi = b[i + k] >> 4
                let lo = b[i + k] & 0x0F
                guard hi <= 9, lo <= 9 else { throw fail("length prefix is not BCD") }
                v = v * 100 + Int(hi) * 10 + Int(lo)
            }
            i += n
            return v
        case .binary:
            let n = digits <= 2 ? 1 : 2
            guard b.count - i >= n else { throw fail("truncated length prefix") }
            let v = n == 1 ? Int(b[i]) : Int(b[i]) << 8 | Int(b[i + 1])
            i += n
            return v
        }
    }

    /// Packed BCD to digit text, in one pass; a leading pad nibble (odd counts) must be 0, a trailing pad for z
    /// must be F; D is a separator only in z fields.
    private func unpackBCD(_ raw: ArraySlice<UInt8>, digits: Int, trailingF: Bool) -> [UInt8]? {
        let total = raw.count * 2
        let pad = total > digits
        var out = [UInt8](repeating: 0, count: pad ? total - 1 : total)
        var o = 0
        var k = 0
        for b in raw {
            let hi = b >> 4
            let lo = b & 0x0F
            if k == 0 && pad && !trailingF {
                guard hi == 0 else { return nil }  // the leading pad nibble of an odd count
            } else {
                guard let c = Self.bcdCharacter(hi, trailingF) else { return nil }
                out[o] = c
                o += 1
            }
            if k + 1 == total - 1 && pad && trailingF {
                guard lo == 0x0F else { return nil }  // the trailing F of an odd track 2
            } else {
                guard let c = Self.bcdCharacter(lo, trailingF) else { return nil }
                out[o] = c
                o += 1
            }
            k += 2
        }
        return out
    }

    @inline(__always)
    private static func bcdCharacter(_ n: UInt8, _ z: Bool) -> UInt8? {
        if n <= 9 { return 0x30 + n }
        return n == 0x0D && z ? 0x44 : nil
    }

    // MARK: Hex bitmaps

    private func hexString(_ b: [UInt8]) -> String {
        let d = Array("0123456789ABCDEF")
        return String(b.flatMap { [d[Int($0 >> 4)], d[Int($0 & 0xF)]] })
    }

    private func hexBytes(_ s: ArraySlice<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        var it = s.makeIterator()
        while let h = it.next(), let l = it.next() {
            guard let a = nib(h), let c = nib(l) else { return nil }
            out.append(a << 4 | c)
        }
        return out
    }

    private func nib(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
}
