// A short table of ISO 4217 currency and ISO 3166-1 country numeric codes seen at European and North American
// tills, for display only. Unknown codes are shown as numbers.

public enum ISOCodes {
    static let currencies: [Int: String] = [
        36: "AUD", 124: "CAD", 156: "CNY", 203: "CZK", 208: "DKK", 348: "HUF", 356: "INR", 392: "JPY",
        410: "KRW", 484: "MXN", 554: "NZD", 578: "NOK", 643: "RUB", 682: "SAR", 702: "SGD", 710: "ZAR",
        752: "SEK", 756: "CHF", 784: "AED", 826: "GBP", 840: "USD", 946: "RON", 949: "TRY", 978: "EUR",
        985: "PLN", 986: "BRL",
    ]
    static let countries: [Int: String] = [
        36: "AU", 40: "AT", 56: "BE", 76: "BR", 124: "CA", 156: "CN", 203: "CZ", 208: "DK", 246: "FI",
        250: "FR", 276: "DE", 300: "GR", 348: "HU", 356: "IN", 372: "IE", 380: "IT", 392: "JP", 410: "KR",
        442: "LU", 484: "MX", 528: "NL", 554: "NZ", 578: "NO", 616: "PL", 620: "PT", 642: "RO", 702: "SG",
        710: "ZA", 724: "ES", 752: "SE", 756: "CH", 784: "AE", 792: "TR", 826: "GB", 840: "US",
    ]
    public static func currency(_ code: Int) -> String? { currencies[code] }
    public static func country(_ code: Int) -> String? { countries[code] }
}
