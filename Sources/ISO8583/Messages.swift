// The messages a contactless terminal sends and receives (ISO 8583:1987 usage as
// acquirers document it): 0100/0200 requests, 0400/0420/0421 reversals with the original data elements, 0120/0220
// advices for offline approvals, 0800 echo and sign-on; the answers' response code, approval code and DE 55.
import Foundation
import TLV

/// What an online request needs from a card transaction (filled from the kernel's outcome by the caller).
public struct CardTransaction: Sendable {
    /// DE 2 primary account number as digits, or nil to leave it out.
    public var pan: String?
    /// Track 2 equivalent data as digits with D as separator (no F padding).
    public var track2: String?
    /// YYMM.
    public var expiry: String?
    /// DE 23 PAN sequence number as digits (padded to 3 with leading zeros), or nil to leave it out.
    public var panSequenceNumber: String?
    /// DE 4 transaction amount in the currency's minor units; sent as 12 digits.
    public var amount: UInt64
    /// DE 49 ISO 4217 numeric currency code, e.g. 978 for euro.
    public var currencyCode: UInt16
    /// DE 3 processing code, 6 digits; "000000" is a purchase.
    public var processingCode: String = "000000"
    /// DE 22: 07 contactless chip; third digit 1 = PIN entry capability, 2 = none.
    public var posEntryMode: String = "072"
    /// DE 55 chip data as BER-TLV bytes (see `ICCData.build`); empty leaves DE 55 out.
    public var iccData: [UInt8]

    /// Creates a transaction with processing code 000000 and POS entry mode 072 (contactless chip).
    public init(
        pan: String?, track2: String?, expiry: String?, panSequenceNumber: String?, amount: UInt64,
        currencyCode: UInt16,
        iccData: [UInt8]
    ) {
        self.pan = pan
        self.track2 = track2
        self.expiry = expiry
        self.panSequenceNumber = panSequenceNumber
        self.amount = amount
        self.currencyCode = currencyCode
        self.iccData = iccData
    }
}

/// The terminal's identification carried in its messages: DE 41 and DE 42, and DE 32 and DE 24 when set.
public struct TerminalIdentity: Sendable, Equatable {
    /// DE 41 card acceptor terminal identification.
    public var terminalID: String  // DE 41, 8 characters
    /// DE 42 card acceptor identification code (merchant id).
    public var merchantID: String  // DE 42, 15 characters
    /// DE 32 acquiring institution identification code, or nil to leave it out.
    public var acquirerInstitutionID: String?  // DE 32
    /// DE 24 network international identifier (3 digits), or nil to leave it out.
    public var nii: String?  // DE 24
    /// Creates a terminal identity; DE 32 and DE 24 are left out unless given.
    public init(terminalID: String, merchantID: String, acquirerInstitutionID: String? = nil, nii: String? = nil) {
        self.terminalID = terminalID
        self.merchantID = merchantID
        self.acquirerInstitutionID = acquirerInstitutionID
        self.nii = nii
    }
}

/// The system trace audit number: 000001 … 999999, then 000001 again.
public struct STAN: Sendable, Equatable, Codable {
    /// The last number issued, 0 before the first.
    public private(set) var value: Int
    /// Starts from `value` (the last number issued); anything outside 0–999999 starts from 0.
    public init(_ value: Int = 0) { self.value = (0...999_999).contains(value) ? value : 0 }
    /// Advances to the next STAN and returns it as 6 digits; 999999 is followed by 000001.
    public mutating func next() -> String {
        value = value >= 999_999 ? 1 : value + 1
        return text
    }
    /// The current value as 6 digits with leading zeros (DE 11).
    public var text: String {
        let s = String(value)
        return String(repeating: "0", count: 6 - s.count) + s
    }
}

/// Builds the ISO 8583 messages the terminal sends: requests, reversals, advices, completions and network management.
public enum Messages {
    /// UTC date parts for DE 7 (MMDDhhmmss), and local ones for DE 12/13. Taken from the C library (gmtime_r,
    /// localtime_r with the system's time zone): Foundation's TimeZone.current brings up ICU on Linux.
    static func parts(_ d: Date, utc: Bool) -> DateComponents {
        var t = time_t(d.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        if utc { gmtime_r(&t, &tm) } else { localtime_r(&t, &tm) }
        return DateComponents(
            year: Int(tm.tm_year) + 1900, month: Int(tm.tm_mon) + 1, day: Int(tm.tm_mday),
            hour: Int(tm.tm_hour), minute: Int(tm.tm_min), second: Int(tm.tm_sec))
    }
    static func two(_ v: Int?) -> String {
        let x = (v ?? 0) % 100
        return x < 10 ? "0\(x)" : "\(x)"
    }

    /// DE 7 (transmission time, UTC), DE 11 (the STAN) and DE 12/13 (local time and date) of a message sent at `date`.
    static func stamp(_ m: inout ISOMessage, stan: String, at date: Date) {
        let utc = parts(date, utc: true)
        let local = parts(date, utc: false)
        m[7] = two(utc.month) + two(utc.day) + two(utc.hour) + two(utc.minute) + two(utc.second)
        m[11] = stan
        m[12] = two(local.hour) + two(local.minute) + two(local.second)
        m[13] = two(local.month) + two(local.day)
    }

    /// DE 90 (n42) naming `original`: its MTI, STAN (DE 11), transmission time (DE 7) and acquirer (DE 32, 11 digits),
    /// then 11 zeros for the forwarding institution.
    static func originalDataElements(_ original: ISOMessage) -> String {
        let acq = original[32] ?? ""
        let acq11 = String(repeating: "0", count: max(0, 11 - acq.count)) + acq.suffix(11)
        return original.mti + (original[11] ?? "000000") + (original[7] ?? "0000000000") + acq11 + "00000000000"
    }

    /// DE 37, 12 characters: last digit of the year, day of the year, hour, STAN.
    public static func retrievalReferenceNumber(stan: String, at date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        let ds = String(Int(tm.tm_yday) + 1)
        return "\(Int(tm.tm_year + 1900) % 10)" + String(repeating: "0", count: 3 - ds.count) + ds
            + two(Int(tm.tm_hour)) + stan
    }

    /// 0100 (authorisation) or 0200 (financial) request.
    public static func request(
        _ mti: String, _ t: CardTransaction, terminal: TerminalIdentity, stan: String, rrn: String,
        at date: Date = Date()
    ) -> ISOMessage {
        var m = ISOMessage(mti: mti)
        if let pan = t.pan { m[2] = pan }
        m[3] = t.processingCode
        m[4] = amountField(t.amount)
        stamp(&m, stan: stan, at: date)
        if let e = t.expiry { m[14] = e }
        m[22] = t.posEntryMode
        if let psn = t.panSequenceNumber { m[23] = psn }
        if let nii = terminal.nii { m[24] = nii }
        m[25] = "00"
        if let acq = terminal.acquirerInstitutionID { m[32] = acq }
        if let t2 = t.track2 { m[35] = t2 }
        m[37] = rrn
        m[41] = terminal.terminalID
        m[42] = terminal.merchantID
        m[49] = String(t.currencyCode)
        if !t.iccData.isEmpty { m.set(55, bytes: t.iccData) }
        return m
    }

    /// A reversal of `original`: 0400, or the reversal advice 0420 (0421 for repeats). Same STAN, RRN, amount and
    /// card identification (DE 2, 14, 23; never track 2, which is not kept once a request is answered); DE 55 when the
    /// original still has it; DE 90 carries the original MTI, STAN, transmission time and acquirer identification.
    public static func reversal(
        of original: ISOMessage, mti: String = "0400", approvalCode: String? = nil,
        responseCode: String? = nil
    ) -> ISOMessage {
        var m = ISOMessage(mti: mti)
        for f in [2, 3, 4, 7, 11, 12, 13, 14, 22, 23, 24, 25, 32, 37, 41, 42, 49] { m.set(f, bytes: original.bytes(f)) }
        if let a = approvalCode { m[38] = a }
        if let r = responseCode { m[39] = r }
        m[90] = originalDataElements(original)
        m.set(55, bytes: original.bytes(55))
        return m
    }

    /// Book 3 / common practice: an offline approval reported later as an advice (0220 financial, 0120
    /// authorisation) with DE 39 "Y1" (offline approved) or "Y3" (unable to go online, approved offline).
    public static func advice(
        _ t: CardTransaction, mti: String = "0220", terminal: TerminalIdentity, stan: String, rrn: String,
        responseCode: String = "Y1", at date: Date = Date()
    ) -> ISOMessage {
        var m = request(mti, t, terminal: terminal, stan: stan, rrn: rrn, at: date)
        m[39] = responseCode
        return m
    }

    /// The completion (0220) that captures an approved authorisation (0100) in dual-message mode, for the final
    /// `amount`: a new STAN, the authorisation's RRN and approval code, DE 90 naming the authorisation. No track 2
    /// and no DE 55: the card's data went with the authorisation.
    public static func completion(
        of authorisation: ISOMessage, amount: UInt64, approvalCode: String?, stan: String,
        at date: Date = Date()
    ) -> ISOMessage {
        var m = ISOMessage(mti: "0220")
        for f in [2, 3, 14, 22, 23, 24, 25, 32, 37, 41, 42, 49] { m.set(f, bytes: authorisation.bytes(f)) }
        m[4] = amountField(amount)
        stamp(&m, stan: stan, at: date)
        if let approvalCode { m[38] = approvalCode }
        m[39] = "00"
        m[90] = originalDataElements(authorisation)
        return m
    }

    /// The totals of a batch as a reconciliation request carries them (ISO 8583:1987 DE 74–77, 86–89, 97).
    public struct ReconciliationTotals: Sendable, Equatable {
        /// DE 74: credits (refunds).
        public var credits: Int64
        /// DE 86: their amount in minor units.
        public var creditsAmount: Int64
        /// DE 75: reversals of credits.
        public var creditReversals: Int64
        /// DE 87: their amount.
        public var creditReversalsAmount: Int64
        /// DE 76: debits (sales, completions).
        public var debits: Int64
        /// DE 88: their amount.
        public var debitsAmount: Int64
        /// DE 77: reversals of debits.
        public var debitReversals: Int64
        /// DE 89: their amount.
        public var debitReversalsAmount: Int64
        /// Totals as counted.
        public init(
            credits: Int64, creditsAmount: Int64, creditReversals: Int64, creditReversalsAmount: Int64, debits: Int64,
            debitsAmount: Int64, debitReversals: Int64, debitReversalsAmount: Int64
        ) {
            self.credits = credits
            self.creditsAmount = creditsAmount
            self.creditReversals = creditReversals
            self.creditReversalsAmount = creditReversalsAmount
            self.debits = debits
            self.debitsAmount = debitsAmount
            self.debitReversals = debitReversals
            self.debitReversalsAmount = debitReversalsAmount
        }
        /// DE 97: debits less credits after reversals; "D" when debits outweigh credits, else "C", then 16 digits.
        public var netField: String {
            let net = (debitsAmount - debitReversalsAmount) - (creditsAmount - creditReversalsAmount)
            return (net >= 0 ? "D" : "C") + digits(net.magnitude, 16)
        }
        /// The totals a reconciliation request carries, read back (nil when a field is missing or not a number).
        public init?(_ m: ISOMessage) {
            func v(_ f: Int) -> Int64? { m[f].flatMap { Int64($0) } }
            guard let c = v(74), let cr = v(75), let d = v(76), let dr = v(77), let ca = v(86), let cra = v(87),
                let da = v(88), let dra = v(89)
            else { return nil }
            self.init(
                credits: c, creditsAmount: ca, creditReversals: cr, creditReversalsAmount: cra, debits: d,
                debitsAmount: da, debitReversals: dr, debitReversalsAmount: dra)
        }
    }

    static func digits(_ v: some BinaryInteger, _ n: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, n - s.count)) + s
    }

    /// 0500 acquirer reconciliation request: the batch's totals (DE 74–77, 86–89, 97), the settlement date (DE 15),
    /// the batch number in `batchField` (n6, as text) and the processing code (first close or after the upload).
    public static func reconciliation(
        _ totals: ReconciliationTotals, batch: Int, batchField: Int, processingCode: String, terminal: TerminalIdentity,
        stan: String, at date: Date = Date()
    ) -> ISOMessage {
        var m = ISOMessage(mti: "0500")
        m[3] = processingCode
        stamp(&m, stan: stan, at: date)
        m[15] = m[13]
        if let nii = terminal.nii { m[24] = nii }
        if let acq = terminal.acquirerInstitutionID { m[32] = acq }
        m[41] = terminal.terminalID
        m[42] = terminal.merchantID
        m[batchField] = digits(batch, 6)
        m[74] = digits(totals.credits, 10)
        m[75] = digits(totals.creditReversals, 10)
        m[76] = digits(totals.debits, 10)
        m[77] = digits(totals.debitReversals, 10)
        m[86] = digits(totals.creditsAmount, 16)
        m[87] = digits(totals.creditReversalsAmount, 16)
        m[88] = digits(totals.debitsAmount, 16)
        m[89] = digits(totals.debitReversalsAmount, 16)
        m[97] = totals.netField
        return m
    }

    /// 0320 batch upload of one transaction of a batch: what the acquirer needs to rebuild its totals — the
    /// original's card identification when still kept (DE 2, 14, 22, 23; never track 2 or DE 55), processing code,
    /// amount, RRN, approval and response codes; a new STAN, DE 90 naming the original message, the batch number.
    public static func batchUpload(
        original: ISOMessage, amount: Int64, approvalCode: String?, responseCode: String, batch: Int, batchField: Int,
        stan: String, at date: Date = Date()
    ) -> ISOMessage {
        var m = ISOMessage(mti: "0320")
        for f in [2, 3, 14, 22, 23, 24, 25, 32, 37, 41, 42, 49] { m.set(f, bytes: original.bytes(f)) }
        m[4] = amountField(UInt64(max(0, amount)))
        stamp(&m, stan: stan, at: date)
        if let approvalCode { m[38] = approvalCode }
        m[39] = responseCode
        m[90] = originalDataElements(original)
        m[batchField] = digits(batch, 6)
        return m
    }

    /// What is kept of a request once it is answered (PCI DSS 3.2): everything a reversal or void needs, without
    /// track 2 (DE 35) and the chip data (DE 55).
    public static func stripped(_ m: ISOMessage) -> ISOMessage {
        var r = m
        r.set(35, bytes: nil)
        r.set(55, bytes: nil)
        return r
    }

    /// 0800 network management: echo (DE 70 = 301) or sign-on (001).
    public static func networkManagement(
        code: String = "301", terminal: TerminalIdentity, stan: String, at date: Date = Date()
    ) -> ISOMessage {
        var m = ISOMessage(mti: "0800")
        let utc = parts(date, utc: true)
        m[7] = two(utc.month) + two(utc.day) + two(utc.hour) + two(utc.minute) + two(utc.second)
        m[11] = stan
        m[41] = terminal.terminalID
        m[70] = code
        return m
    }

    /// DE 4 (n12) for an amount in minor units: zero-padded to 12 digits.
    public static func amountField(_ amount: UInt64) -> String {
        let digits = String(amount)
        return String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }

    /// The same message as a repeat: origin digit 1 (0420 → 0421).
    public static func repeatMTI(_ m: ISOMessage) -> ISOMessage {
        var r = m
        var d = Array(m.mti)
        if d.count == 4 { d[3] = "1" }
        r.mti = String(d)
        return r
    }
}

/// An acquirer's answer to a request.
public struct AuthorizationResponse: Sendable, Equatable {
    /// DE 39 response code, 2 characters ("00" approved).
    public var responseCode: String
    /// DE 38 approval code, or nil when the answer has none.
    public var approvalCode: String?
    /// The issuer's DE 55 data (ARPC, scripts, tag 8A), or nil when the answer has no DE 55.
    public var icc: ICCData.Response?

    /// DE 39 00, 08 (honour with identification), 10 (partial), 11 (VIP) approve.
    public static func approves(_ responseCode: String) -> Bool { ["00", "08", "10", "11"].contains(responseCode) }
    /// Whether the response code approves the transaction (see `approves`).
    public var isApproved: Bool { Self.approves(responseCode) }

    /// Reads an acquirer's answer. Throws `ISO8583Error` (DE 39 or DE 55) when DE 39 is missing or not 2 characters, or DE 55 is malformed.
    public init(_ m: ISOMessage) throws {
        guard let rc = m[39], rc.count == 2 else {
            throw ISO8583Error(field: 39, offset: 0, reason: "answer without a response code")
        }
        responseCode = rc
        approvalCode = m[38]
        if let de55 = m.bytes(55) {
            do { icc = try ICCData.parseResponse(de55) } catch {
                throw ISO8583Error(field: 55, offset: 0, reason: "malformed in the answer: \(error)")
            }
        }
    }
}
