// One BER-TLV data object (EMV Book 3 Annex B). Parsed objects share the bytes of their source: `value` is a
// slice, so parsing a whole card response allocates only the arrays that hold the objects.

public struct TLV: Sendable, Equatable, CustomStringConvertible {
    public let tag: Tag
    /// The value field. For a constructed object this is the encoding of its children (as received).
    public let value: ArraySlice<UInt8>
    /// Children of a constructed object, in order; empty for primitives.
    public let children: [TLV]

    /// A primitive data object.
    public init(tag: Tag, value: [UInt8]) {
        self.tag = tag
        self.value = value[...]
        self.children = []
    }

    /// A constructed data object (template) built from its children.
    public init(tag: Tag, children: [TLV]) {
        self.tag = tag
        var v: [UInt8] = []
        for c in children { c.encode(into: &v) }
        self.value = v[...]
        self.children = children
    }

    init(tag: Tag, value: ArraySlice<UInt8>, children: [TLV]) {
        self.tag = tag
        self.value = value
        self.children = children
    }

    public var bytes: [UInt8] { Array(value) }

    /// Depth-first search of this object and its descendants for `tag`.
    public func first(_ tag: Tag) -> TLV? {
        if self.tag == tag { return self }
        for c in children { if let f = c.first(tag) { return f } }
        return nil
    }

    /// The whole encoding: tag, length, value.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(value.count + 8)
        encode(into: &out)
        return out
    }

    public func encode(into out: inout [UInt8]) {
        out.append(contentsOf: tag.bytes)
        TLV.appendLength(value.count, to: &out)
        out.append(contentsOf: value)
    }

    /// Book 3 Annex B2: short form for 0...127, else 81/82/83/84 followed by the length.
    public static func appendLength(_ n: Int, to out: inout [UInt8]) {
        precondition(n >= 0)
        if n < 0x80 {
            out.append(UInt8(n))
            return
        }
        var bytes: [UInt8] = []
        var v = n
        while v > 0 {
            bytes.insert(UInt8(v & 0xFF), at: 0)
            v >>= 8
        }
        out.append(0x80 | UInt8(bytes.count))
        out.append(contentsOf: bytes)
    }

    public var description: String {
        children.isEmpty
            ? "\(tag.hex)[\(value.count)]=\(value.hex)"
            : "\(tag.hex){\(children.map(\.description).joined(separator: ","))}"
    }

    public static func == (lhs: TLV, rhs: TLV) -> Bool {
        lhs.tag == rhs.tag && lhs.value.elementsEqual(rhs.value)
    }
}

extension Array where Element == TLV {
    /// Depth-first search over a list of objects.
    public func first(_ tag: Tag) -> TLV? {
        for t in self { if let f = t.first(tag) { return f } }
        return nil
    }

    /// Concatenated encodings.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        for t in self { t.encode(into: &out) }
        return out
    }
}
