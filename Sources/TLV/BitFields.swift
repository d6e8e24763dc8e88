// Bit fields explained in words. Byte and bit numbering follow the books: byte 1 is the leftmost, b8 the
// most significant bit.

public struct BitField: Sendable {
    public enum ID: String, Sendable, CaseIterable {
        case aip, tvr, tsi, ttq, ctq, auc, cid, cvmResults, terminalCapabilities, additionalTerminalCapabilities
        case applicationCapabilities
    }

    public struct Bit: Sendable {
        public let byte: Int  // 1-based
        public let bit: Int  // 8 ... 1
        public let meaning: String
    }

    public let id: ID
    public let name: String
    public let bits: [Bit]

    /// The meanings of the bits set in `value`, in book order. Unknown set bits are reported as RFU.
    public func explain(_ value: some Collection<UInt8>) -> [String] {
        let v = Array(value)
        switch id {
        case .cid: return BitField.explainCID(v)
        case .cvmResults: return BitField.explainCVMResults(v)
        default: break
        }
        var out: [String] = []
        for (i, byte) in v.enumerated() {
            for bit in stride(from: 8, through: 1, by: -1) where byte & (1 << (bit - 1)) != 0 {
                if let b = bits.first(where: { $0.byte == i + 1 && $0.bit == bit }) {
                    out.append(b.meaning)
                } else {
                    out.append("byte \(i + 1) b\(bit): RFU (set)")
                }
            }
        }
        return out
    }

    public static func field(_ id: ID) -> BitField {
        switch id {
        // Book 3 Annex C1; byte 1 b2 and byte 2 from Book C-2 Annex A.
        case .aip:
            return BitField(
                id: id, name: "AIP",
                bits: [
                    Bit(byte: 1, bit: 7, meaning: "SDA supported"),
                    Bit(byte: 1, bit: 6, meaning: "DDA supported"),
                    Bit(byte: 1, bit: 5, meaning: "Cardholder verification is supported"),
                    Bit(byte: 1, bit: 4, meaning: "Terminal risk management is to be performed"),
                    Bit(byte: 1, bit: 3, meaning: "Issuer authentication is supported"),
                    Bit(byte: 1, bit: 2, meaning: "On device cardholder verification is supported"),
                    Bit(byte: 1, bit: 1, meaning: "CDA supported"),
                    Bit(byte: 2, bit: 8, meaning: "EMV mode is supported (C-2)"),
                    Bit(byte: 2, bit: 1, meaning: "Relay Resistance Protocol is supported (C-2)"),
                ])
        // Book 3 Annex C5; byte 5 b4..b1 from Book C-2 Annex A (relay resistance).
        case .tvr:
            return BitField(
                id: id, name: "TVR",
                bits: [
                    Bit(byte: 1, bit: 8, meaning: "Offline data authentication was not performed"),
                    Bit(byte: 1, bit: 7, meaning: "SDA failed"),
                    Bit(byte: 1, bit: 6, meaning: "ICC data missing"),
                    Bit(byte: 1, bit: 5, meaning: "Card appears on terminal exception file"),
                    Bit(byte: 1, bit: 4, meaning: "DDA failed"),
                    Bit(byte: 1, bit: 3, meaning: "CDA failed"),
                    Bit(byte: 1, bit: 2, meaning: "SDA selected"),
                    Bit(byte: 2, bit: 8, meaning: "ICC and terminal have different application versions"),
                    Bit(byte: 2, bit: 7, meaning: "Expired application"),
                    Bit(byte: 2, bit: 6, meaning: "Application not yet effective"),
                    Bit(byte: 2, bit: 5, meaning: "Requested service not allowed for card product"),
                    Bit(byte: 2, bit: 4, meaning: "New card"),
                    Bit(byte: 3, bit: 8, meaning: "Cardholder verification was not successful"),
                    Bit(byte: 3, bit: 7, meaning: "Unrecognised CVM"),
                    Bit(byte: 3, bit: 6, meaning: "PIN Try Limit exceeded"),
                    Bit(byte: 3, bit: 5, meaning: "PIN entry required and PIN pad not present or not working"),
                    Bit(byte: 3, bit: 4, meaning: "PIN entry required, PIN pad present, but PIN was not entered"),
                    Bit(byte: 3, bit: 3, meaning: "Online PIN entered"),
                    Bit(byte: 4, bit: 8, meaning: "Transaction exceeds floor limit"),
                    Bit(byte: 4, bit: 7, meaning: "Lower consecutive offline limit exceeded"),
                    Bit(byte: 4, bit: 6, meaning: "Upper consecutive offline limit exceeded"),
                    Bit(byte: 4, bit: 5, meaning: "Transaction selected randomly for online processing"),
                    Bit(byte: 4, bit: 4, meaning: "Merchant forced transaction online"),
                    Bit(byte: 5, bit: 8, meaning: "Default TDOL used"),
                    Bit(byte: 5, bit: 7, meaning: "Issuer authentication failed"),
                    Bit(byte: 5, bit: 6, meaning: "Script processing failed before final GENERATE AC"),
                    Bit(byte: 5, bit: 5, meaning: "Script processing failed after final GENERATE AC"),
                    Bit(byte: 5, bit: 4, meaning: "Relay resistance threshold exceeded (C-2)"),
                    Bit(byte: 5, bit: 3, meaning: "Relay resistance time limits exceeded (C-2)"),
                    Bit(byte: 5, bit: 2, meaning: "Relay resistance performed (C-2, b2)"),
                    Bit(byte: 5, bit: 1, meaning: "Relay resistance not performed (C-2, b1)"),
                ])
        // Book 3 Annex C6.
        case .tsi:
            return BitField(
                id: id, name: "TSI",
                bits: [
                    Bit(byte: 1, bit: 8, meaning: "Offline data authentication was performed"),
                    Bit(byte: 1, bit: 7, meaning: "Cardholder verification was performed"),
                    Bit(byte: 1, bit: 6, meaning: "Card risk management was performed"),
                    Bit(byte: 1, bit: 5, meaning: "Issuer authentication was performed"),
                    Bit(byte: 1, bit: 4, meaning: "Terminal risk management was performed"),
                    Bit(byte: 1, bit: 3, meaning: "Script processing was performed"),
                ])
        // Book C-3 Annex A (9F66).
        case .ttq:
            return BitField(
                id: id, name: "TTQ",
                bits: [
                    Bit(byte: 1, bit: 8, meaning: "Mag-stripe mode supported"),
                    Bit(byte: 1, bit: 6, meaning: "EMV mode supported"),
                    Bit(byte: 1, bit: 5, meaning: "EMV contact chip supported"),
                    Bit(byte: 1, bit: 4, meaning: "Offline-only reader"),
                    Bit(byte: 1, bit: 3, meaning: "Online PIN supported"),
                    Bit(byte: 1, bit: 2, meaning: "Signature supported"),
                    Bit(byte: 1, bit: 1, meaning: "Offline Data Authentication for Online Authorizations supported"),
                    Bit(byte: 2, bit: 8, meaning: "Online cryptogram required"),
                    Bit(byte: 2, bit: 7, meaning: "CVM required"),
                    Bit(byte: 2, bit: 6, meaning: "(Contact Chip) Offline PIN supported"),
                    Bit(byte: 3, bit: 8, meaning: "Issuer Update Processing supported"),
                    Bit(byte: 3, bit: 7, meaning: "Consumer Device CVM supported"),
                ])
        // Book C-3 Annex A (9F6C).
        case .ctq:
            return BitField(
                id: id, name: "CTQ",
                bits: [
                    Bit(byte: 1, bit: 8, meaning: "Online PIN Required"),
                    Bit(byte: 1, bit: 7, meaning: "Signature Required"),
                    Bit(
                        byte: 1, bit: 6,
                        meaning: "Go Online if Offline Data Authentication Fails and Reader is online capable"),
                    Bit(
                        byte: 1, bit: 5,
                        meaning:
                            "Switch Interface if Offline Data Authentication fails and Reader supports contact chip"),
                    Bit(byte: 1, bit: 4, meaning: "Go Online if Application Expired"),
                    Bit(byte: 1, bit: 3, meaning: "Switch Interface for Cash Transactions"),
                    Bit(byte: 1, bit: 2, meaning: "Switch Interface for Cashback Transactions"),
                    Bit(byte: 2, bit: 8, meaning: "Consumer Device CVM Performed"),
                    Bit(byte: 2, bit: 7, meaning: "Card supports Issuer Update Processing at the POS"),
                ])
        // Book 3 Annex C2.
        case .auc:
            return BitField(
                id: id, name: "AUC",
                bits: [
                    Bit(byte: 1, bit: 8, meaning: "Valid for domestic cash transactions"),
                    Bit(byte: 1, bit: 7, meaning: "Valid for international cash transactions"),
                    Bit(byte: 1, bit: 6, meaning: "Valid for domestic goods"),
                    Bit(byte: 1, bit: 5, meaning: "Valid for international goods"),
                    Bit(byte: 1, bit: 4, meaning: "Valid for domestic services"),
                    Bit(byte: 1, bit: 3, meaning: "Valid for international services"),
                    Bit(byte: 1, bit: 2, meaning: "Valid at ATMs"),
                    Bit(byte: 1, bit: 1, meaning: "Valid at terminals other than ATMs"),
                    Bit(byte: 2, bit: 8, meaning: "Domestic cashback allowed"),
                    Bit(byte: 2, bit: 7, meaning: "International cashback allowed"),
                ])
        case .cid: return BitField(id: id, name: "CID", bits: [])
        case .cvmResults: return BitField(id: id, name: "CVM Results", bits: [])
        // Book 4 Annex A2.
        case .terminalCapabilities:
            return BitField(
                id: id, name: "Terminal Capabilities",
                bits: [
                    Bit(byte: 1, bit: 8, meaning: "Card data input: Manual key entry"),
                    Bit(byte: 1, bit: 7, meaning: "Card data input: Magnetic stripe"),
                    Bit(byte: 1, bit: 6, meaning: "Card data input: IC with contacts"),
                    Bit(byte: 2, bit: 8, meaning: "CVM: Plaintext PIN for ICC verification"),
                    Bit(byte: 2, bit: 7, meaning: "CVM: Enciphered PIN for online verification"),
                    Bit(byte: 2, bit: 6, meaning: "CVM: Signature (paper)"),
                    Bit(byte: 2, bit: 5, meaning: "CVM: Enciphered PIN for offline verification"),
                    Bit(byte: 2, bit: 4, meaning: "CVM: No CVM Required"),
                    Bit(byte: 3, bit: 8, meaning: "Security: SDA"),
                    Bit(byte: 3, bit: 7, meaning: "Security: DDA"),
                    Bit(byte: 3, bit: 6, meaning: "Security: Card capture"),
                    Bit(byte: 3, bit: 4, meaning: "Security: CDA"),
                ])
        // Book 4 Annex A3.
        case .additionalTerminalCapabilities:
            return BitField(
                id: id, name: "Additional Terminal Capabilities",
                bits: [
                    Bit(byte: 1, bit: 8, meaning: "Transaction type: Cash"),
                    Bit(byte: 1, bit: 7, meaning: "Transaction type: Goods"),
                    Bit(byte: 1, bit: 6, meaning: "Transaction type: Services"),
                    Bit(byte: 1, bit: 5, meaning: "Transaction type: Cashback"),
                    Bit(byte: 1, bit: 4, meaning: "Transaction type: Inquiry"),
                    Bit(byte: 1, bit: 3, meaning: "Transaction type: Transfer"),
                    Bit(byte: 1, bit: 2, meaning: "Transaction type: Payment"),
                    Bit(byte: 1, bit: 1, meaning: "Transaction type: Administrative"),
                    Bit(byte: 2, bit: 8, meaning: "Transaction type: Cash deposit"),
                    Bit(byte: 3, bit: 8, meaning: "Data input: Numeric keys"),
                    Bit(byte: 3, bit: 7, meaning: "Data input: Alphabetic and special characters keys"),
                    Bit(byte: 3, bit: 6, meaning: "Data input: Command keys"),
                    Bit(byte: 3, bit: 5, meaning: "Data input: Function keys"),
                    Bit(byte: 4, bit: 8, meaning: "Data output: Print, attendant"),
                    Bit(byte: 4, bit: 7, meaning: "Data output: Print, cardholder"),
                    Bit(byte: 4, bit: 6, meaning: "Data output: Display, attendant"),
                    Bit(byte: 4, bit: 5, meaning: "Data output: Display, cardholder"),
                    Bit(byte: 4, bit: 2, meaning: "Code table 10"),
                    Bit(byte: 4, bit: 1, meaning: "Code table 9"),
                ] + (1...8).map { Bit(byte: 5, bit: $0, meaning: "Code table \($0)") })
        // Book C-2 Annex A (9F5D).
        case .applicationCapabilities:
            return BitField(
                id: id, name: "Application Capabilities Information",
                bits: [
                    Bit(byte: 2, bit: 3, meaning: "Support for field off detection"),
                    Bit(byte: 2, bit: 2, meaning: "Support for balance reading"),
                    Bit(byte: 2, bit: 1, meaning: "CDA supported over TC, ARQC and AAC"),
                ]
                    + [8, 7, 6, 5, 4, 3, 2, 1].map {
                        Bit(byte: 1, bit: $0, meaning: "Version information (byte 1 b\($0))")
                    }
                    + (1...8).map { Bit(byte: 3, bit: $0, meaning: "SDS scheme indicator (byte 3 b\($0))") })
        }
    }

    /// Book 3 §6.5.5.4 Table 15: Cryptogram Information Data.
    static func explainCID(_ v: [UInt8]) -> [String] {
        guard let b = v.first else { return [] }
        var out: [String] = []
        switch b >> 6 {
        case 0: out.append("AAC (decline)")
        case 1: out.append("TC (approve offline)")
        case 2: out.append("ARQC (go online)")
        default: out.append("RFU cryptogram type")
        }
        if b & 0x08 != 0 { out.append("Advice required") }
        switch b & 0x07 {
        case 0: break
        case 1: out.append("Reason: Service not allowed")
        case 2: out.append("Reason: PIN Try Limit exceeded")
        case 3: out.append("Reason: Issuer authentication failed")
        default: out.append("Reason: RFU (\(b & 0x07))")
        }
        return out
    }

    /// Book 3 Annex C3 (CVM codes and conditions) and Book 4 Annex A4 (CVM Results).
    static func explainCVMResults(_ v: [UInt8]) -> [String] {
        guard v.count == 3 else { return ["malformed CVM Results (\(v.count) bytes, 3 expected)"] }
        return [
            "CVM performed: " + CVMRule.describeMethod(v[0]),
            "Condition: " + CVMRule.describeCondition(v[1]),
            "Result: " + (v[2] == 0 ? "Unknown" : v[2] == 1 ? "Failed" : v[2] == 2 ? "Successful" : "RFU (\(v[2]))"),
        ]
    }
}

/// One rule of a CVM List (Book 3 §10.5, Annex C3).
public struct CVMRule: Sendable, Equatable {
    public let method: UInt8
    public let condition: UInt8

    /// b7 of the method byte: apply the next rule if this one fails.
    public var applySucceedingRuleIfUnsuccessful: Bool { method & 0x40 != 0 }
    public var methodCode: UInt8 { method & 0x3F }

    public static func describeMethod(_ m: UInt8) -> String {
        let name: String
        switch m & 0x3F {
        case 0x00: name = "Fail CVM processing"
        case 0x01: name = "Plaintext PIN verification performed by ICC"
        case 0x02: name = "Enciphered PIN verified online"
        case 0x03: name = "Plaintext PIN verification performed by ICC and signature (paper)"
        case 0x04: name = "Enciphered PIN verification performed by ICC"
        case 0x05: name = "Enciphered PIN verification performed by ICC and signature (paper)"
        case 0x1E: name = "Signature (paper)"
        case 0x1F: name = "No CVM required"
        case 0x3F: name = "No CVM performed"
        default: name = "Unknown CVM (\(Hex.encode([m & 0x3F])))"
        }
        return name + (m & 0x40 != 0 ? " (apply succeeding rule if unsuccessful)" : "")
    }

    public static func describeCondition(_ c: UInt8) -> String {
        switch c {
        case 0x00: return "Always"
        case 0x01: return "If unattended cash"
        case 0x02: return "If not unattended cash and not manual cash and not purchase with cashback"
        case 0x03: return "If terminal supports the CVM"
        case 0x04: return "If manual cash"
        case 0x05: return "If purchase with cashback"
        case 0x06: return "If transaction is in the application currency and is under X value"
        case 0x07: return "If transaction is in the application currency and is over X value"
        case 0x08: return "If transaction is in the application currency and is under Y value"
        case 0x09: return "If transaction is in the application currency and is over Y value"
        default: return "RFU condition (\(Hex.encode([c])))"
        }
    }
}

/// A CVM List (tag 8E): amounts X and Y followed by two-byte rules. Book 3 §10.5.
public struct CVMList: Sendable, Equatable {
    public let amountX: UInt32
    public let amountY: UInt32
    public let rules: [CVMRule]

    /// Returns nil when the list is shorter than 10 bytes or has an odd number of rule bytes.
    public init?(_ bytes: some Collection<UInt8>) {
        let b = Array(bytes)
        guard b.count >= 10, (b.count - 8) % 2 == 0 else { return nil }
        amountX = b[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
        amountY = b[4..<8].reduce(0) { $0 << 8 | UInt32($1) }
        rules = stride(from: 8, to: b.count, by: 2).map { CVMRule(method: b[$0], condition: b[$0 + 1]) }
    }
}
