import Foundation

// UTC timestamps made and read with the C library (gmtime_r, timegm). Foundation's date formatting — GRDB's
// date encoding and decoding, Date.ISO8601Format, JSONEncoder's .iso8601, anything that builds a Calendar — looks
// up the current time zone through ICU and pulls megabytes of ICU code and zone data into the daemon's resident
// memory; a payment terminal only ever needs UTC.
#if canImport(Glibc)
    import Glibc
#endif

/// UTC timestamps made and read with the C library, without Foundation's ICU-backed date formatting.
public enum UTCTime {
    /// Broken-down UTC time with milliseconds (rounded; 999.5 ms carries into the next second). `weekday`: 0 is Sunday.
    public struct Parts: Equatable, Sendable {
        /// Month 1–12, day 1–31, hour 0–23, minute 0–59, second 0–60, millisecond 0–999, weekday 0–6.
        public var year, month, day, hour, minute, second, millisecond, weekday: Int
    }

    /// The broken-down UTC time of `date`, milliseconds rounded.
    public static func parts(_ date: Date) -> Parts {
        let t = date.timeIntervalSince1970
        var seconds = time_t(t.rounded(.down))
        var millis = Int(((t - Double(seconds)) * 1000).rounded())
        if millis == 1000 {
            seconds += 1
            millis = 0
        }
        var tm = tm()
        gmtime_r(&seconds, &tm)
        return Parts(
            year: Int(tm.tm_year) + 1900, month: Int(tm.tm_mon) + 1, day: Int(tm.tm_mday),
            hour: Int(tm.tm_hour), minute: Int(tm.tm_min), second: Int(tm.tm_sec), millisecond: millis,
            weekday: Int(tm.tm_wday))
    }

    private static func pad(_ v: Int, _ n: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, n - s.count)) + s
    }

    /// "yyyy-MM-dd HH:mm:ss.SSS", the text form GRDB stores dates in.
    public static func sql(_ date: Date) -> String {
        let p = parts(date)
        return
            "\(pad(p.year, 4))-\(pad(p.month, 2))-\(pad(p.day, 2)) \(pad(p.hour, 2)):\(pad(p.minute, 2)):\(pad(p.second, 2)).\(pad(p.millisecond, 3))"
    }

    /// RFC 3339 / ISO 8601 in UTC: "2026-11-26T13:07:27Z", or with milliseconds "2026-11-26T13:07:27.120Z".
    /// Without milliseconds the time is truncated to the second, as Foundation's .iso8601 strategy does.
    public static func iso8601(_ date: Date, milliseconds: Bool = false) -> String {
        let p = milliseconds ? parts(date) : parts(truncatedToSecond(date))
        let base =
            "\(pad(p.year, 4))-\(pad(p.month, 2))-\(pad(p.day, 2))T\(pad(p.hour, 2)):\(pad(p.minute, 2)):\(pad(p.second, 2))"
        return milliseconds ? base + ".\(pad(p.millisecond, 3))Z" : base + "Z"
    }

    /// The HTTP date (RFC 9110 §5.6.7, IMF-fixdate): "Thu, 26 Nov 2026 13:07:27 GMT".
    public static func httpDate(_ date: Date) -> String {
        let p = parts(truncatedToSecond(date))
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(days[p.weekday % 7]), \(pad(p.day, 2)) \(months[(p.month - 1) % 12]) \(pad(p.year, 4)) "
            + "\(pad(p.hour, 2)):\(pad(p.minute, 2)):\(pad(p.second, 2)) GMT"
    }

    private static func truncatedToSecond(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    /// Reads "yyyy-MM-dd HH:mm:ss" with an optional fraction of up to 9 digits (GRDB's forms, UTC); nil for
    /// anything else.
    public static func parseSQL(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 19, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x20 || b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A
        else { return nil }
        func number(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                guard (0x30...0x39).contains(b[i]) else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard let y = number(0..<4), let mo = number(5..<7), let d = number(8..<10), let h = number(11..<13),
            let mi = number(14..<16), let s = number(17..<19),
            (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var fraction = 0.0
        if b.count > 19 {
            guard b[19] == 0x2E, b.count > 20, b.count <= 29, let f = number(20..<b.count) else { return nil }
            fraction = Double(f) / pow(10, Double(b.count - 20))
        }
        var tm = tm()
        tm.tm_year = Int32(y - 1900)
        tm.tm_mon = Int32(mo - 1)
        tm.tm_mday = Int32(d)
        tm.tm_hour = Int32(h)
        tm.tm_min = Int32(mi)
        tm.tm_sec = Int32(s)
        let t = timegm(&tm)
        return Date(timeIntervalSince1970: Double(t) + fraction)
    }
}
