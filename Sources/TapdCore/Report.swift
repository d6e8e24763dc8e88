// Reports: the figures a merchant and the bank judge a terminal by, for a period or a batch — counts and amounts by
// scheme and transaction type, approved, declined, failed, reversed (no answer) and voided, offline approvals and
// their advices, the success rate, and the average tap-to-outcome and online times. Counted by the journal in SQL.

import Foundation
import Journal
import TLV

/// A report as `GET /v1/reports` answers it.
public struct Report: Codable, Sendable, Equatable {
    /// The figures of one scheme and transaction type (or of all of them, in `total`).
    public struct Line: Codable, Sendable, Equatable {
        /// The card scheme ("visa", …), "none" when no card was read, "all" in the total.
        public var scheme: String
        /// "sale", "refund", "preauth", or "all" in the total.
        public var type: String
        /// Transactions in the period.
        public var count: Int64 = 0
        /// Approved (online, partially, offline, pre-authorisations completed).
        public var approved: Int64 = 0
        /// The approved amount in minor units.
        public var approvedAmount: Int64 = 0
        /// Declined by the card, the terminal or the issuer.
        public var declined: Int64 = 0
        /// Failed (no usable card data, no acquirer, a reader error).
        public var failed: Int64 = 0
        /// Sent without an answer and reversed.
        public var reversed: Int64 = 0
        /// Approved, then voided (or a pre-authorisation released).
        public var voided: Int64 = 0
        /// The voided amount.
        public var voidedAmount: Int64 = 0
        /// Cancelled by the point of sale or timed out without a card.
        public var cancelled: Int64 = 0
        /// Open pre-authorisations: funds held on cards, not yet money (completed ones count as approved).
        public var held: Int64 = 0
        /// The amount they hold.
        public var heldAmount: Int64 = 0
        /// Approved offline by the card.
        public var offlineApprovals: Int64 = 0
        /// Their advices accepted by the acquirer.
        public var advicesDelivered: Int64 = 0
        /// Their advices still owed.
        public var advicesOwed: Int64 = 0

        enum CodingKeys: String, CodingKey {
            case scheme, type, count, approved
            case approvedAmount = "approved_amount"
            case declined, failed, reversed, voided
            case voidedAmount = "voided_amount"
            case cancelled, held
            case heldAmount = "held_amount"
            case offlineApprovals = "offline_approvals"
            case advicesDelivered = "advices_delivered"
            case advicesOwed = "advices_owed"
        }

        mutating func add(_ g: ReportGroup) {
            count += g.count
            switch g.state {
            case .approved where g.kind == .preauth, .partiallyApproved where g.kind == .preauth:
                held += g.count
                heldAmount += g.amount
            case .approved, .partiallyApproved, .approvedOffline, .completed:
                approved += g.count
                approvedAmount += g.amount
            case .declined: declined += g.count
            case .failed: failed += g.count
            case .unanswered: reversed += g.count
            case .voided:
                voided += g.count
                voidedAmount += g.amount
            case .cancelled, .timedOut: cancelled += g.count
            default: break
            }
            if g.state == .approvedOffline { offlineApprovals += g.count }
            advicesDelivered += g.advicesDelivered
            advicesOwed += g.advicesOwed
        }
    }

    /// The period's start (inclusive), when the report is for a period.
    public var from: Date?
    /// The period's end (exclusive).
    public var to: Date?
    /// The batch, when the report is for one.
    public var batch: Int?
    /// The terminal's currency (ISO 4217 alphabetic) all amounts are in.
    public var currency: String
    /// One line per scheme and transaction type.
    public var lines: [Line]
    /// All of them together (the total's approved amount adds sales and refunds: see `net`).
    public var total: Line
    /// The money the period moved: approved sales and completions less approved refunds, in minor units.
    public var net: Int64
    /// Approved of those that reached a decision (approved, declined, failed, reversed), 0–1; nil when none did.
    public var successRate: Double?
    /// The average time from the card in the field to the kernel's outcome, in milliseconds; nil when none measured.
    public var averageTapMilliseconds: Double?
    /// The average time of an online request, request to answer, in milliseconds; nil when none went online.
    public var averageOnlineMilliseconds: Double?

    enum CodingKeys: String, CodingKey {
        case from, to, batch, currency, lines, total, net
        case successRate = "success_rate"
        case averageTapMilliseconds = "average_tap_ms"
        case averageOnlineMilliseconds = "average_online_ms"
    }

    /// The report of `groups` (the journal's counts).
    public init(_ groups: [ReportGroup], from: Date?, to: Date?, batch: Int?, currency: String) {
        self.from = from
        self.to = to
        self.batch = batch
        self.currency = currency
        var byKey: [String: Line] = [:]
        var total = Line(scheme: "all", type: "all")
        var tap: (sum: Int64, n: Int64) = (0, 0)
        var online: (sum: Int64, n: Int64) = (0, 0)
        for g in groups {
            let scheme = g.scheme ?? "none"
            let key = scheme + "/" + g.kind.rawValue
            byKey[key, default: Line(scheme: scheme, type: g.kind.rawValue)].add(g)
            total.add(g)
            tap = (tap.sum + g.tapMillisecondsSum, tap.n + g.tapMeasured)
            online = (online.sum + g.onlineMillisecondsSum, online.n + g.onlineMeasured)
        }
        lines = byKey.keys.sorted().compactMap { byKey[$0] }
        self.total = total
        net = lines.reduce(0) {
            $0 + ($1.type == TransactionKind.refund.rawValue ? -$1.approvedAmount : $1.approvedAmount)
        }
        let decided = total.approved + total.declined + total.failed + total.reversed
        successRate = decided > 0 ? Double(total.approved) / Double(decided) : nil
        averageTapMilliseconds = tap.n > 0 ? Double(tap.sum) / Double(tap.n) : nil
        averageOnlineMilliseconds = online.n > 0 ? Double(online.sum) / Double(online.n) : nil
    }
}

/// Dates as the API's query parameters give them: a local day ("2026-12-06", from its local midnight) or a UTC
/// timestamp ("2026-12-06T13:07:27Z"). Parsed with the C library (Foundation's calendars bring up ICU).
public enum APIDate {
    /// The instant `text` names, or nil when it is neither form.
    public static func parse(_ text: String) -> Date? {
        if text.utf8.count == 10 { return localMidnight(text) }
        return dateTime(text)
    }

    /// An RFC 3339 date-time: "2026-12-06T13:07:27Z", with an optional fraction of a second and "Z" or an offset
    /// (+01:00); "t" and "z" in either case. Nil for anything else.
    public static func dateTime(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 20, b[10] == 0x54 || b[10] == 0x74 else { return nil }
        var i = 19
        var fraction = ""
        if b[i] == 0x2E {
            i += 1
            while i < b.count, (0x30...0x39).contains(b[i]) {
                fraction.append(Character(UnicodeScalar(b[i])))
                i += 1
            }
            guard !fraction.isEmpty else { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == 0x5A || b[i] == 0x7A {
            guard i == b.count - 1 else { return nil }
        } else {
            guard b[i] == 0x2B || b[i] == 0x2D, b.count - i == 6, b[i + 3] == 0x3A,
                let h = Int(String(decoding: b[(i + 1)...(i + 2)], as: UTF8.self)),
                let m = Int(String(decoding: b[(i + 4)...(i + 5)], as: UTF8.self)), h < 24, m < 60,
                b[(i + 1)...(i + 2)].allSatisfy({ (0x30...0x39).contains($0) }),
                b[(i + 4)...(i + 5)].allSatisfy({ (0x30...0x39).contains($0) })
            else { return nil }
            offset = (h * 3600 + m * 60) * (b[i] == 0x2B ? 1 : -1)
        }
        let head = String(decoding: b[0..<10] + [0x54] + b[11..<19], as: UTF8.self)  // "t" read as "T"
        guard isCalendarDay(String(head.prefix(10))), let base = UTCTime.parseSQL(head) else { return nil }
        let seconds = Double("0." + (fraction.isEmpty ? "0" : String(fraction.prefix(9)))) ?? 0
        return base.addingTimeInterval(seconds - Double(offset))
    }

    /// Whether "YYYY-MM-DD" names a day of the Gregorian calendar (years 0000–9999).
    static func isCalendarDay(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m)
        else { return false }
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
        return (1...days).contains(d)
    }

    /// Local midnight of "YYYY-MM-DD" (the merchant's business day), nil when it is not a valid date.
    public static func localMidnight(_ text: String) -> Date? {
        guard isCalendarDay(text) else { return nil }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        var t = tm()
        t.tm_year = Int32(y - 1900)
        t.tm_mon = Int32(m - 1)
        t.tm_mday = Int32(d)
        t.tm_isdst = -1
        let seconds = mktime(&t)
        return Date(timeIntervalSince1970: Double(seconds))
    }

    /// The local midnight after `day` (a day is not always 24 hours: daylight saving).
    public static func nextLocalMidnight(after day: Date) -> Date {
        var t = time_t(day.timeIntervalSince1970 + 36 * 3600)
        var tm = tm()
        localtime_r(&t, &tm)
        tm.tm_hour = 0
        tm.tm_min = 0
        tm.tm_sec = 0
        tm.tm_isdst = -1
        return Date(timeIntervalSince1970: Double(mktime(&tm)))
    }
}
