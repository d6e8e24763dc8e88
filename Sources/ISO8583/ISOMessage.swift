// An ISO 8583 message: the MTI and the data elements present. Values are kept in their logical form: text
// (digits, characters, track 2 with "D" or "=") for n/an/ans/z fields, raw bytes for b fields.

/// An ISO 8583 message: the MTI and the data elements present, text for n/an/ans/z fields and bytes for b fields.
public struct ISOMessage: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable
{
    /// Four digits: version, class, function, origin (e.g. "0200").
    public var mti: String
    /// The TPDU received in front of the MTI, when the profile has one.
    public var tpdu: [UInt8]?
    var values: [[UInt8]?] = Array(repeating: nil, count: 129)

    /// Creates a message with the given MTI (4 digits, e.g. "0200") and no data elements.
    public init(mti: String) { self.mti = mti }

    /// Text value of a field (n, an, ans, z).
    public subscript(_ field: Int) -> String? {
        get { values.indices.contains(field) ? values[field].map { String(decoding: $0, as: UTF8.self) } : nil }
        set { if values.indices.contains(field) { values[field] = newValue.map { Array($0.utf8) } } }
    }

    /// Raw value of a field (b fields, or the bytes of a text field).
    public func bytes(_ field: Int) -> [UInt8]? { values.indices.contains(field) ? values[field] : nil }
    /// Sets a field's raw value, or removes the field when `bytes` is nil; numbers outside 0–128 are ignored.
    public mutating func set(_ field: Int, bytes: [UInt8]?) {
        if values.indices.contains(field) { values[field] = bytes }
    }

    /// The data elements present, in order.
    public var presentFields: [Int] { (2...128).filter { values[$0] != nil } }

    /// The MTI's class digit (1 authorisation, 2 financial, 4 reversal, 8 network management); nil unless 4 characters.
    public var mtiClass: Character? { mti.count == 4 ? Array(mti)[1] : nil }
    /// The MTI's function digit (0 request, 1 response, 2 advice, 3 advice response), or nil if not 4 characters.
    public var mtiFunction: Character? { mti.count == 4 ? Array(mti)[2] : nil }

    /// The MTI of the answer: function 0 → 1, 2 → 3 (0200 → 0210, 0420 → 0430), repeat origin cleared.
    public var responseMTI: String? {
        guard mti.count == 4 else { return nil }
        var d = Array(mti)
        switch d[2] {
        case "0": d[2] = "1"
        case "2": d[2] = "3"
        default: return nil
        }
        d[3] = "0"
        return String(d)
    }

    /// Matches a response to its request: MTI class, terminal id (DE 41) and STAN (DE 11). The class keeps a
    /// reversal's answer from matching the original request, which shares its STAN.
    public var matchKey: MatchKey? {
        guard let c = mtiClass, let tid = self[41], let stan = self[11] else { return nil }
        return MatchKey(mtiClass: c, terminalID: tid, stan: stan)
    }

    /// What pairs an answer with its request: MTI class, terminal id (DE 41) and STAN (DE 11).
    public struct MatchKey: Hashable, Sendable, CustomStringConvertible {
        /// The MTI class digit, e.g. "2" for 0200 and 0210.
        public let mtiClass: Character
        /// The card acceptor terminal id (DE 41).
        public let terminalID: String
        /// The system trace audit number (DE 11), 6 digits.
        public let stan: String
        /// The key for logs, e.g. "class 2 TID 12345678 STAN 000042".
        public var description: String { "class \(mtiClass) TID \(terminalID) STAN \(stan)" }
    }

    /// Fields that carry card data in 1987 usage: PAN, expiry, track 2, track 1, PIN block.
    public static let sensitiveFields: Set<Int> = [2, 14, 35, 45, 52]

    /// A description safe for logs and test output: card data masked (PAN first 6 / last 4), binary as hex.
    public var description: String {
        var parts = ["MTI \(mti)"]
        for n in presentFields {
            let v = values[n]!
            let text: String
            if Self.sensitiveFields.contains(n) {
                let s = String(decoding: v, as: UTF8.self)
                text =
                    n == 2 && s.count > 10
                    ? String(s.prefix(6)) + String(repeating: "*", count: s.count - 10) + String(s.suffix(4))
                    : "<\(v.count) masked>"
            } else if v.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
                text = String(decoding: v, as: UTF8.self)
            } else {
                text = v.map { String($0, radix: 16, uppercase: true) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
            }
            parts.append("DE\(n)=\(text)")
        }
        return parts.joined(separator: " ")
    }
    /// The same masked text as `description`, so debug output never shows card data.
    public var debugDescription: String { description }
    /// A mirror exposing only the masked description, so `dump` and debuggers never show card data.
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
