// DE 55, the ICC system-related data: the EMV data objects an online request carries (BER-TLV), and what the
// issuer sends back (issuer authentication data 91, scripts 71/72, the authorisation response code 8A).
import TLV

/// DE 55 ICC system-related data: building the request's EMV tags and parsing the issuer's answer.
public enum ICCData {
    /// The request tags, in this order when present: cryptogram and its context, then terminal and card data,
    /// then the tokenisation tags a wallet transaction carries.
    public static let requestTags: [Tag] = [
        0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A, 0x9F03, 0x9F33,
        0x9F34, 0x9F35, 0x84, 0x9F09, 0x9F1E, 0x9F6E, 0x5F34, 0x9F66, 0x9F6C, 0x9F19, 0x9F24, 0x9F25,
    ]

    /// Builds DE 55 from the transaction's data (a tag → value lookup). Absent tags are left out.
    public static func build(_ value: (Tag) -> [UInt8]?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        for t in requestTags { if let v = value(t) { TLV(tag: t, value: v).encode(into: &out) } }
        return out
    }

    /// What the issuer returned in DE 55.
    public struct Response: Sendable, Equatable {
        /// Tag 91 issuer authentication data (8–16 bytes: the ARPC and its data), or nil when absent.
        public var issuerAuthenticationData: [UInt8]?  // 91: ARPC and its data
        /// Issuer script templates (tags 71 and 72), each as its complete TLV encoding, in the order received.
        public var scripts: [[UInt8]] = []  // 71 / 72 templates, whole
        /// Tag 8A authorisation response code (2 bytes), or nil when absent.
        public var authorisationResponseCode: [UInt8]?  // 8A
    }

    /// Parses the DE 55 of an answer. Malformed data is an error (the answer is then treated as invalid).
    public static func parseResponse(_ bytes: [UInt8]) throws -> Response {
        var r = Response()
        for o in try TLVParser.parse(bytes) {
            switch o.tag {
            case 0x91:
                guard (8...16).contains(o.value.count) else {
                    throw TLVError(offset: 0, reason: .trailingGarbage, tag: o.tag)
                }
                r.issuerAuthenticationData = o.bytes
            case 0x71, 0x72: r.scripts.append(o.encoded)
            case 0x8A:
                guard o.value.count == 2 else { throw TLVError(offset: 0, reason: .trailingGarbage, tag: o.tag) }
                r.authorisationResponseCode = o.bytes
            default: break
            }
        }
        return r
    }
}
