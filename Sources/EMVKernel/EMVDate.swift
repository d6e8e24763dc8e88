import TLV

// Dates as EMV carries them: YYMMDD (n6, tag 9A / 5F24) and MMYY in certificates (Book 2 Tables 6 and 14).
#if canImport(Glibc)
    import Glibc
#endif

/// A calendar date with a four-digit year. Years in YY form map 00–49 → 20YY and 50–99 → 19YY
/// (Book 4 §6.7.3 / the usual EMV windowing).
public struct EMVDate: Comparable, Hashable, Sendable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), (1...31).contains(day), (1950...2049).contains(year) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// From the three BCD bytes YYMMDD of tag 9A or 5F24.
    public init?(yymmdd b: some Collection<UInt8>) {
        let a = Array(b)
        guard a.count == 3, let yy = BCD.decode(a[0...0]), let mm = BCD.decode(a[1...1]), let dd = BCD.decode(a[2...2])
        else { return nil }
        self.init(year: EMVDate.window(Int(yy)), month: Int(mm), day: Int(dd))
    }

    /// From "YYYY-MM-DD".
    public init?(iso text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2])
        else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// The UTC calendar date of a POSIX time (seconds since 1970), from the C library's gmtime_r: no Foundation
    /// Calendar, whose time zone machinery loads ICU's zone data into a daemon that only needs the date.
    public init?(utcSeconds: Int) {
        var t = time_t(utcSeconds)
        var tm = tm()
        guard gmtime_r(&t, &tm) != nil else { return nil }
        self.init(year: Int(tm.tm_year) + 1900, month: Int(tm.tm_mon) + 1, day: Int(tm.tm_mday))
    }

    /// Today in UTC.
    public static func utcToday() -> EMVDate? { EMVDate(utcSeconds: Int(time(nil))) }

    static func window(_ yy: Int) -> Int { yy < 50 ? 2000 + yy : 1900 + yy }

    public var yymmdd: [UInt8] {
        BCD.encode(UInt64(year % 100), bytes: 1)! + BCD.encode(UInt64(month), bytes: 1)! + BCD.encode(
            UInt64(day), bytes: 1)!
    }

    public static func < (a: EMVDate, b: EMVDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    public var description: String {
        "\(year)-\(month < 10 ? "0" : "")\(month)-\(day < 10 ? "0" : "")\(day)"
    }
}

/// A certificate expiry date MMYY: the certificate is valid through the last day of that month.
public struct CertificateExpiry: Equatable, Sendable, CustomStringConvertible {
    public let month: Int
    public let year: Int

    public init?(mmyy b: some Collection<UInt8>) {
        let a = Array(b)
        guard a.count == 2, let mm = BCD.decode(a[0...0]), let yy = BCD.decode(a[1...1]), (1...12).contains(Int(mm))
        else { return nil }
        month = Int(mm)
        year = EMVDate.window(Int(yy))
    }

    /// Book 2 §5.3 step 11 / §6.4 step 9: expired when the transaction date is after the expiry month.
    public func hasExpired(on date: EMVDate) -> Bool {
        (date.year, date.month) > (year, month)
    }

    public var description: String { "\(month < 10 ? "0" : "")\(month)/\(year)" }
}
