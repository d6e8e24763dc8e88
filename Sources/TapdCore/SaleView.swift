import EMVKernel
// What the point of sale sees of a sale: its request, its status and the view the API answers with. The view is
// made from the journal's one record of the sale (SaleBook), never from a copy held elsewhere.
import Foundation
import Journal
import TLV

public struct SaleRequest: Codable, Sendable, Equatable {
    /// "sale" (EMV purchase, 9C = 00) is the only type so far.
    public var type: String?
    /// Minor units (cents): 1234 is 12.34.
    public var amount: Int64
    /// ISO 4217 alphabetic ("EUR") or numeric ("978"); the terminal's currency when left out.
    public var currency: String?
    public var reader: String?
    public var idempotencyKey: String

    public init(
        type: String? = "sale", amount: Int64, currency: String? = nil, reader: String? = nil, idempotencyKey: String
    ) {
        self.type = type
        self.amount = amount
        self.currency = currency
        self.reader = reader
        self.idempotencyKey = idempotencyKey
    }

    enum CodingKeys: String, CodingKey {
        case type, amount, currency, reader
        case idempotencyKey = "idempotency_key"
    }
}

/// A sale's status as the point of sale sees it.
public enum SaleStatus: String, Codable, Sendable, CaseIterable {
    case waitingForCard = "waiting_for_card"
    case cardDetected = "card_detected"
    case processing
    case seePhone = "see_phone"
    case presentAgain = "present_again"
    case online, approved
    case partiallyApproved = "partially_approved"
    case declined, failed
    case cancelled
    case timedOut = "timed_out"
    /// A void was asked for and its reversal waits for the acquirer; the sale still stands until it accepts.
    case voidPending = "void_pending"
    case voided

    public var isFinal: Bool {
        ![.waitingForCard, .cardDetected, .processing, .seePhone, .presentAgain, .online, .voidPending].contains(self)
    }
    /// Before the request goes online the sale can still be cancelled.
    public var cancellable: Bool {
        [.waitingForCard, .cardDetected, .processing, .seePhone, .presentAgain].contains(self)
    }
}

/// A reversal, advice or capture of a sale, as the API lists it.
public struct FollowUpView: Codable, Sendable, Equatable {
    public var id: Int64
    public var transactionID: String
    public var kind: String
    public var mti: String
    public var status: String
    public var transmitted: Bool
    public var rejections: Int
    public var tries: Int
    public var lastError: String?
    public var responseCode: String?
    public var resolution: String?
    public var createdAt: Date

    init(_ f: FollowUp) {
        id = f.id
        transactionID = f.transactionID
        kind = f.kind.rawValue
        mti = f.mti
        status = f.status.rawValue
        transmitted = f.transmitted
        rejections = f.rejections
        tries = f.tries
        lastError = f.lastError
        responseCode = f.responseCode
        resolution = f.resolution
        createdAt = f.createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case transactionID = "transaction_id"
        case kind, mti, status, transmitted, rejections, tries
        case lastError = "last_error"
        case responseCode = "response_code"
        case resolution
        case createdAt = "created_at"
    }
}

/// A sale as the point of sale sees it. Card data appears as the masked PAN only.
public struct TransactionView: Codable, Sendable, Equatable {
    public var id: String
    public var status: SaleStatus
    public var final: Bool
    public var amount: Int64
    /// The amount approved, when the acquirer approved less than asked (partial approval).
    public var approvedAmount: Int64?
    public var currency: String
    public var reader: String?
    public var maskedPAN: String?
    public var scheme: String?
    public var cvm: String?
    public var responseCode: String?
    public var approvalCode: String?
    public var stan: String?
    public var reason: String?
    /// The EMV Book A message to show now ("Present card", "See phone", "Approved", "Remove card", …).
    public var message: String?
    /// The sale's state in the journal (request_transmitted, approved, unanswered, voided, …).
    public var journalState: String
    /// Reversals, advices and captures of this sale and where each stands.
    public var followUps: [FollowUpView]
    public var idempotencyKey: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// What the kernel handed over (Outcome Parameter Set, UI Request Data, Error Indication, masked Data Record).
    public var kernelOutput: KernelOutputView?

    enum CodingKeys: String, CodingKey {
        case id, status, final, amount
        case approvedAmount = "approved_amount"
        case currency, reader
        case maskedPAN = "masked_pan"
        case scheme, cvm
        case responseCode = "response_code"
        case approvalCode = "approval_code"
        case stan, reason, message
        case journalState = "journal_state"
        case followUps = "follow_ups"
        case idempotencyKey = "idempotency_key"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case kernelOutput = "kernel_output"
    }

    /// The view of a journal record: the one place a sale's status is derived.
    public init(_ r: SaleRecord) {
        let reversal = r.followUp(.reversal)
        var status: SaleStatus
        var reason = r.reason
        switch r.state {
        case .waitingForCard: status = .waitingForCard
        case .cardDetected: status = .cardDetected
        case .processing: status = .processing
        case .seePhone: status = .seePhone
        case .presentAgain: status = .presentAgain
        case .requestPersisted, .requestTransmitted: status = .online
        case .approved, .partiallyApproved:
            status = r.state == .approved ? .approved : .partiallyApproved
            // A void stands only once the acquirer accepted its reversal; a refused one leaves the sale approved.
            switch reversal?.status {
            case .pending?:
                status = .voidPending
                reason = "void requested; the reversal waits for the acquirer"
            case .quarantined?:
                reason = "the acquirer refused the void (\(reversal?.lastError ?? "no reason")); the sale stands"
            case .resolved?: reason = "void resolved by an operator: \(reversal?.resolution ?? "")"
            default: break
            }
        case .approvedOffline: status = .approved
        case .declined: status = .declined
        case .failed, .unanswered: status = .failed
        case .cancelled: status = .cancelled
        case .timedOut: status = .timedOut
        case .voided: status = .voided
        }
        self.id = r.id
        self.status = status
        self.final = status.isFinal
        self.amount = r.amount
        self.approvedAmount = r.approvedAmount
        self.currency = ISOCodes.currency(r.currency) ?? String(r.currency)
        self.reader = r.reader
        self.maskedPAN = r.maskedPAN
        self.scheme = r.scheme
        self.cvm = r.cvm
        self.responseCode = r.responseCode
        self.approvalCode = r.approvalCode
        self.stan = r.stan
        self.reason = reason
        self.message = r.message
        self.journalState = r.state.rawValue
        self.followUps = r.followUps.map(FollowUpView.init)
        self.idempotencyKey = r.idempotencyKey
        self.createdAt = r.createdAt
        self.updatedAt = r.updatedAt
        self.kernelOutput = r.kernelOutput.flatMap {
            try? JSONDecoder().decode(KernelOutputView.self, from: Data($0.utf8))
        }
    }
}

/// How long an approved sale may be voided (`[daemon] void_window`).
public enum VoidWindow: Sendable, Equatable {
    /// Until local midnight of the sale's day.
    case sameDay
    case seconds(Double)

    public init?(_ text: String) {
        if text == "same_day" {
            self = .sameDay
            return
        }
        guard let unit = text.last, let n = Double(text.dropLast()), n > 0 else { return nil }
        switch unit {
        case "s": self = .seconds(n)
        case "m": self = .seconds(n * 60)
        case "h": self = .seconds(n * 3600)
        case "d": self = .seconds(n * 86_400)
        default: return nil
        }
    }

    /// Whether a sale made at `created` may still be voided at `now`.
    public func allows(created: Date, now: Date) -> Bool {
        switch self {
        case .seconds(let s): return now.timeIntervalSince(created) <= s
        case .sameDay:
            func day(_ d: Date) -> (Int32, Int32) {
                var t = time_t(d.timeIntervalSince1970.rounded(.down))
                var tm = tm()
                localtime_r(&t, &tm)
                return (tm.tm_year, tm.tm_yday)
            }
            return day(created) == day(now) && now >= created
        }
    }
}

/// Timestamps as the API writes them ("2026-11-26T13:07:27Z"), without Foundation's calendar and ICU.
public enum APITimestamp {
    public static func iso8601(_ d: Date) -> String { UTCTime.iso8601(d) }
}
