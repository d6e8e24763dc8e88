// Receipts: what the card schemes ask a contactless receipt to carry (merchant name and location, TID/MID, date and
// time, transaction type, amount and currency, masked PAN, application label or preferred name, AID, entry mode, the
// CVM's outcome with a signature line or "verified on device", approval code, response, STAN/RRN, the result in
// words), for the customer's and the merchant's copy, as data and as plain text for thermal printers of 32, 42 or 48
// columns. Amounts are written with the currency's own minor units (JPY none, BHD three). The customer's copy shows
// the last four digits of the card only.

import Foundation
import Journal
import TLV

/// One receipt: the data, for a point of sale that prints its own, and `text` for one that prints ours.
public struct Receipt: Codable, Sendable, Equatable {
    /// Which copy: "customer" or "merchant".
    public var copy: String
    /// The merchant's name (`[merchant] name`).
    public var merchantName: String
    /// The merchant's location (`[merchant] location`); empty when not configured.
    public var merchantLocation: String
    /// The terminal id (DE 41); nil without an acquirer.
    public var terminalID: String?
    /// The merchant id (DE 42); nil without an acquirer.
    public var merchantID: String?
    /// When the transaction was made, in UTC (ISO 8601).
    public var dateTime: String
    /// "SALE", "REFUND", "PRE-AUTHORISATION" or "COMPLETION".
    public var transactionType: String
    /// The amount in minor units (the approved, or completed, amount when it differs from the asked one).
    public var amount: Int64
    /// The amount written with the currency's minor units and code, e.g. "12.34 EUR", "1200 JPY", "1.234 BHD".
    public var amountText: String
    /// ISO 4217 alphabetic code (or the numeric one when unknown).
    public var currency: String
    /// The card number as this copy shows it: the masked PAN on the merchant's copy, the last four digits on the
    /// customer's; nil when no card was read.
    public var pan: String?
    /// The application's preferred name (9F12) or label (50); nil when the card gave neither.
    public var applicationLabel: String?
    /// The application identifier (AID) in hex; nil when no card was read.
    public var aid: String?
    /// Always "contactless".
    public var entryMode: String
    /// The cardholder verification in words: "no CVM", "signature", "PIN verified online", "verified on device".
    public var cvm: String?
    /// Whether the copy carries a signature line (signature CVM, merchant's copy).
    public var signatureLine: Bool
    /// The approval code (DE 38), when the acquirer gave one.
    public var approvalCode: String?
    /// The acquirer's response code (DE 39).
    public var responseCode: String?
    /// The STAN (DE 11) of the transaction's message.
    public var stan: String?
    /// The retrieval reference number (DE 37).
    public var rrn: String?
    /// The result in words: "APPROVED", "DECLINED", "VOIDED", "NOT COMPLETED", …
    public var result: String
    /// The receipt as plain text, one line per row, at the width asked for.
    public var text: String

    enum CodingKeys: String, CodingKey {
        case copy
        case merchantName = "merchant_name"
        case merchantLocation = "merchant_location"
        case terminalID = "terminal_id"
        case merchantID = "merchant_id"
        case dateTime = "date_time"
        case transactionType = "transaction_type"
        case amount
        case amountText = "amount_text"
        case currency, pan
        case applicationLabel = "application_label"
        case aid
        case entryMode = "entry_mode"
        case cvm
        case signatureLine = "signature_line"
        case approvalCode = "approval_code"
        case responseCode = "response_code"
        case stan, rrn, result, text
    }

    /// Which copy a receipt is.
    public enum Copy: String, Sendable, CaseIterable {
        case customer, merchant
    }

    /// The receipt of a transaction as the journal holds it.
    public init(
        _ r: SaleRecord, copy: Copy, width: Int, merchant: MerchantSettings, terminalID: String?,
        merchantID: String?
    ) {
        let view = TransactionView(r)
        self.copy = copy.rawValue
        merchantName = merchant.name
        merchantLocation = merchant.location
        self.terminalID = terminalID
        self.merchantID = merchantID
        dateTime = UTCTime.iso8601(r.createdAt)
        transactionType =
            switch r.kind {
            case .sale: "SALE"
            case .refund: "REFUND"
            case .preauth: r.state == .completed ? "COMPLETION" : "PRE-AUTHORISATION"
            }
        amount = r.completedAmount ?? r.approvedAmount ?? r.amount
        currency = view.currency
        amountText = Self.money(amount, currency: r.currency)
        let record = view.kernelOutput?.dataRecord ?? [:]
        if let masked = r.maskedPAN {
            pan = copy == .merchant ? masked : "**** " + String(masked.suffix(4))
        }
        applicationLabel = [record["9F12"], record["50"]].compactMap { $0 }.compactMap(Self.printable).first
        aid = record["84"] ?? record["4F"] ?? record["9F06"]
        entryMode = "contactless"
        let approved = [.approved, .partiallyApproved, .approvedOffline, .completed].contains(r.state)
        cvm = approved ? r.cvm.flatMap(Self.cvmWords) : nil  // a declined card was verified for nothing
        signatureLine = copy == .merchant && approved && r.cvm == "signature"
        approvalCode = r.approvalCode
        responseCode = r.responseCode
        stan = r.stan
        rrn = r.rrn
        result =
            switch view.status {
            case .approved, .completed: r.kind == .refund ? "REFUND ACCEPTED" : "APPROVED"
            case .partiallyApproved: "PARTIALLY APPROVED"
            case .declined: "DECLINED"
            case .voided: r.kind == .preauth ? "RELEASED" : "VOIDED"
            case .voidPending: "VOID PENDING"
            case .cancelled, .timedOut: "CANCELLED"
            case .failed: "NOT COMPLETED"
            default: "IN PROGRESS"
            }
        text = ""
        text = render(width: width, cvmVerifiedOnDevice: r.cvm == "on_device_cvm")
    }

    /// "12.34 EUR", "1200 JPY", "1.234 BHD": minor units written with the currency's exponent.
    public static func money(_ minor: Int64, currency: Int) -> String {
        let code = ISOCodes.currency(currency) ?? String(currency)
        return amountDigits(minor, exponent: ISOCodes.exponent(currency)) + " " + code
    }

    /// Minor units as a decimal with `exponent` fraction digits ("1234", 2 → "12.34"; "5", 3 → "0.005").
    public static func amountDigits(_ minor: Int64, exponent: Int) -> String {
        let sign = minor < 0 ? "-" : ""
        let digits = String(minor.magnitude)
        guard exponent > 0 else { return sign + digits }
        let padded = String(repeating: "0", count: max(0, exponent + 1 - digits.count)) + digits
        return sign + padded.dropLast(exponent) + "." + padded.suffix(exponent)
    }

    /// The printable part of a hex-encoded label (9F12 or 50: ans, in the issuer's code table; printed as ASCII).
    static func printable(_ hex: String) -> String? {
        guard let bytes = [UInt8](hex: hex) else { return nil }
        let s = String(bytes.filter { (0x20...0x7E).contains($0) }.map { Character(UnicodeScalar($0)) })
            .trimmingCharacters(in: .whitespaces)
        return s.isEmpty ? nil : s
    }

    static func cvmWords(_ cvm: String) -> String? {
        switch cvm {
        case "no_cvm": "no CVM"
        case "signature": "signature"
        case "online_pin": "PIN verified online"
        case "on_device_cvm": "verified on device"
        default: nil
        }
    }

    /// Plain text for a thermal printer `width` columns wide: centred heading, label and value rows, never a line
    /// longer than the width and never a character cut in half (lines are counted in characters, not bytes).
    func render(width: Int, cvmVerifiedOnDevice: Bool) -> String {
        var lines: [String] = []
        func centred(_ s: String) {
            let t = Self.fit(s, width)
            lines.append(String(repeating: " ", count: (width - t.count) / 2) + t)
        }
        func row(_ label: String, _ value: String?) {
            guard let value, !value.isEmpty else { return }
            let v = Self.fit(value, width)
            if label.count + 1 + v.count <= width {
                lines.append(label + String(repeating: " ", count: width - label.count - v.count) + v)
            } else {
                lines.append(Self.fit(label, width))
                lines.append(String(repeating: " ", count: width - v.count) + v)
            }
        }
        let rule = String(repeating: "-", count: width)
        centred(merchantName)
        if !merchantLocation.isEmpty { centred(merchantLocation) }
        lines.append(rule)
        row("TID", terminalID)
        row("MID", merchantID)
        let date = dateTime.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
        row("Date", date)
        lines.append(rule)
        centred(transactionType)
        row("Amount", amountText)
        lines.append(rule)
        row("Card", pan)
        row("Application", applicationLabel)
        row("AID", aid)
        row("Entry", entryMode)
        row("CVM", cvm)
        row("Approval code", approvalCode)
        row("Response", responseCode)
        row("STAN", stan)
        row("RRN", rrn)
        lines.append(rule)
        centred(result)
        if signatureLine {
            lines.append("")
            lines.append("")
            lines.append(String(repeating: "_", count: width))
            centred("Cardholder signature")
        } else if cvmVerifiedOnDevice && (result == "APPROVED" || result == "PARTIALLY APPROVED") {
            centred("Cardholder verified on device")
        }
        lines.append(rule)
        centred(copy == "customer" ? "CUSTOMER COPY" : "MERCHANT COPY")
        return lines.joined(separator: "\n") + "\n"
    }

    /// At most `width` characters (grapheme clusters): a longer text ends in "…" instead of being cut mid-character.
    static func fit(_ s: String, _ width: Int) -> String {
        let clean = String(s.map { $0.isNewline || $0 == "\t" ? " " : $0 })
        guard clean.count > width else { return clean }
        return String(clean.prefix(max(0, width - 1))) + "…"
    }
}
