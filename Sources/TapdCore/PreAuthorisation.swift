// Pre-authorisations as the SaleBook runs them (hotels, car hire, fuel): the 0100 goes online like any request; an
// approved one stays open until the merchant completes it (a 0220 completion for the final amount, queued with the
// state change in one journal transaction and delivered by store-and-forward) or releases it (its reversal, like a
// void), or until it expires and tapd releases it.
//   approved (open) → completed (+ completion queued) | voided (reversal accepted: released or expired)

import Acquirer
import FaultInjection
import Foundation
import ISO8583
import Journal

extension SaleBook {
    /// Completes an open pre-authorisation for `amount` (at most the authorised amount plus `tolerancePercent`):
    /// the state, the amount and the completion (0220) in one journal transaction, then delivered. A repeated call
    /// with the same amount answers with the completed transaction; another amount is a conflict.
    public func complete(_ id: String, amount: Int64, tolerancePercent: Double, requester: String) async throws
        -> TransactionView
    {
        guard let r = try await journal.sale(id) else { throw TapdError.notFound(id) }
        guard r.kind == .preauth else {
            throw TapdError.conflict("\(id) is a \(r.kind.rawValue), not a pre-authorisation; only those are completed")
        }
        if r.state == .completed {
            guard r.completedAmount == amount else {
                throw TapdError.conflict(
                    "\(id) was already completed for \(r.completedAmount ?? 0); a completion is made once")
            }
            return TransactionView(r)
        }
        guard r.state == .approved || r.state == .partiallyApproved else {
            throw TapdError.conflict(
                "only an approved pre-authorisation can be completed; \(id) is \(r.state.rawValue)")
        }
        if let reversal = r.followUp(.reversal), reversal.status == .pending || reversal.status == .quarantined {
            throw TapdError.conflict("\(id) is being released (its reversal is queued); it cannot be completed")
        }
        let authorised = r.approvedAmount ?? r.amount
        // Integer arithmetic on minor units: the tolerance in basis points, the ceiling rounded down.
        let basisPoints = Int64((tolerancePercent * 100).rounded())
        let ceiling = authorised + authorised * basisPoints / 10_000
        guard amount >= 1 else { throw TapdError.invalid("the completion must be at least 1 minor unit") }
        // Above what the card holder's bank authorised: a conflict with the pre-authorisation, not a bad request.
        guard amount <= ceiling else {
            throw TapdError.conflict(
                "the completion must be 1–\(ceiling) minor units (authorised \(authorised)"
                    + (tolerancePercent > 0 ? " plus \(tolerancePercent)%)" : ")"))
        }
        guard let acquirer else { throw TapdError.unavailable("no acquirer is configured") }
        guard let stored = try await journal.request(of: id) else {
            throw TapdError.unavailable("the stored authorisation of \(id) is gone (retention); it cannot be completed")
        }
        let authorisation: ISOMessage
        do { authorisation = try acquirer.codec.unpack(stored) } catch {
            throw TapdError.unavailable("the stored authorisation of \(id) cannot be read: \(error)")
        }
        var change = SaleChange(.completed)
        change.completedAmount = amount
        change.reason = "completed for \(amount)"
        change.enqueue = [
            try await captureOf(authorisation, amount: UInt64(amount), approvalCode: r.approvalCode, acquirer)
        ]
        change.audit = (requester, "pre-authorisation completed", "\(id) \(amount) of \(authorised)")
        FaultPoint.hit("completion_before_record")
        let view: TransactionView
        do { view = try await commit(id, change) } catch JournalError.invalidTransition {
            // Completed or released meanwhile by another caller: that one stands.
            guard let now = try await journal.sale(id) else { throw TapdError.notFound(id) }
            if now.state == .completed, now.completedAmount == amount { return TransactionView(now) }
            throw TapdError.conflict("\(id) changed meanwhile; it is \(now.state.rawValue)")
        }
        FaultPoint.hit("completion_recorded")
        kickDrain()
        return try await self.view(id) ?? view
    }

    /// Open pre-authorisations (approved, not completed, not being released), oldest first.
    public func openPreauthorisations() async throws -> [TransactionView] {
        try await journal.sales(kind: .preauth, in: [.approved, .partiallyApproved]).filter {
            $0.followUp(.reversal)?.status != .pending
        }.map { TransactionView($0, withKernelOutput: false) }
    }

    /// Releases every open pre-authorisation older than `after` seconds (their reversals queued, as a void's);
    /// returns how many. A release the acquirer refuses stays in the queue for an operator.
    @discardableResult
    public func expirePreauthorisations(after: TimeInterval, now: Date = Date()) async -> Int {
        guard acquirer != nil, let open = try? await openPreauthorisations() else { return 0 }
        var n = 0
        for p in open
        where now.timeIntervalSince(p.createdAt) > after
            && p.followUps.allSatisfy({ $0.kind != FollowUpKind.reversal.rawValue })
        {
            do {
                _ = try await void(p.id, requester: "expiry", reason: "expired: released after \(Int(after / 3600)) h")
                n += 1
            } catch {
                logger.warning(
                    "a pre-authorisation could not be released", metadata: ["id": "\(p.id)", "error": "\(error)"])
            }
        }
        return n
    }
}
