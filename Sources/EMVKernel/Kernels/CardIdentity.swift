// What every kernel hands over about the card: its PAN and the Data Record tags.

import TLV

/// The card's identity as read: PAN from 5A, or from the Track 2 Equivalent Data (57) or Track 2 Data (9F6B,
/// which Google Pay sends instead of 57).
public enum CardIdentity {
    public static func pan(from store: TLVStore) -> String? {
        if let p = store[0x5A], let d = BCD.digits(p), (8...19).contains(d.count) { return d }
        for t: Tag in [0x57, 0x9F6B] {
            if let t2 = store[t] {
                let hex = Hex.encode(t2)
                if let sep = hex.firstIndex(of: "D") {
                    let d = String(hex[..<sep])
                    if (8...19).contains(d.count), d.allSatisfy(\.isNumber) { return d }
                }
            }
        }
        return nil
    }
}

/// The Data Record (FF8105) a kernel hands over: the named objects the transaction holds, in order (read from the
/// outcome's transaction data when output).
enum DataRecord {
    /// Book C-3 Annex A / the online authorisation data of a qVSDC transaction.
    static let c3Tags: [Tag] = [
        0x9F02, 0x9F03, 0x9F26, 0x5F24, 0x82, 0x50, 0x5A, 0x5F34, 0x57, 0x9F10, 0x9F27, 0x9F36,
        0x9F37, 0x95, 0x9A, 0x9C, 0x5F2A, 0x9F1A, 0x9F66, 0x9F6C, 0x9F6E, 0x9F7C, 0x84, 0x9F09, 0x9F33,
        0x9F35, 0x9F1E, 0x9F53,
    ]
    /// qPBOC: the C-3 list with the Available Offline Spending Amount (P12 Table 11) in place of the Visa-only
    /// objects (9F6E, 9F7C).
    static let c7Tags: [Tag] = c3Tags.filter { $0 != 0x9F6E && $0 != 0x9F7C } + [0x9F5D]
    /// Book C-6 (its Table 4-8, as a public kernel quotes it): the Data Record of an EMV-mode D-PAS transaction.
    static let c6Tags: [Tag] = [
        0x9F02, 0x9F03, 0x9F26, 0x9F06, 0x82, 0x5F34, 0x9F36, 0x9F07, 0x9F27, 0x84, 0x9F10, 0x9F09, 0x9F33, 0x9F1A,
        0x9F35, 0x95, 0x57, 0x9A, 0x9C, 0x9F37, 0x5F2A, 0x9F34, 0x9F66, 0x9F71, 0x5F24, 0x5A,
    ]
    /// Book C-2 v2.10 Annex A, Table A.x: the Data Record of an EMV mode transaction.
    static let c2Tags: [Tag] = [
        0x9F02, 0x9F03, 0x9F26, 0x5F24, 0x82, 0x50, 0x5A, 0x5F34, 0x9F12, 0x84, 0x9F36, 0x9F07,
        0x9F09, 0x9F27, 0x9F34, 0x9F1E, 0x9F10, 0x9F33, 0x9F1A, 0x9F35, 0x57, 0x9F53, 0x95, 0x9A, 0x9C,
        0x9F37, 0x5F2A, 0x9F6E, 0x9F7C, 0x5F28, 0x9F40, 0x9F21,
    ]

}
