// Card data never appears in clear outside the kernel: PANs are shown as first 6 + last 4, track data and
// names are redacted. Everything that prints, logs or serialises card data goes through here.

public enum CardDataMask {
    /// "4761739001010119" → "476173******0119". PANs of 10 digits or fewer keep only the last 4.
    public static func pan(_ digits: String) -> String {
        let d = Array(digits)
        guard d.count > 10 else {
            return String(repeating: "*", count: max(0, d.count - 4)) + String(d.suffix(4))
        }
        return String(d.prefix(6)) + String(repeating: "*", count: d.count - 10) + String(d.suffix(4))
    }

    /// Masked PAN from tag 5A (cn). Nil when the bytes are not a PAN.
    public static func pan(bcd: some Collection<UInt8>) -> String? {
        guard let digits = BCD.digits(bcd), !digits.isEmpty else { return nil }
        return pan(digits)
    }

    /// Track 2 equivalent data (57 / 9F6B): masked PAN, separator, the rest starred out.
    public static func track2(_ bytes: some Collection<UInt8>) -> String {
        let hex = Hex.encode(bytes)
        guard let sep = hex.firstIndex(of: "D") else { return "<\(bytes.count) bytes masked>" }
        let panDigits = String(hex[..<sep])
        guard panDigits.allSatisfy(\.isNumber), !panDigits.isEmpty else { return "<\(bytes.count) bytes masked>" }
        let rest = hex[hex.index(after: sep)...]
        return pan(panDigits) + "D" + String(repeating: "*", count: rest.count)
    }

    /// Masks every sensitive primitive in a TLV tree, for traces and logs.
    public static func redacted(_ tlv: TLV) -> TLV {
        if !tlv.children.isEmpty { return TLV(tag: tlv.tag, children: tlv.children.map(redacted)) }
        guard DataDictionary.sensitiveTags.contains(tlv.tag) else { return tlv }
        return TLV(tag: tlv.tag, value: [UInt8](repeating: 0, count: tlv.value.count))
    }
}
