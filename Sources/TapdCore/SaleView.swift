// What the point of sale sees of a sale: its request, its status and the view the API answers with. The view is
// made from the journal's one record of the sale (SaleBook), never from a copy held elsewhere.

import EMVKernel
import Foundation
import Journal
import TLV

/// What the point of sale sends to start a sale (`POST /v1/transactions`).
public struct SaleRequest: Codable, Sendable, Equatable {
    /// "sale" (EMV purchase, 9C 00; the default), "refund" (9C 20, money back to the card) or "preauth" (a
    /// pre-authorisation: 9C 00 forced online, completed or released later).
    public var type: String?
    /// For a refund: the id of the sale it gives money back from (the refund may not exceed what is left of it);
    /// nil for a stand-alone refund. Not allowed with other types.
    public var originalID: String?
    /// Minor units (cents): 1234 is 12.34.
    public var amount: Int64
    /// ISO 4217 alphabetic ("EUR") or numeric ("978"); the terminal's currency when left out.
    public var currency: String?
    /// The reader to use (its exact name or a prefix); nil takes `[readers] preferred`, else the first idle reader.
    public var reader: String?
    /// 1–128 printable ASCII characters; a retry with the same key answers with the sale it already started.
    public var idempotencyKey: String

    /// A request for a sale of `amount` minor units; nil `currency` and `reader` leave the choice to the terminal.
    public init(
        type: String? = "sale", amount: Int64, currency: String? = nil, reader: String? = nil, idempotencyKey: String,
        originalID: String? = nil
    ) {
        self.type = type
        self.originalID = originalID
        self.amount = amount
        self.currency = currency
        self.reader = reader
        self.idempotencyKey = idempotencyKey
    }

    enum CodingKeys: String, CodingKey {
        case type, amount, currency, reader
        case idempotencyKey = "idempotency_key"
        case originalID = "original_id"
    }
}

/// A sale's status as the point of sale sees it.
public enum SaleStatus: String, Codable, Sendable, CaseIterable {
    /// Waiting for the customer to tap a card or phone.
    case waitingForCard = "waiting_for_card"
    /// A card or phone is in the field.
    case cardDetected = "card_detected"
    /// The kernel is reading and processing the card.
    case processing
    /// The phone asks the cardholder to act on it (e.g. unlock or confirm), then tap again.
    case seePhone = "see_phone"
    /// The read did not complete and the card must be presented again.
    case presentAgain = "present_again"
    /// `online`: the authorisation request is with the acquirer; `approved`: approved online or offline.
    case online, approved
    /// The acquirer approved less than the amount asked; `approved_amount` holds what it approved.
    case partiallyApproved = "partially_approved"
    /// `declined`: by the card, terminal or issuer; `failed`: could not complete (e.g. no valid answer, then reversed).
    case declined, failed
    /// Cancelled before the sale went online.
    case cancelled
    /// No card was presented within `[daemon] card_timeout`.
    case timedOut = "timed_out"
    /// A void was asked for and its reversal waits for the acquirer; the sale still stands until it accepts.
    case voidPending = "void_pending"
    /// Voided: the acquirer accepted the void's reversal (for a pre-authorisation: released).
    case voided
    /// A pre-authorisation completed: its completion (capture) is queued or delivered for `completed_amount`.
    case completed

    /// Whether the status is an end state (the API's `final`); `void_pending` is not, as the void may yet be refused.
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
    /// The follow-up's number in the store-and-forward queue (the ID of `/v1/saf/{id}/retry` and `/resolve`).
    public var id: Int64
    /// The id of the sale it belongs to.
    public var transactionID: String
    /// "reversal", "advice" or "capture".
    public var kind: String
    /// The ISO 8583 message type it was queued as ("0400", "0220", …).
    public var mti: String
    /// Where it stands: "pending", "delivered", "quarantined", "resolved" or "withdrawn".
    public var status: String
    /// Whether it may have reached the acquirer; if so it goes again as a repeat (0401, 0421, 0221).
    public var transmitted: Bool
    /// Answers that refused it; after `[acquirer] saf_max_attempts` of them it is quarantined.
    public var rejections: Int
    /// Failed tries, refused or unanswered (they drive the retry backoff).
    public var tries: Int
    /// Why the last try failed or why it was quarantined; nil when none failed or once it is delivered.
    public var lastError: String?
    /// The response code (DE 39) of the acquirer's last answer to it; nil until one came.
    public var responseCode: String?
    /// The reason an operator gave when resolving it by hand; nil otherwise.
    public var resolution: String?
    /// When it was queued.
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
    /// The sale's id, as in `GET /v1/transactions/{id}`.
    public var id: String
    /// "sale", "refund" or "preauth".
    public var type: String
    /// For a refund: the sale it gives money back from; nil for a stand-alone refund and for other types.
    public var originalID: String?
    /// For a completed pre-authorisation: the amount its completion captured, in minor units.
    public var completedAmount: Int64?
    /// The sale's status, derived from its journal state and its reversal.
    public var status: SaleStatus
    /// Whether `status` is final: the sale has ended.
    public var final: Bool
    /// The amount asked, in minor units.
    public var amount: Int64
    /// The amount approved, when the acquirer approved less than asked (partial approval).
    public var approvedAmount: Int64?
    /// ISO 4217 alphabetic code ("EUR"), or the numeric code when no alphabetic one is known.
    public var currency: String
    /// The reader the sale runs on; nil until one is taken for it.
    public var reader: String?
    /// The card's PAN, masked; nil until a card has been read.
    public var maskedPAN: String?
    /// The card scheme, from the kernel that processed it ("visa", "mastercard", …); nil until a card was read.
    public var scheme: String?
    /// The cardholder verification method ("no_cvm", "signature", "online_pin", "on_device_cvm"); nil if none.
    public var cvm: String?
    /// The acquirer's response code (DE 39); nil when no answer was received.
    public var responseCode: String?
    /// The approval code (DE 38), when the acquirer gave one.
    public var approvalCode: String?
    /// The System Trace Audit Number (DE 11) of the online request; nil when the sale did not go online.
    public var stan: String?
    /// Why the sale ended as it did, or why a void stands where it does, in plain words.
    public var reason: String?
    /// The EMV Book A message to show now ("Present card", "See phone", "Approved", "Remove card", …).
    public var message: String?
    /// The sale's state in the journal (request_transmitted, approved, unanswered, voided, …).
    public var journalState: String
    /// Reversals, advices and captures of this sale and where each stands.
    public var followUps: [FollowUpView]
    /// The idempotency key the point of sale started the sale with.
    public var idempotencyKey: String?
    /// When the sale was started.
    public var createdAt: Date
    /// When the sale last changed.
    public var updatedAt: Date
    /// What the kernel handed over (Outcome Parameter Set, UI Request Data, Error Indication, masked Data Record).
    public var kernelOutput: KernelOutputView?

    enum CodingKeys: String, CodingKey {
        case id, type, status, final, amount
        case originalID = "original_id"
        case completedAmount = "completed_amount"
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

    /// The view of a journal record: the one place a sale's status is derived. `withKernelOutput` false leaves the
    /// kernel's output out (decoding it is most of the cost of a view: events and history pages do without it).
    public init(_ r: SaleRecord, withKernelOutput: Bool = true) {
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
        case .completed: status = .completed
        }
        self.id = r.id
        self.type = r.kind.rawValue
        self.originalID = r.originalID
        self.completedAmount = r.completedAmount
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
        self.kernelOutput =
            withKernelOutput
            ? r.kernelOutput.flatMap { try? JSONDecoder().decode(KernelOutputView.self, from: Data($0.utf8)) } : nil
    }
}

/// How long an approved sale may be voided (`[daemon] void_window`).
public enum VoidWindow: Sendable, Equatable {
    /// Until local midnight of the sale's day.
    case sameDay
    /// A fixed time after the sale, in seconds.
    case seconds(Double)

    /// Parses `[daemon] void_window`: "same_day" or a positive number with s, m, h or d ("30m"); nil if invalid.
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
    /// The date in UTC to the second, e.g. "2026-11-26T13:07:27Z".
    public static func iso8601(_ d: Date) -> String { UTCTime.iso8601(d) }

    /// The date as an HTTP Date header writes it (RFC 9110 IMF-fixdate), e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
    public static func httpDate(_ d: Date) -> String { UTCTime.httpDate(d) }
}
