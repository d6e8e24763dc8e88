// Turns TLV trees into something people can read: names from the dictionary, decoded values, bit fields in
// words, and sensitive card data masked. Used by `tapctl tlv decode` and by diagnostics.

public struct DescribedObject: Sendable, Codable, Equatable {
    public var tag: String
    public var name: String
    public var length: Int
    /// Hex of the value; sensitive data is never included (see `masked`).
    public var value: String?
    public var masked: String?
    /// A binary value whose bytes are all printable ASCII, as text (a DF name reads "2PAY.SYS.DDF01"), so a technician
    /// reading a trace sees what the card said. Never set for sensitive data.
    public var text: String?
    public var decoded: [String]
    public var children: [DescribedObject]
    public var warnings: [String]
}

public struct Description: Sendable, Codable {
    public var objects: [DescribedObject]
    public var problems: [String]
    public var kernel: String?
}

public enum Describe {
    /// Describes `bytes`, parsing leniently so that a broken response still shows what it holds.
    public static func describe(_ bytes: [UInt8], context: KernelContext? = nil) -> Description {
        let parsed = TLVParser.parseLenient(bytes)
        var ctx = context
        if ctx == nil, let aid = parsed.objects.first(0x4F) ?? parsed.objects.first(0x84) {
            ctx = DataDictionary.context(forAID: aid.value)
        }
        return Description(
            objects: parsed.objects.map { describe($0, context: ctx) },
            problems: parsed.problems.map(\.description),
            kernel: ctx?.rawValue)
    }

    public static func describe(_ tlv: TLV, context: KernelContext?) -> DescribedObject {
        let element = DataDictionary.element(tlv.tag, context: context)
        var warnings: [String] = []
        if let e = element, !e.accepts(length: tlv.value.count), e.format != .template {
            warnings.append("length \(tlv.value.count) outside \(e.minLength)...\(e.maxLength)")
        }
        if DataDictionary.isContextSpecific(tlv.tag), context == nil {
            warnings.append("meaning depends on the kernel; shown as \(element?.kernel?.rawValue ?? "general")")
        }
        let sensitive = DataDictionary.sensitiveTags.contains(tlv.tag)
        var masked: String? = nil
        var decoded: [String] = []
        if sensitive {
            switch element?.kind {
            case .sensitivePAN?: masked = CardDataMask.pan(bcd: tlv.value) ?? "<\(tlv.value.count) bytes masked>"
            case .sensitiveTrack? where tlv.tag == 0x57 || tlv.tag == 0x9F6B: masked = CardDataMask.track2(tlv.value)
            default: masked = "<\(tlv.value.count) bytes masked>"
            }
        } else if tlv.children.isEmpty, let e = element {
            decoded = decode(tlv.value, kind: e.kind, format: e.format, context: context)
        }
        let textual = element.map { if case .text = $0.kind { return true } else { return false } } ?? false
        return DescribedObject(
            tag: tlv.tag.hex,
            name: element?.name ?? (tlv.tag.isConstructed ? "Unknown template" : "Unknown data element"),
            length: tlv.value.count,
            value: sensitive || !tlv.children.isEmpty ? nil : tlv.value.hex,
            masked: masked,
            text: sensitive || !tlv.children.isEmpty || textual ? nil : printableText(tlv.value),
            decoded: decoded,
            children: tlv.children.map { describe($0, context: context) },
            warnings: warnings)
    }

    /// Decodes one value for display.
    public static func decode(
        _ v: ArraySlice<UInt8>, kind: ValueKind, format: DataFormat,
        context: KernelContext?
    ) -> [String] {
        switch kind {
        case .bytes, .sensitivePAN, .sensitiveTrack, .sensitiveName:
            return []
        case .text:
            let printable = v.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
            return printable ? ["\"" + String(decoding: v, as: UTF8.self) + "\""] : ["(not printable text)"]
        case .number:
            if format == .n, let n = BCD.decode(v) { return ["\(n)"] }
            return []
        case .amount:
            guard let n = BCD.decode(v) else { return ["invalid BCD amount"] }
            return ["\(n) (minor units)"]
        case .binaryAmount:
            guard v.count <= 8 else { return [] }
            return ["\(v.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) (minor units)"]
        case .date:
            guard v.count == 3, let yy = BCD.decode(v.prefix(1)), let mm = BCD.decode(v.dropFirst().prefix(1)),
                let dd = BCD.decode(v.suffix(1)), (1...12).contains(mm), (1...31).contains(dd)
            else {
                return ["invalid date"]
            }
            // Book 3 §6.7 / Book 4 §6.4: YY 00–49 → 20YY, 50–99 → 19YY.
            let year = yy < 50 ? 2000 + yy : 1900 + yy
            return ["\(year)-\(pad2(mm))-\(pad2(dd))"]
        case .time:
            guard v.count == 3, let h = BCD.decode(v.prefix(1)), let m = BCD.decode(v.dropFirst().prefix(1)),
                let s = BCD.decode(v.suffix(1)), h < 24, m < 60, s < 60
            else { return ["invalid time"] }
            return ["\(pad2(h)):\(pad2(m)):\(pad2(s))"]
        case .currency:
            guard let n = BCD.decode(v) else { return ["invalid BCD"] }
            return [ISOCodes.currency(Int(n)).map { "\($0) (\(n))" } ?? "\(n)"]
        case .country:
            guard let n = BCD.decode(v) else { return ["invalid BCD"] }
            return [ISOCodes.country(Int(n)).map { "\($0) (\(n))" } ?? "\(n)"]
        case .bits(let id):
            return BitField.field(id).explain(v)
        case .dol:
            guard let dol = try? DataObjectList(parsing: v) else { return ["malformed DOL"] }
            return dol.entries.map { e in
                "\(e.tag.hex) [\(e.length)] \(DataDictionary.element(e.tag, context: context)?.name ?? "unknown")"
            }
        case .afl:
            guard let afl = try? ApplicationFileLocator(v) else { return ["malformed AFL"] }
            return afl.entries.map {
                "SFI \($0.sfi), records \($0.firstRecord)–\($0.lastRecord), \($0.odaRecordCount) for offline data authentication"
            }
        case .cvmList:
            guard let list = CVMList(v) else { return ["malformed CVM List"] }
            return ["X = \(list.amountX), Y = \(list.amountY)"]
                + list.rules.map {
                    CVMRule.describeMethod($0.method) + " — " + CVMRule.describeCondition($0.condition)
                }
        case .transactionType:
            switch v.first {
            case 0x00?: return ["Purchase (goods and services)"]
            case 0x01?: return ["Cash"]
            case 0x09?: return ["Purchase with cashback"]
            case 0x20?: return ["Refund"]
            default: return []
            }
        }
    }

    /// Text rendering: one object per line, indented by depth.
    public static func render(_ d: Description) -> String {
        var out = ""
        func line(_ o: DescribedObject, _ depth: Int) {
            let ind = String(repeating: "  ", count: depth)
            var s = "\(ind)\(o.tag) \(o.name) [\(o.length)]"
            if let m = o.masked { s += ": \(m)" } else if let v = o.value { s += ": \(v)" }
            if let t = o.text { s += "  \"\(t)\"" }
            out += s + "\n"
            for dline in o.decoded { out += "\(ind)    = \(dline)\n" }
            for w in o.warnings { out += "\(ind)    ! \(w)\n" }
            for c in o.children { line(c, depth + 1) }
        }
        for o in d.objects { line(o, 0) }
        for p in d.problems { out += "error: \(p)\n" }
        return out
    }

    private static func pad2(_ n: UInt64) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// The value as text when it is at least three bytes, all printable ASCII (0x20–0x7E) with at least one letter.
    public static func printableText(_ v: some Collection<UInt8>) -> String? {
        guard v.count >= 3, v.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }),
            v.contains(where: { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A })
        else { return nil }
        return String(decoding: v, as: UTF8.self)
    }
}

/// Application File Locator (tag 94): four bytes per entry. Book 3 §10.2.
public struct ApplicationFileLocator: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let sfi: UInt8
        public let firstRecord: UInt8
        public let lastRecord: UInt8
        public let odaRecordCount: UInt8
    }

    public struct Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
    }

    public let entries: [Entry]

    /// Book 3 §10.2: the AFL is a multiple of 4 bytes; SFI (b8..b4 of byte 1) in 1...30; first record ≥ 1;
    /// last ≥ first; the ODA record count does not exceed the range. Any breach is a format error.
    public init(_ bytes: some Collection<UInt8>) throws {
        let b = Array(bytes)
        guard b.count % 4 == 0 else { throw Invalid(description: "AFL length \(b.count) is not a multiple of 4") }
        var out: [Entry] = []
        for i in stride(from: 0, to: b.count, by: 4) {
            let sfi = b[i] >> 3
            guard b[i] & 0x07 == 0, (1...30).contains(sfi) else {
                throw Invalid(description: "AFL entry \(i / 4 + 1): SFI \(sfi) is outside 1...30")
            }
            guard b[i + 1] >= 1, b[i + 2] >= b[i + 1] else {
                throw Invalid(description: "AFL entry \(i / 4 + 1): record range \(b[i + 1])...\(b[i + 2]) is invalid")
            }
            guard Int(b[i + 3]) <= Int(b[i + 2]) - Int(b[i + 1]) + 1 else {
                throw Invalid(description: "AFL entry \(i / 4 + 1): \(b[i + 3]) ODA records exceed the range")
            }
            out.append(Entry(sfi: sfi, firstRecord: b[i + 1], lastRecord: b[i + 2], odaRecordCount: b[i + 3]))
        }
        entries = out
    }
}
