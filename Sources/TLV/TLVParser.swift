// BER-TLV decoding per EMV Book 3 Annex B, with two modes:
//  - strict: for the kernels. Any structural fault throws a `TLVError` naming the offset and the reason.
//  - lenient: for diagnostics. It keeps going, keeps what it could read and reports every fault and where.
// Card data is hostile input: every length is checked against the bytes that remain, nesting depth is bounded,
// and nothing allocates in proportion to a length field.

public struct TLVError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        case truncatedTag
        case tagTooLong
        case truncatedLength
        case indefiniteLength
        case lengthFieldTooLong(Int)
        case valueOverrun(declared: Int, available: Int)
        case nestingTooDeep
        case trailingGarbage
    }
    /// Offset of the faulty object from the start of the outermost buffer.
    public let offset: Int
    public let reason: Reason
    /// The tag being read when the fault was found, if it was read.
    public let tag: Tag?

    public init(offset: Int, reason: Reason, tag: Tag? = nil) {
        self.offset = offset
        self.reason = reason
        self.tag = tag
    }

    public var description: String {
        let at = "at offset \(offset)" + (tag.map { " (tag \($0.hex))" } ?? "")
        switch reason {
        case .truncatedTag: return "truncated tag \(at)"
        case .tagTooLong: return "tag longer than 4 bytes \(at)"
        case .truncatedLength: return "truncated length field \(at)"
        case .indefiniteLength: return "indefinite length (0x80) is not allowed in EMV \(at)"
        case .lengthFieldTooLong(let n): return "length field of \(n) bytes is too long \(at)"
        case .valueOverrun(let d, let a): return "length \(d) exceeds the \(a) bytes that remain \(at)"
        case .nestingTooDeep: return "templates nested deeper than \(TLVParser.maxDepth) levels \(at)"
        case .trailingGarbage: return "unparseable bytes after the last object \(at)"
        }
    }
}

/// The result of a lenient parse: what could be read, and what was wrong.
public struct LenientParse: Sendable {
    public var objects: [TLV]
    public var problems: [TLVError]
}

public enum TLVParser {
    /// Deepest template nesting accepted. EMV responses nest 3 levels at most (e.g. 6F/A5/BF0C/61).
    public static let maxDepth = 16

    /// Strict parse of a sequence of objects. Book 3 Annex B: `00` bytes may stand before, between and
    /// after objects; `FF` is treated the same way (ISO/IEC 7816-4 §5.2.2 padding).
    public static func parse(_ bytes: [UInt8]) throws -> [TLV] {
        try parse(bytes[...])
    }

    public static func parse(_ bytes: ArraySlice<UInt8>) throws -> [TLV] {
        var problems: [TLVError]? = nil
        return try parseSequence(bytes, depth: 0, base: bytes.startIndex, problems: &problems)
    }

    /// Parses exactly one object which must fill `bytes` (padding aside).
    public static func parseOne(_ bytes: [UInt8]) throws -> TLV {
        let objs = try parse(bytes)
        guard objs.count == 1 else {
            throw TLVError(offset: 0, reason: .trailingGarbage, tag: objs.first?.tag)
        }
        return objs[0]
    }

    /// Lenient parse: never throws.
    public static func parseLenient(_ bytes: [UInt8]) -> LenientParse {
        var problems: [TLVError]? = []
        let objs = (try? parseSequence(bytes[...], depth: 0, base: 0, problems: &problems)) ?? []
        return LenientParse(objects: objs, problems: problems ?? [])
    }

    // MARK: - Implementation

    /// `problems == nil` → strict (throw); non-nil → lenient (record and continue).
    /// Scans with integer indices into the shared buffer; the only slice made per object is its value.
    static func parseSequence(
        _ bytes: ArraySlice<UInt8>, depth: Int, base: Int,
        problems: inout [TLVError]?
    ) throws -> [TLV] {
        var out: [TLV] = []
        out.reserveCapacity(min(16, bytes.count / 2 + 1))
        var i = bytes.startIndex
        let end = bytes.endIndex
        while i < end {
            let first = bytes[i]
            if first == 0x00 || first == 0xFF {
                i += 1
                continue
            }
            let start = i
            let tag: Tag
            let length: Int
            do {
                tag = try readTag(bytes, &i, base: base)
                length = try readLength(bytes, &i, base: base, tag: tag)
            } catch let e as TLVError {
                if problems == nil { throw e }
                problems!.append(e)
                return out
            }
            let value: ArraySlice<UInt8>
            if length > end - i {
                let e = TLVError(
                    offset: start - base, reason: .valueOverrun(declared: length, available: end - i), tag: tag)
                if problems == nil { throw e }
                problems!.append(e)
                value = bytes[i..<end]  // keep what arrived so a technician can see it
                i = end
            } else {
                value = bytes[i..<(i + length)]
                i += length
            }
            var children: [TLV] = []
            if tag.isConstructed && !value.isEmpty {
                if depth + 1 >= maxDepth {
                    let e = TLVError(offset: start - base, reason: .nestingTooDeep, tag: tag)
                    if problems == nil { throw e }
                    problems!.append(e)
                } else {
                    children = try parseSequence(value, depth: depth + 1, base: base, problems: &problems)
                }
            }
            out.append(TLV(tag: tag, value: value, children: children))
        }
        return out
    }

    /// Book 3 Annex B1: reads one tag at `i`, advancing it.
    @inline(__always)
    static func readTag(_ bytes: ArraySlice<UInt8>, _ i: inout Int, base: Int) throws -> Tag {
        let start = i
        guard i < bytes.endIndex else { throw TLVError(offset: start - base, reason: .truncatedTag) }
        let b0 = bytes[i]
        i += 1
        var v = UInt32(b0)
        if b0 & 0x1F == 0x1F {
            var count = 1
            while true {
                guard i < bytes.endIndex else { throw TLVError(offset: start - base, reason: .truncatedTag) }
                let b = bytes[i]
                i += 1
                count += 1
                if count > 4 { throw TLVError(offset: start - base, reason: .tagTooLong) }
                v = v << 8 | UInt32(b)
                if b & 0x80 == 0 { break }
            }
        }
        return Tag(v)
    }

    /// Book 3 Annex B2: reads one length field at `i`, advancing it.
    @inline(__always)
    static func readLength(_ bytes: ArraySlice<UInt8>, _ i: inout Int, base: Int, tag: Tag) throws -> Int {
        let start = i
        guard i < bytes.endIndex else { throw TLVError(offset: start - base, reason: .truncatedLength, tag: tag) }
        let l0 = bytes[i]
        i += 1
        if l0 < 0x80 { return Int(l0) }
        let n = Int(l0 & 0x7F)
        if n == 0 { throw TLVError(offset: start - base, reason: .indefiniteLength, tag: tag) }
        if n > 3 { throw TLVError(offset: start - base, reason: .lengthFieldTooLong(n), tag: tag) }
        guard bytes.endIndex - i >= n else { throw TLVError(offset: start - base, reason: .truncatedLength, tag: tag) }
        var len = 0
        for k in 0..<n { len = len << 8 | Int(bytes[i + k]) }
        i += n
        return len
    }

    /// Slice-advancing forms, for callers that walk a buffer object by object (DOLs, tags).
    static func readTag(_ rest: inout ArraySlice<UInt8>, base: Int) throws -> Tag {
        var i = rest.startIndex
        let t = try readTag(rest, &i, base: base)
        rest = rest[i...]
        return t
    }

    static func readLength(_ rest: inout ArraySlice<UInt8>, base: Int, tag: Tag) throws -> Int {
        var i = rest.startIndex
        let l = try readLength(rest, &i, base: base, tag: tag)
        rest = rest[i...]
        return l
    }
}

extension TLVParser {
    /// Reads one tag at `i` of `bytes`, advancing `i` (for callers that walk encodings themselves).
    public static func tag(in bytes: ArraySlice<UInt8>, at i: inout Int) throws -> Tag {
        try readTag(bytes, &i, base: bytes.startIndex)
    }

    /// Reads one length field at `i` of `bytes`, advancing `i`.
    public static func length(in bytes: ArraySlice<UInt8>, at i: inout Int) throws -> Int {
        try readLength(bytes, &i, base: bytes.startIndex, tag: Tag(0))
    }

    /// The top-level objects of `bytes` with their encodings exactly as received (tag, length and value). Hashes
    /// over card data (the CDA transaction data hash code) must use the received bytes, not a re-encoding that
    /// might normalise a long-form length.
    public static func rawObjects(_ bytes: ArraySlice<UInt8>) throws -> [(tag: Tag, encoded: ArraySlice<UInt8>)] {
        var out: [(tag: Tag, encoded: ArraySlice<UInt8>)] = []
        var i = bytes.startIndex
        let base = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == 0x00 || bytes[i] == 0xFF {
                i += 1
                continue
            }
            let start = i
            let tag = try readTag(bytes, &i, base: base)
            let len = try readLength(bytes, &i, base: base, tag: tag)
            guard len <= bytes.endIndex - i else {
                throw TLVError(
                    offset: start - base, reason: .valueOverrun(declared: len, available: bytes.endIndex - i), tag: tag)
            }
            i += len
            out.append((tag, bytes[start..<i]))
        }
        return out
    }
}
