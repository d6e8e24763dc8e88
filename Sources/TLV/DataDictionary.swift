// The EMV data dictionary as data: what each tag is, its format and length, who supplies it and where it lives.
// Sources: EMV 4.4 Book 3 Annex A (data element dictionary), EMV Contactless Book A/B (Entry Point),
// Book C-2 (Mastercard) Annex A and Book C-3 (Visa) Annex A. Some tags mean different things in different
// kernels (9F66 is the TTQ in C-3 but PUNATC(Track2) in C-2); those carry a kernel context.

/// Book 3 §4.3 data element formats.
public enum DataFormat: String, Sendable, CaseIterable {
    case a  // alphabetic
    case an  // alphanumeric
    case ans  // alphanumeric special
    case b  // binary
    case cn  // compressed numeric: BCD left-justified, padded right with F
    case n  // numeric: BCD right-justified, padded left with 0
    case template = "var. (template)"
}

/// Who supplies a data element.
public enum DataSource: String, Sendable {
    case card = "ICC"
    case terminal = "Terminal"
    case issuer = "Issuer"
}

/// Which kernel's meaning a context-specific entry carries. `nil` on an entry means it holds everywhere.
public enum KernelContext: String, Sendable, CaseIterable {
    case c2 = "C-2"
    case c3 = "C-3"
    case c4 = "C-4"
    case c5 = "C-5"
    case c6 = "C-6"
    case c7 = "C-7"
}

/// How a value is shown to people (`tapctl tlv decode`).
public enum ValueKind: Sendable, Equatable {
    case bytes
    case text  // a / an / ans
    case number  // n, shown as decimal
    case amount  // n12 minor units
    case binaryAmount  // b4 amount in minor units
    case date  // n6 YYMMDD
    case time  // n6 HHMMSS
    case currency  // ISO 4217 numeric
    case country  // ISO 3166 numeric
    case bits(BitField.ID)  // a bit field explained in words
    case dol  // a data object list
    case afl  // application file locator
    case cvmList
    case sensitivePAN  // PAN: masked
    case sensitiveTrack  // track data: masked
    case sensitiveName  // cardholder name: redacted
    case transactionType
}

public struct DataElement: Sendable {
    public let tag: Tag
    public let name: String
    public let format: DataFormat
    /// Length limits of the value in bytes.
    public let minLength: Int
    public let maxLength: Int
    public let source: DataSource
    /// Templates that may contain the element (empty: free-standing or any).
    public let templates: [Tag]
    public let kind: ValueKind
    public let kernel: KernelContext?
    /// Where it is defined, e.g. "Book 3 Annex A".
    public let reference: String

    public init(
        _ tag: Tag, _ name: String, _ format: DataFormat, _ length: ClosedRange<Int>, _ source: DataSource,
        templates: [Tag] = [], kind: ValueKind = .bytes, kernel: KernelContext? = nil,
        ref: String = "Book 3 Annex A"
    ) {
        self.tag = tag
        self.name = name
        self.format = format
        self.minLength = length.lowerBound
        self.maxLength = length.upperBound
        self.source = source
        self.templates = templates
        self.kind = kind
        self.kernel = kernel
        self.reference = ref
    }

    /// True when the value's length lies within the element's limits.
    public func accepts(length: Int) -> Bool { length >= minLength && length <= maxLength }

    /// Why `value` cannot be this element (Book 3 §4.3 formats, Annex A lengths), or nil when it can. Lengths are
    /// checked for every format; digits for n (each nibble 0–9) and cn (digits, then F padding only).
    public func problem(with value: some Collection<UInt8>) -> String? {
        guard accepts(length: value.count) else {
            return minLength == maxLength
                ? "\(value.count) bytes where the format is \(minLength)"
                : "\(value.count) bytes where \(minLength)–\(maxLength) are allowed"
        }
        switch format {
        case .n:
            if value.contains(where: { $0 >> 4 > 9 || $0 & 0x0F > 9 }) { return "not numeric (format n)" }
        case .cn:
            var padding = false
            for b in value {
                for nib in [b >> 4, b & 0x0F] {
                    if nib == 0x0F {
                        padding = true
                    } else if padding || nib > 9 {
                        return "not compressed numeric (format cn)"
                    }
                }
            }
        default:
            break
        }
        return nil
    }
}

public enum DataDictionary {
    /// All entries, by tag; context-specific duplicates live side by side.
    static let index: [Tag: [DataElement]] = {
        var d: [Tag: [DataElement]] = [:]
        for e in book3Elements + contactlessElements + kernel2Elements + kernel3Elements + kernel4Elements
            + kernel5Elements + kernel6Elements + kernel7Elements
        {
            d[e.tag, default: []].append(e)
        }
        return d
    }()

    /// Every entry in the dictionary.
    public static var all: [DataElement] {
        index.values.flatMap { $0 }.sorted { ($0.tag, $0.kernel?.rawValue ?? "") < ($1.tag, $1.kernel?.rawValue ?? "") }
    }

    /// The entry for `tag` in `context`: the kernel's own meaning first, then the general one.
    public static func element(_ tag: Tag, context: KernelContext? = nil) -> DataElement? {
        guard let list = index[tag] else { return nil }
        if let context, let e = list.first(where: { $0.kernel == context }) { return e }
        if let e = list.first(where: { $0.kernel == nil }) { return e }
        // No general meaning: without a context prefer C-3 (the common case at a till), else whatever exists.
        return list.first(where: { $0.kernel == .c3 }) ?? list.first
    }

    /// The entry that holds in `context` only: the kernel's own meaning or the general one, never another kernel's
    /// (card data are checked against this, so a Visa card's tag is never judged by its Mastercard meaning).
    public static func strictElement(_ tag: Tag, context: KernelContext) -> DataElement? {
        guard let list = index[tag] else { return nil }
        return list.first(where: { $0.kernel == context }) ?? list.first(where: { $0.kernel == nil })
    }

    /// Whether the meaning of `tag` depends on the kernel.
    public static func isContextSpecific(_ tag: Tag) -> Bool {
        (index[tag]?.count ?? 0) > 1
    }

    /// Guesses the kernel from an AID's RID (Book B §3.3.2.5 default kernels).
    public static func context(forAID aid: some Collection<UInt8>) -> KernelContext? {
        switch Hex.encode(Array(aid.prefix(5))) {
        case "A000000004": return .c2
        case "A000000003": return .c3
        case "A000000025": return .c4
        case "A000000065": return .c5
        case "A000000152", "A000000324": return .c6
        case "A000000333": return .c7
        default: return nil
        }
    }

    /// Tags whose values are card data that must never be shown or logged in clear.
    public static let sensitiveTags: Set<Tag> = [0x5A, 0x57, 0x56, 0x9F6B, 0x9F1F, 0x9F20, 0x5F20, 0x9F0B]
}
