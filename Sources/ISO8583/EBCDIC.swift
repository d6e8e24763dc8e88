// EBCDIC code page 037 for the printable ASCII range, for networks that still send EBCDIC text fields.

enum EBCDIC {
    static let fromASCII: [UInt8] = {
        var t = [UInt8](repeating: 0x6F, count: 128)  // '?' for anything unmapped
        let pairs: [(Character, UInt8)] = [
            (" ", 0x40), (".", 0x4B), ("<", 0x4C), ("(", 0x4D), ("+", 0x4E), ("|", 0x4F), ("&", 0x50), ("!", 0x5A),
            ("$", 0x5B), ("*", 0x5C), (")", 0x5D), (";", 0x5E), ("-", 0x60), ("/", 0x61), (",", 0x6B), ("%", 0x6C),
            ("_", 0x6D), (">", 0x6E), ("?", 0x6F), ("`", 0x79), (":", 0x7A), ("#", 0x7B), ("@", 0x7C), ("'", 0x7D),
            ("=", 0x7E), ("\"", 0x7F), ("~", 0xA1), ("^", 0xB0), ("[", 0xBA), ("]", 0xBB), ("{", 0xC0), ("}", 0xD0),
            ("\\", 0xE0),
        ]
        for (c, e) in pairs { t[Int(c.asciiValue!)] = e }
        for (i, c) in "abcdefghi".utf8.enumerated() { t[Int(c)] = 0x81 + UInt8(i) }
        for (i, c) in "jklmnopqr".utf8.enumerated() { t[Int(c)] = 0x91 + UInt8(i) }
        for (i, c) in "stuvwxyz".utf8.enumerated() { t[Int(c)] = 0xA2 + UInt8(i) }
        for (i, c) in "ABCDEFGHI".utf8.enumerated() { t[Int(c)] = 0xC1 + UInt8(i) }
        for (i, c) in "JKLMNOPQR".utf8.enumerated() { t[Int(c)] = 0xD1 + UInt8(i) }
        for (i, c) in "STUVWXYZ".utf8.enumerated() { t[Int(c)] = 0xE2 + UInt8(i) }
        for (i, c) in "0123456789".utf8.enumerated() { t[Int(c)] = 0xF0 + UInt8(i) }
        return t
    }()

    static let toASCII: [UInt8?] = {
        var t = [UInt8?](repeating: nil, count: 256)
        for a in 0x20..<0x7F where fromASCII[a] != 0x6F || a == 0x3F { t[Int(fromASCII[a])] = UInt8(a) }
        return t
    }()

    static func encode(_ ascii: [UInt8]) -> [UInt8] { ascii.map { $0 < 128 ? fromASCII[Int($0)] : 0x6F } }
    static func decode(_ ebcdic: ArraySlice<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(ebcdic.count)
        for b in ebcdic {
            guard let a = toASCII[Int(b)] else { return nil }
            out.append(a)
        }
        return out
    }
}
