// The static data to be authenticated (EMV 4.4 Book 3 §10.3): the records the AFL marks for ODA, then the AIP
// when the SDA Tag List asks for it.
import TLV

public struct StaticDataToBeAuthenticated: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Set when a record used for ODA was malformed; ODA then fails with this reason (Book 3 §10.3).
    public private(set) var failure: ODAFailure? = nil

    public init() {}

    /// Adds one record that the AFL marks for ODA. `record` is the READ RECORD response data (without SW1 SW2).
    /// Book 3 §10.3: for SFI 1–10 the record must be a 70 template and only its value counts; for SFI 11–30 the
    /// whole record counts, tag and length included.
    public mutating func add(record: [UInt8], sfi: UInt8, recordNumber: UInt8) {
        if sfi <= 10 {
            guard let tlv = try? TLVParser.parseOne(record), tlv.tag == 0x70 else {
                if failure == nil { failure = .staticDataRecordNotTemplate70(sfi: sfi, record: recordNumber) }
                return
            }
            bytes += tlv.value
        } else {
            bytes += record
        }
    }

    /// Book 3 §10.3: when the SDA Tag List (9F4A) is present it may only hold tag 82, and the AIP value is then
    /// appended. Returns the data or the reason ODA must fail.
    public func finish(sdaTagList: [UInt8]?, aip: [UInt8]?) -> Result<[UInt8], ODAFailure> {
        if let failure { return .failure(failure) }
        guard let list = sdaTagList, !list.isEmpty else { return .success(bytes) }
        guard list == [0x82] else { return .failure(.sdaTagListInvalid) }
        guard let aip else { return .failure(.missingData(0x82)) }
        return .success(bytes + aip)
    }
}
