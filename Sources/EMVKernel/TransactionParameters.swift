// What the point of sale asks for, and the per-transaction terminal data derived from it (Book 3 Annex A:
// 9F02, 9F03, 9C, 9A, 9F21, 9F37).
import EMVCrypto
import TLV

public struct TransactionParameters: Sendable {
    public enum TransactionType: UInt8, Sendable, Codable {
        case purchase = 0x00
        case cash = 0x01
        case purchaseWithCashback = 0x09
        case refund = 0x20
    }

    /// Minor units of the transaction currency.
    public var amount: UInt64
    public var amountOther: UInt64 = 0
    public var type: TransactionType = .purchase
    /// The merchant forces the transaction online (a pre-authorisation needs the issuer): no kernel approves it
    /// offline (Book 3 Annex C, TVR byte 4 b4 "Merchant forced transaction online").
    public var forcedOnline = false
    public var date: EMVDate
    /// HHMMSS.
    public var time: (hour: Int, minute: Int, second: Int) = (12, 0, 0)
    /// 9F37: fresh random bytes per transaction (never zero, never reused), unless a replay fixes it.
    public var unpredictableNumber: [UInt8]
    /// True when the caller fixed the UN (tests, replays): Entry Point then keeps it at every kernel activation
    /// instead of drawing a fresh one.
    public var unpredictableNumberFixed: Bool

    public init(
        amount: UInt64, amountOther: UInt64 = 0, type: TransactionType = .purchase, forcedOnline: Bool = false,
        date: EMVDate, time: (hour: Int, minute: Int, second: Int) = (12, 0, 0), unpredictableNumber: [UInt8]? = nil
    ) {
        self.amount = amount
        self.amountOther = amountOther
        self.type = type
        self.forcedOnline = forcedOnline
        self.date = date
        self.time = time
        self.unpredictableNumber = unpredictableNumber ?? TransactionParameters.freshUnpredictableNumber()
        self.unpredictableNumberFixed = unpredictableNumber != nil
    }

    /// Book 4 §6.5.6: four random bytes; an all-zero value is drawn again.
    public static func freshUnpredictableNumber() -> [UInt8] {
        while true {
            let un = secureRandomBytes(4)
            if un != [0, 0, 0, 0] { return un }
        }
    }

    /// The transaction's own data objects.
    public var terminalData: TLVStore {
        var t = TLVStore()
        t[0x9F02] = BCD.encode(amount, bytes: 6) ?? [0x99, 0x99, 0x99, 0x99, 0x99, 0x99]
        t[0x9F03] = BCD.encode(amountOther, bytes: 6) ?? [0x99, 0x99, 0x99, 0x99, 0x99, 0x99]
        let binary = UInt32(clamping: amount)
        t[0x81] = [
            UInt8(binary >> 24 & 0xFF), UInt8(binary >> 16 & 0xFF), UInt8(binary >> 8 & 0xFF), UInt8(binary & 0xFF),
        ]
        t[0x9C] = [type.rawValue]
        t[0x9A] = date.yymmdd
        t[0x9F21] = [UInt64(time.hour), UInt64(time.minute), UInt64(time.second)].flatMap {
            BCD.encode($0 % 100, bytes: 1)!
        }
        t[0x9F37] = unpredictableNumber
        return t
    }
}
