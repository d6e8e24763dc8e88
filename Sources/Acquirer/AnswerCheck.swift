// What an answer means, checked against the request it answers (acquirer-link notes §5): the response MTI, the same
// STAN and terminal, the same currency and amount — or, with DE 39 10, a lower amount the issuer approved (partial
// approval). Anything else is not an answer to this request: the sale treats it as no answer and reverses.
import Foundation
import ISO8583

/// What an authorisation or financial answer means once checked against its request.
public enum AnswerVerdict: Sendable, Equatable {
    /// A valid answer approving the full amount requested.
    case approved(AuthorizationResponse)
    /// DE 39 10 with a lower DE 4: only `amount` (minor units) was approved.
    case partiallyApproved(AuthorizationResponse, amount: UInt64)
    /// A valid answer that does not approve (its DE 39 is not an approval code).
    case declined(AuthorizationResponse)
    /// Not a valid answer to this request (why, in words).
    case invalid(String)
}

/// How a store-and-forward answer counts.
public enum DeliveryVerdict: Sendable, Equatable {
    /// The acquirer took it: delivered.
    case accepted(responseCode: String)
    /// "Try again later" (system malfunction, issuer unavailable): not counted as a refusal.
    case retryLater(responseCode: String)
    /// Refused: counted, retried with backoff, quarantined after too many.
    case rejected(responseCode: String?, why: String)
}

/// Checks an acquirer's answer against the request it answers: response MTI, STAN, terminal, currency and amount.
public enum AnswerCheck {
    /// The answer's identity against its request: response MTI, DE 11, DE 41, DE 49 (when echoed).
    static func identityMismatch(_ answer: ISOMessage, _ request: ISOMessage) -> String? {
        if let expected = request.responseMTI, answer.mti != expected {
            return "answer MTI \(answer.mti) for a \(request.mti) request (expected \(expected))"
        }
        if answer[11] != request[11] {
            return "answer STAN \(answer[11] ?? "none") for request STAN \(request[11] ?? "none")"
        }
        if answer[41] != request[41] { return "answer for another terminal (DE 41 \(answer[41] ?? "none"))" }
        if let c = answer[49], let asked = request[49], c != asked {
            return "answer currency \(c) for a request in \(asked)"
        }
        return nil
    }

    /// An authorisation or financial answer.
    public static func authorization(_ answer: ISOMessage, for request: ISOMessage) -> AnswerVerdict {
        if let why = identityMismatch(answer, request) { return .invalid(why) }
        let response: AuthorizationResponse
        do { response = try AuthorizationResponse(answer) } catch { return .invalid("\(error)") }
        guard let askedText = request[4], let asked = UInt64(askedText) else {
            return .invalid("the request carries no amount")
        }
        var amount = asked
        // A partial approval must say how much it approves; without DE 4 it is not an answer to act on.
        if response.responseCode == "10", answer[4] == nil {
            return .invalid("partial approval (39 = 10) without an amount (DE 4)")
        }
        if let text = answer[4] {
            guard let a = UInt64(text) else { return .invalid("answer amount \(text) is not a number") }
            amount = a
        }
        guard response.isApproved else {
            // A decline's amount is not checked beyond being a number: nothing is approved.
            return .declined(response)
        }
        if amount == asked { return .approved(response) }
        if response.responseCode == "10", amount > 0, amount < asked {
            return .partiallyApproved(response, amount: amount)
        }
        return .invalid("answer approves \(amount) for a request of \(asked)")
    }

    /// A reversal, advice or capture answer.
    public static func delivery(_ answer: ISOMessage, for request: ISOMessage, accepted: [String], retry: [String])
        -> DeliveryVerdict
    {
        if let why = identityMismatch(answer, request) { return .rejected(responseCode: answer[39], why: why) }
        guard let rc = answer[39], rc.count == 2 else {
            return .rejected(responseCode: nil, why: "answer without DE 39")
        }
        if retry.contains(rc) { return .retryLater(responseCode: rc) }
        if accepted.contains(rc) { return .accepted(responseCode: rc) }
        return .rejected(responseCode: rc, why: "refused with response code \(rc)")
    }
}
