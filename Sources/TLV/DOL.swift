// Data Object Lists (PDOL, CDOL1/2, DDOL, TDOL, UDOL, DSDOL): a list of tag + length pairs without values.
// Book 3 §5.4 says how the terminal builds the concatenated value field from a DOL.

public struct DOLEntry: Sendable, Equatable {
    public let tag: Tag
    public let length: Int
    public init(tag: Tag, length: Int) {
        self.tag = tag
        self.length = length
    }
}

public struct DOLError: Error, Equatable, Sendable, CustomStringConvertible {
    public let offset: Int
    public let message: String
    public var description: String { "malformed DOL at offset \(offset): \(message)" }
}

public struct DataObjectList: Sendable, Equatable {
    public let entries: [DOLEntry]

    /// Largest total a DOL may ask for. A DOL sits in a record or FCI of at most 252 bytes, so each entry has a
    /// one-byte length; the sum is bounded to keep a hostile card from making the terminal build huge buffers.
    public static let maxTotalLength = 1024

    public init(entries: [DOLEntry]) { self.entries = entries }

    /// Parses the DOL itself (tag, length, tag, length, …). Lengths are single-byte or BER long form.
    public init(parsing bytes: some Collection<UInt8>) throws {
        var rest = ArraySlice(Array(bytes))
        let base = rest.startIndex
        var out: [DOLEntry] = []
        var total = 0
        while !rest.isEmpty {
            let at = rest.startIndex - base
            let tag: Tag
            let len: Int
            do {
                tag = try TLVParser.readTag(&rest, base: base)
                len = try TLVParser.readLength(&rest, base: base, tag: tag)
            } catch let e as TLVError {
                throw DOLError(offset: at, message: e.description)
            }
            total += len
            if total > Self.maxTotalLength {
                throw DOLError(offset: at, message: "total requested length exceeds \(Self.maxTotalLength) bytes")
            }
            out.append(DOLEntry(tag: tag, length: len))
        }
        entries = out
    }

    /// Sum of the requested lengths: the size of the data `build` returns.
    public var totalLength: Int { entries.reduce(0) { $0 + $1.length } }

    /// The DOL's own encoding.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        for e in entries {
            out += e.tag.bytes
            TLV.appendLength(e.length, to: &out)
        }
        return out
    }

    /// Builds the DOL related data per Book 3 §5.4:
    /// - a constructed tag, or one the terminal has no value for → `length` bytes of 00;
    /// - a value longer than asked: format n keeps the rightmost bytes, all others keep the leftmost;
    /// - a value shorter than asked: format n pads with 00 on the left, cn pads with FF on the right,
    ///   all others pad with 00 on the right.
    /// The format comes from the data dictionary (`context` picks the kernel's meaning of a shared tag).
    public func build(context: KernelContext? = nil, value: (Tag) -> [UInt8]?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(totalLength)
        for e in entries {
            let format = DataDictionary.element(e.tag, context: context)?.format ?? .b
            guard !e.tag.isConstructed, let v = value(e.tag) else {
                out.append(contentsOf: repeatElement(0, count: e.length))
                continue
            }
            out.append(contentsOf: Self.fit(v, to: e.length, format: format))
        }
        return out
    }

    /// Truncates or pads one value to `length` per Book 3 §5.4.
    public static func fit(_ v: [UInt8], to length: Int, format: DataFormat) -> [UInt8] {
        if v.count == length { return v }
        if v.count > length {
            return format == .n ? Array(v.suffix(length)) : Array(v.prefix(length))
        }
        let pad = length - v.count
        switch format {
        case .n: return [UInt8](repeating: 0, count: pad) + v
        case .cn: return v + [UInt8](repeating: 0xFF, count: pad)
        default: return v + [UInt8](repeating: 0, count: pad)
        }
    }

    /// Splits DOL related data back into (tag, value) pairs; nil when `data` does not match the DOL's length.
    public func split(_ data: some Collection<UInt8>) -> [(Tag, [UInt8])]? {
        let d = Array(data)
        guard d.count == totalLength else { return nil }
        var i = 0
        return entries.map { e in
            defer { i += e.length }
            return (e.tag, Array(d[i..<i + e.length]))
        }
    }
}

/// Numeric (BCD) helpers for EMV formats n and cn.
public enum BCD {
    /// Format n: `value` right-justified in `bytes` bytes of BCD. Returns nil if it does not fit.
    public static func encode(_ value: UInt64, bytes: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: bytes)
        var v = value
        for i in stride(from: bytes - 1, through: 0, by: -1) {
            out[i] = UInt8(v % 10) | UInt8((v / 10) % 10) << 4
            v /= 100
        }
        return v == 0 ? out : nil
    }

    /// Decodes format n; nil when a nibble is not a decimal digit or the number overflows.
    public static func decode(_ bytes: some Collection<UInt8>) -> UInt64? {
        var v: UInt64 = 0
        for b in bytes {
            let hi = b >> 4
            let lo = b & 0x0F
            guard hi < 10, lo < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 100)
            let (s, o2) = m.addingReportingOverflow(UInt64(hi) * 10 + UInt64(lo))
            guard !o1, !o2 else { return nil }
            v = s
        }
        return v
    }

    /// Digits of a BCD string, stopping at the first F nibble (format cn). Nil if a nibble is A–E.
    public static func digits(_ bytes: some Collection<UInt8>) -> String? {
        var s = ""
        for b in bytes {
            for nib in [b >> 4, b & 0x0F] {
                if nib == 0x0F { return s }
                guard nib < 10 else { return nil }
                s.append(Character(Unicode.Scalar(UInt8(ascii: "0") + nib)))
            }
        }
        return s
    }

    /// Packs decimal digits into cn format (padded with F on the right).
    public static func packDigits(_ digits: String) -> [UInt8]? {
        var nibs: [UInt8] = []
        for c in digits.utf8 {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            nibs.append(c - UInt8(ascii: "0"))
        }
        if nibs.count % 2 == 1 { nibs.append(0x0F) }
        return stride(from: 0, to: nibs.count, by: 2).map { nibs[$0] << 4 | nibs[$0 + 1] }
    }
}
