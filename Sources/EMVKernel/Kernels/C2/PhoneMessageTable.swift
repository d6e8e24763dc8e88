// Book C-2 v2.10 Annex A, DF8131: the Phone Message Table. When a phone's POS Cardholder Interaction Information
// (DF4B) asks for the cardholder (PCII & 00030F ≠ 0, S910.71-S910.73 and S11.111-S11.113) the kernel ends with Start B, and the first entry
// whose mask and value match the PCII gives the message and status to show. Each entry is 8 bytes: PCII mask (3),
// PCII value (3), message identifier (1), status (1).
import TLV

struct PhoneMessageTable: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var mask: UInt32
        var value: UInt32
        var message: UIMessage
        var status: UIStatus
    }
    var entries: [Entry]

    /// Book C-2 Annex A default: the four "see phone" reasons, then "declined" for anything else.
    static let `default` = PhoneMessageTable(entries: [
        Entry(mask: 0x000800, value: 0x000800, message: .seePhone, status: .notReady),
        Entry(mask: 0x000400, value: 0x000400, message: .seePhone, status: .notReady),
        Entry(mask: 0x000100, value: 0x000100, message: .seePhone, status: .notReady),
        Entry(mask: 0x000200, value: 0x000200, message: .seePhone, status: .notReady),
        Entry(mask: 0x000000, value: 0x000000, message: .notAuthorised, status: .notReady),
    ])

    /// The table from DF8131 bytes; nil when they are not whole entries with known messages and statuses.
    init?(bytes: [UInt8]) {
        guard !bytes.isEmpty, bytes.count % 8 == 0 else { return nil }
        var out: [Entry] = []
        for i in stride(from: 0, to: bytes.count, by: 8) {
            let e = bytes[i..<(i + 8)].map { $0 }
            guard let m = UIMessage(rawValue: e[6]), let s = UIStatus.allCases.first(where: { $0.byte == e[7] }) else {
                return nil
            }
            out.append(
                Entry(
                    mask: UInt32(e[0]) << 16 | UInt32(e[1]) << 8 | UInt32(e[2]),
                    value: UInt32(e[3]) << 16 | UInt32(e[4]) << 8 | UInt32(e[5]), message: m, status: s))
        }
        entries = out
    }

    init(entries: [Entry]) { self.entries = entries }

    /// Whether the PCII asks the kernel to stop for the cardholder (S11.111: PCII & 00030F ≠ 0).
    static func asksForCardholder(_ pcii: [UInt8]) -> Bool {
        pcii.count == 3 && (pcii[1] & 0x03 != 0 || pcii[2] & 0x0F != 0)
    }

    /// The first matching entry's message and status (S11.113).
    func message(for pcii: [UInt8]) -> (UIMessage, UIStatus) {
        let v = pcii.count == 3 ? UInt32(pcii[0]) << 16 | UInt32(pcii[1]) << 8 | UInt32(pcii[2]) : 0
        for e in entries where v & e.mask == e.value { return (e.message, e.status) }
        return (.seePhone, .notReady)
    }
}
