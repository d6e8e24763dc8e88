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
        self.offset = offset; self.reason = reason; self.tag = tag
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
    static func parseSequence(_ bytes: ArraySlice<UInt8>, depth: Int, base: Int,
                              problems: inout [TLVError]?) throws -> [TLV] {
        var out: [TLV] = []
        var rest = bytes
        while let first = rest.first {
            if first == 0x00 || first == 0xFF { rest = rest.dropFirst(); continue }
            let start = rest.startIndex
            let tag: Tag
            do {
                tag = try readTag(&rest, base: base)
            } catch let e as TLVError {
                if problems == nil { throw e }
                problems!.append(e); return out
            }
            let length: Int
            do {
                length = try readLength(&rest, base: base, tag: tag)
            } catch let e as TLVError {
                if problems == nil { throw e }
                problems!.append(e); return out
            }
            var value: ArraySlice<UInt8>
            if length > rest.count {
                let e = TLVError(offset: start - base, reason: .valueOverrun(declared: length, available: rest.count), tag: tag)
                if problems == nil { throw e }
                problems!.append(e)
                value = rest            // keep what arrived so a technician can see it
                rest = rest[rest.endIndex...]
            } else {
                value = rest.prefix(length)
                rest = rest.dropFirst(length)
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

    /// Book 3 Annex B1: reads one tag, advancing `rest`.
    static func readTag(_ rest: inout ArraySlice<UInt8>, base: Int) throws -> Tag {
        let start = rest.startIndex
        guard let b0 = rest.first else { throw TLVError(offset: start - base, reason: .truncatedTag) }
        rest = rest.dropFirst()
        var v = UInt32(b0)
        if b0 & 0x1F == 0x1F {
            var count = 1
            while true {
                guard let b = rest.first else { throw TLVError(offset: start - base, reason: .truncatedTag) }
                rest = rest.dropFirst()
                count += 1
                if count > 4 { throw TLVError(offset: start - base, reason: .tagTooLong) }
                v = v << 8 | UInt32(b)
                if b & 0x80 == 0 { break }
            }
        }
        return Tag(v)
    }

    /// Book 3 Annex B2: reads one length field, advancing `rest`.
    static func readLength(_ rest: inout ArraySlice<UInt8>, base: Int, tag: Tag) throws -> Int {
        let start = rest.startIndex
        guard let l0 = rest.first else { throw TLVError(offset: start - base, reason: .truncatedLength, tag: tag) }
        rest = rest.dropFirst()
        if l0 < 0x80 { return Int(l0) }
        let n = Int(l0 & 0x7F)
        if n == 0 { throw TLVError(offset: start - base, reason: .indefiniteLength, tag: tag) }
        if n > 3 { throw TLVError(offset: start - base, reason: .lengthFieldTooLong(n), tag: tag) }
        guard rest.count >= n else { throw TLVError(offset: start - base, reason: .truncatedLength, tag: tag) }
        var len = 0
        for b in rest.prefix(n) { len = len << 8 | Int(b) }
        rest = rest.dropFirst(n)
        return len
    }
}

extension TLVParser {
    /// The top-level objects of `bytes` with their encodings exactly as received (tag, length and value). Hashes
    /// over card data (the CDA transaction data hash code) must use the received bytes, not a re-encoding that
    /// might normalise a long-form length.
    public static func rawObjects(_ bytes: ArraySlice<UInt8>) throws -> [(tag: Tag, encoded: ArraySlice<UInt8>)] {
        var out: [(tag: Tag, encoded: ArraySlice<UInt8>)] = []
        var rest = bytes
        let base = bytes.startIndex
        while let first = rest.first {
            if first == 0x00 || first == 0xFF { rest = rest.dropFirst(); continue }
            let start = rest.startIndex
            let tag = try readTag(&rest, base: base)
            let len = try readLength(&rest, base: base, tag: tag)
            guard len <= rest.count else {
                throw TLVError(offset: start - base, reason: .valueOverrun(declared: len, available: rest.count), tag: tag)
            }
            rest = rest.dropFirst(len)
            out.append((tag, bytes[start..<rest.startIndex]))
        }
        return out
    }
}
