// From a kernel's outcome to what the acquirer message carries. The outcome's data record holds card data, which is
// hostile input even after the kernel accepted it: every element used here is checked again for the format the
// message needs (EMV Book 3 Annex A formats; Book A 6.2 the Data Record sent online).

import EMVKernel
import ISO8583
import TLV

/// Turns a kernel's outcome into the card data of an acquirer message, checking every element's format again.
public enum OnlineRequest {
    /// The card data and DE 55 of an outcome that asks to go online (or of an offline approval, for its advice).
    public static func cardTransaction(from outcome: Outcome) throws -> CardTransaction {
        let d = outcome.transactionData
        guard let pan = CardIdentity.pan(from: d) else {
            throw TapdError.cardData("no PAN in the card data (5A or track 2)")
        }
        // 9F02 Amount, Authorised: n12 in 6 bytes; 5F2A Transaction Currency Code: n3 in 2 bytes.
        guard let amountBCD = d[0x9F02], amountBCD.count == 6, let amountDigits = BCD.digits(amountBCD),
            let amount = UInt64(amountDigits)
        else { throw TapdError.cardData("amount (9F02) missing or not n12") }
        guard let currencyBCD = d[0x5F2A], currencyBCD.count == 2, let cur = BCD.digits(currencyBCD),
            let currency = UInt16(cur), currency <= 999
        else { throw TapdError.cardData("currency (5F2A) missing or not n3") }
        return CardTransaction(
            pan: pan, track2: track2(d[0x57]), expiry: expiry(d[0x5F24]), panSequenceNumber: sequence(d[0x5F34]),
            amount: amount, currencyCode: currency, iccData: ICCData.build { d[$0] })
    }

    /// Track 2 Equivalent Data (57, b..19): digits, one D separator, F padding only at the end; else none is sent.
    static func track2(_ v: [UInt8]?) -> String? {
        guard let v, (1...19).contains(v.count) else { return nil }
        var s = Hex.encode(v).uppercased()
        if s.hasSuffix("F") { s.removeLast() }
        guard s.filter({ $0 == "D" }).count == 1, s.allSatisfy({ $0.isNumber || $0 == "D" }), s.count <= 37 else {
            return nil
        }
        return s
    }

    /// Application Expiration Date (5F24, n6 YYMMDD) → YYMM for DE 14.
    static func expiry(_ v: [UInt8]?) -> String? {
        guard let v, v.count == 3, let digits = BCD.digits(v), digits.count == 6,
            let month = Int(digits.dropFirst(2).prefix(2)), (1...12).contains(month)
        else { return nil }
        return String(digits.prefix(4))
    }

    /// PAN Sequence Number (5F34, n2) → DE 23 (n3).
    static func sequence(_ v: [UInt8]?) -> String? {
        guard let v, v.count == 1, let digits = BCD.digits(v) else { return nil }
        return "0" + digits
    }
}
