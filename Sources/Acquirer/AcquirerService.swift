// The online leg with its safety rules (../shared/notes/acquirer-link.md §5, §6): the request is persisted before
// it is sent; a request without a valid answer is reversed (same STAN, original data in DE 90) through the
// persistent store-and-forward queue; on start every request that may have gone out unanswered gets exactly one
// reversal; offline approvals are delivered as advices. Nothing goes twice except as a repeat MTI.
import Foundation
import ISO8583
import Journal

public struct AuthorizationResult: Sendable, Equatable {
    public enum Kind: String, Sendable { case approved, declined, unanswered, failed }
    public var kind: Kind
    public var responseCode: String?
    public var approvalCode: String?
    /// Issuer authentication data (tag 91) and scripts from the answer's DE 55.
    public var icc: ICCData.Response?
    public var stan: String?
    public var rrn: String?
    public var reason: String?
}

public actor AcquirerService {
    public let link: AcquirerLink
    public let journal: Journal
    let config: AcquirerConfiguration
    /// The drain in progress; drains run one after the other, never side by side.
    private var currentDrain: Task<Int, Never>?

    public init(link: AcquirerLink, journal: Journal) {
        self.link = link
        self.journal = journal
        self.config = link.configuration
    }

    /// Sends the online request for `transactionID` (which must be in state card_read) and returns its result.
    /// An unanswered or unreadable answer queues a reversal and reports `unanswered`.
    public func authorize(transactionID: String, card: CardTransaction, now: Date = Date()) async -> AuthorizationResult {
        await signOnIfNeeded(now: now)
        if config.drainBeforeOnline { _ = await deliverQueue(now: now) }
        let stan: String, rrn: String, request: ISOMessage
        do {
            stan = try journal.nextSTAN()
            rrn = Messages.retrievalReferenceNumber(stan: stan, at: now)
            request = Messages.request(config.requestMTI, card, terminal: config.identity, stan: stan, rrn: rrn, at: now)
            let packed = try link.codec.pack(request)
            // Persist first: from here on a crash leaves what is needed to reverse.
            try journal.persistRequest(transactionID, mti: request.mti, stan: stan, rrn: rrn, message: packed, now: now)
        } catch {
            try? journal.update(transactionID, to: .failed)
            return AuthorizationResult(kind: .failed, reason: "the request could not be prepared: \(error)")
        }
        do {
            let answer: ISOMessage
            do {
                answer = try await link.exchange(request)
            } catch let e as LinkError {
                switch e {
                case .connectFailed, .tls, .invalidMessage:
                    // The request never left this terminal: nothing to reverse.
                    try? journal.update(transactionID, to: .failed)
                    return AuthorizationResult(kind: .failed, stan: stan, rrn: rrn, reason: "\(e)")
                case .timeout, .connectionLost:
                    try? journal.update(transactionID, to: .sent)
                    throw e
                }
            }
            try journal.update(transactionID, to: .sent, now: now)
            let response: AuthorizationResponse
            do { response = try AuthorizationResponse(answer) } catch {
                try? journal.audit(actor: "acquirer", event: "invalid answer", details: "\(error)")
                try queueReversal(transactionID, original: request, now: now)
                Task { _ = await self.deliverQueue() }
                return AuthorizationResult(kind: .unanswered, stan: stan, rrn: rrn, reason: "invalid answer, reversal queued: \(error)")
            }
            try journal.update(transactionID, to: .answered, responseCode: response.responseCode, approvalCode: response.approvalCode)
            return AuthorizationResult(kind: response.isApproved ? .approved : .declined, responseCode: response.responseCode,
                                       approvalCode: response.approvalCode, icc: response.icc, stan: stan, rrn: rrn)
        } catch {
            try? journal.update(transactionID, to: .timedOut)
            try? queueReversal(transactionID, original: request, now: now)
            Task { _ = await self.deliverQueue() }
            return AuthorizationResult(kind: .unanswered, stan: stan, rrn: rrn, reason: "\(error); reversal queued")
        }
    }

    /// 0800 echo test (DE 70 = 301): true when the acquirer answers 0810 with 00. A failed echo closes the
    /// connection so the next request starts on a fresh one (a dead socket is found while idle, not by a sale).
    public func echo(now: Date = Date()) async -> Bool {
        guard let stan = try? journal.nextSTAN() else { return false }
        let m = Messages.networkManagement(code: "301", terminal: config.identity, stan: stan, at: now)
        do {
            let answer = try await link.exchange(m, timeout: .milliseconds(Int64(config.responseTimeout * 1000)))
            return answer.mti == "0810" && answer[39] == "00"
        } catch {
            await link.close()
            return false
        }
    }

    /// On a persistent connection: an echo whenever the link has been idle for `echoInterval`, and a drain of
    /// the store-and-forward queue when the acquirer answers. Runs until cancelled.
    public func keepAlive() async {
        guard config.persistentConnection, config.echoInterval > 0 else { return }
        let interval = Duration.milliseconds(Int64(config.echoInterval * 1000))
        while !Task.isCancelled {
            try? await Task.sleep(for: interval / 4)
            guard ContinuousClock.now - (await link.lastActivity) >= interval else { continue }
            if await echo(), (try? journal.safDepth()) ?? 0 > 0 { _ = await deliverQueue() }
        }
    }

    /// Voids an answered transaction: a reversal through the queue.
    public func void(transactionID: String, now: Date = Date()) async throws {
        guard let bytes = try journal.request(of: transactionID) else { throw LinkError.invalidMessage("no stored request for \(transactionID)") }
        let original = try link.codec.unpack(bytes)
        let approval = try journal.transaction(transactionID)?.approvalCode
        try queueReversal(transactionID, original: original, approvalCode: approval, now: now)
        _ = await deliverQueue(now: now)
    }

    /// Queues the advice for an offline approval (DE 39 Y1).
    public func queueAdvice(transactionID: String, card: CardTransaction, now: Date = Date()) throws {
        let stan = try journal.nextSTAN()
        let advice = Messages.advice(card, terminal: config.identity, stan: stan, rrn: Messages.retrievalReferenceNumber(stan: stan, at: now), at: now)
        try journal.enqueue(.advice, transactionID: transactionID, mti: advice.mti, message: try link.codec.pack(advice),
                            expiresAfter: config.safExpiry, now: now)
    }

    private func queueReversal(_ id: String, original: ISOMessage, approvalCode: String? = nil, now: Date) throws {
        let reversal = Messages.reversal(of: original, mti: config.reversalMTI, approvalCode: approvalCode)
        try journal.enqueue(.reversal, transactionID: id, mti: reversal.mti, message: try link.codec.pack(reversal),
                            expiresAfter: config.safExpiry, now: now)
        try journal.audit(actor: "acquirer", event: "reversal queued", details: "STAN \(original[11] ?? "?")")
    }

    /// On start: every request that may have reached the acquirer without a recorded answer is reversed, once.
    @discardableResult
    public func recover(now: Date = Date()) throws -> Int {
        var n = 0
        for t in try journal.unresolved() {
            guard let bytes = try journal.request(of: t.id), let original = try? link.codec.unpack(bytes) else {
                try journal.audit(actor: "recovery", event: "unresolved transaction without a stored request", details: t.id)
                continue
            }
            try queueReversal(t.id, original: original, now: now)
            n += 1
        }
        return n
    }

    /// Delivers the store-and-forward queue in order until it is empty or the acquirer does not answer (then the
    /// head waits for the next run). Expired and too-often-rejected entries are quarantined. Returns how many
    /// were delivered.
    public func deliverQueue(now: Date = Date()) async -> Int {
        while let running = currentDrain { _ = await running.value }
        // The task runs on this actor once this function suspends, and clears the handle itself when done, so a
        // waiter never sees a finished drain as running.
        let t = Task { () -> Int in
            let n = await self.drain(now: now)
            self.currentDrain = nil
            return n
        }
        currentDrain = t
        return await t.value
    }

    /// Sign-on (0800, DE 70 = 001) once per connection, when configured.
    func signOnIfNeeded(now: Date) async {
        guard config.signOn, !(await link.signedOn) else { return }
        guard let stan = try? journal.nextSTAN() else { return }
        let m = Messages.networkManagement(code: "001", terminal: config.identity, stan: stan, at: now)
        if let a = try? await link.exchange(m), a[39] == "00" { await link.markSignedOn() }
    }

    private func drain(now: Date) async -> Int {
        await signOnIfNeeded(now: now)
        var delivered = 0
        while let head = try? journal.safHead() {
            // Not due yet (a failed attempt set its next time): the head waits, and so does everything behind it.
            if head.nextAttemptAt > now { break }
            if head.expiresAt < now {
                try? journal.safQuarantine(head.id, reason: "expired after \(head.attempts) rejected attempts (\(head.lastError ?? "no answer"))")
                continue
            }
            if head.attempts >= config.safMaxAttempts {
                try? journal.safQuarantine(head.id, reason: "rejected \(head.attempts) times (\(head.lastError ?? ""))")
                continue
            }
            guard var message = try? link.codec.unpack(head.message) else {
                try? journal.safQuarantine(head.id, reason: "stored message cannot be decoded")
                continue
            }
            // After the first transmission the message goes as a repeat (origin digit 1: 0401, 0421, 0221).
            if head.lastError != nil { message = Messages.repeatMTI(message) }
            let retryAt = now.addingTimeInterval(config.safRetryDelay(afterTries: head.tries + 1))
            do {
                let answer = try await link.exchange(message)
                let rc = answer[39] ?? ""
                if config.safRetryResponseCodes.contains(rc) {
                    try? journal.safAttemptFailed(head.id, error: "answered \(rc) (try again later)", counted: false, retryAt: retryAt)
                    break
                }
                if rc.isEmpty {
                    try? journal.safAttemptFailed(head.id, error: "answer without DE 39", counted: true, retryAt: retryAt)
                    break
                }
                try? journal.safDelivered(head.id)
                try? journal.audit(actor: "acquirer", event: "\(head.kind.rawValue) delivered", details: "MTI \(message.mti) answered \(rc)")
                delivered += 1
            } catch {
                try? journal.safAttemptFailed(head.id, error: "\(error)", counted: false, retryAt: retryAt)
                break
            }
        }
        return delivered
    }
}
