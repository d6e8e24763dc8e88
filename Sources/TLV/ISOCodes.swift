// A short table of ISO 4217 currency and ISO 3166-1 country numeric codes seen at European and North American
// tills, for display only. Unknown codes are shown as numbers.

public enum ISOCodes {
    static let currencies: [Int: String] = [
        36: "AUD", 124: "CAD", 156: "CNY", 203: "CZK", 208: "DKK", 348: "HUF", 356: "INR", 392: "JPY",
        410: "KRW", 484: "MXN", 554: "NZD", 578: "NOK", 643: "RUB", 682: "SAR", 702: "SGD", 710: "ZAR",
        752: "SEK", 756: "CHF", 784: "AED", 826: "GBP", 840: "USD", 946: "RON", 949: "TRY", 978: "EUR",
        985: "PLN", 986: "BRL", 48: "BHD", 414: "KWD", 400: "JOD", 512: "OMR", 788: "TND", 368: "IQD",
        434: "LYD", 152: "CLP", 352: "ISK", 704: "VND", 344: "HKD", 901: "TWD", 764: "THB", 458: "MYR",
        360: "IDR", 608: "PHP", 376: "ILS", 818: "EGP", 634: "QAR",
    ]
    /// ISO 4217 minor units of the currencies that do not have two (JPY 0, BHD 3, …).
    static let exponents: [Int: Int] = [
        392: 0, 410: 0, 152: 0, 352: 0, 704: 0, 48: 3, 414: 3, 400: 3, 512: 3, 788: 3, 368: 3, 434: 3,
    ]
    /// The number of minor-unit digits of an ISO 4217 numeric currency (2 unless the standard says otherwise).
    public static func exponent(_ code: Int) -> Int { exponents[code] ?? 2 }
    /// The ISO 4217 numeric code of an alphabetic one ("EUR" → 978), nil when unknown.
    public static func currencyNumber(_ alpha: String) -> Int? {
        currencies.first { $0.value == alpha.uppercased() }?.key
    }
    static let countries: [Int: String] = [
        36: "AU", 40: "AT", 56: "BE", 76: "BR", 124: "CA", 156: "CN", 203: "CZ", 208: "DK", 246: "FI",
        250: "FR", 276: "DE", 300: "GR", 348: "HU", 356: "IN", 372: "IE", 380: "IT", 392: "JP", 410: "KR",
        442: "LU", 484: "MX", 528: "NL", 554: "NZ", 578: "NO", 616: "PL", 620: "PT", 642: "RO", 702: "SG",
        710: "ZA", 724: "ES", 752: "SE", 756: "CH", 784: "AE", 792: "TR", 826: "GB", 840: "US",
    ]
    public static func currency(_ code: Int) -> String? { currencies[code] }
    public static func country(_ code: Int) -> String? { countries[code] }
}
