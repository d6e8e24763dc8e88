// The acquirer as tapd's sale book sees it: messages built per profile (request, reversal, advice, capture), sent
// over the link with sign-on when configured, and answers checked against their requests. It keeps the link alive
// with echoes. It writes no sale state: the SaleBook (TapdCore) records what it reports.
import Foundation
import ISO8583

/// The acquirer as the sale book uses it: builds requests, reversals, advices and captures from the configuration,
/// sends them over the link (signing on first when configured) and keeps the link alive with echoes.
public actor AcquirerService {
    /// The connection to the acquirer that every message goes over.
    public let link: AcquirerLink
    /// The `[acquirer]` configuration, the same as the link's.
    public nonisolated let configuration: AcquirerConfiguration
    /// The next STAN (from the journal's counter, persisted before use).
    let nextSTAN: @Sendable () async throws -> String

    /// A service over `link`; `stan` returns the next STAN (DE 11), persisted before it is handed out, and may throw.
    public init(link: AcquirerLink, stan: @escaping @Sendable () async throws -> String) {
        self.link = link
        self.configuration = link.configuration
        self.nextSTAN = stan
    }

    /// The link's ISO 8583 codec (the configured profile).
    public nonisolated var codec: ISO8583Codec { link.codec }
    /// Dual-message mode: authorisations (0100) now, captures (0220) later.
    public nonisolated var dualMessage: Bool { configuration.requestMTI == "0100" }

    // MARK: Messages

    /// What an online request is for: it decides the message type and the processing code (DE 3).
    public enum Purpose: String, Sendable {
        /// A purchase: `request_mti` (0200, or 0100 captured later), processing code 00.
        case sale
        /// Money back to the card: `refund_mti`, processing code 20.
        case refund
        /// A pre-authorisation: always 0100 (completed by a 0220, or released by a reversal), processing code 00.
        case preauthorisation
    }

    /// The message type a request for `purpose` goes as.
    public nonisolated func mti(for purpose: Purpose) -> String {
        switch purpose {
        case .sale: configuration.requestMTI
        case .refund: configuration.refundMTI
        case .preauthorisation: "0100"
        }
    }

    /// Whether an approval of a request for `purpose` is captured at once by a queued completion (0220): an 0100
    /// sale or refund is; a pre-authorisation is completed later, by the merchant.
    public nonisolated func capturesOnApproval(_ purpose: Purpose) -> Bool {
        purpose != .preauthorisation && mti(for: purpose) == "0100"
    }

    /// The online request for a card transaction: its MTI and processing code by `purpose` (ISO 8583:1987 DE 3
    /// positions 1–2: 00 goods and services, 20 returns).
    public nonisolated func request(
        _ card: CardTransaction, purpose: Purpose = .sale, stan: String, at now: Date = Date()
    ) -> ISOMessage {
        var card = card
        card.processingCode = purpose == .refund ? "200000" : "000000"
        return Messages.request(
            mti(for: purpose), card, terminal: configuration.identity, stan: stan,
            rrn: Messages.retrievalReferenceNumber(stan: stan, at: now), at: now)
    }

    /// The reversal of `original` (0400 or 0420 by configuration).
    public nonisolated func reversal(of original: ISOMessage, approvalCode: String? = nil) -> ISOMessage {
        Messages.reversal(of: original, mti: configuration.reversalMTI, approvalCode: approvalCode)
    }

    /// The advice of an offline approval: 0220 in single-message mode, 0120 (authorisation advice) in dual.
    public nonisolated func advice(_ card: CardTransaction, stan: String, at now: Date = Date()) -> ISOMessage {
        Messages.advice(
            card, mti: dualMessage ? "0120" : "0220", terminal: configuration.identity, stan: stan,
            rrn: Messages.retrievalReferenceNumber(stan: stan, at: now), at: now)
    }

    /// The capture (0220 completion) of an approved authorisation, for `amount`.
    public nonisolated func capture(
        of authorisation: ISOMessage, amount: UInt64, approvalCode: String?, stan: String,
        at now: Date = Date()
    ) -> ISOMessage {
        Messages.completion(of: authorisation, amount: amount, approvalCode: approvalCode, stan: stan, at: now)
    }

    // MARK: Sending

    /// Sends a message (signing on first when configured) and reports what happened; `beforeTransmit` runs just
    /// before the first byte is written.
    public func send(_ message: ISOMessage, beforeTransmit: (@Sendable () async throws -> Void)? = nil) async
        -> ExchangeOutcome
    {
        await signOnIfNeeded()
        return await link.exchange(message, beforeTransmit: beforeTransmit)
    }

    /// Sends the request `prepare` builds once the connection is up (signing on first when configured); `prepare`
    /// numbers it and records it as transmitted just before the first byte. Returns that request, nil when `prepare`
    /// did not run or failed, with what happened.
    public func send(prepare: @Sendable () async throws -> ISOMessage) async -> (
        request: ISOMessage?, outcome: ExchangeOutcome
    ) {
        await signOnIfNeeded()
        return await link.exchange(prepare: prepare)
    }

    /// How a store-and-forward answer counts under this acquirer's configuration.
    public nonisolated func classify(_ answer: ISOMessage, for request: ISOMessage) -> DeliveryVerdict {
        AnswerCheck.delivery(
            answer, for: request, accepted: configuration.safAcceptedResponseCodes,
            retry: configuration.safRetryResponseCodes)
    }

    /// 0800 echo test (DE 70 = 301): true when the acquirer answers 0810 with 00. A failed echo closes the
    /// connection so the next request starts on a fresh one (a dead socket is found while idle, not by a sale).
    public func echo(now: Date = Date()) async -> Bool {
        guard let stan = try? await nextSTAN() else { return false }
        let m = Messages.networkManagement(code: "301", terminal: configuration.identity, stan: stan, at: now)
        do {
            let answer = try await link.exchangeOrThrow(
                m, timeout: .milliseconds(Int64(configuration.responseTimeout * 1000)))
            return answer.mti == "0810" && answer[39] == "00"
        } catch {
            await link.close()
            return false
        }
    }

    /// On a persistent connection: an echo whenever the link has been idle for `echoInterval`; `answered` runs
    /// after each echo the acquirer answered (the sale book then delivers its queue). Runs until cancelled.
    public func keepAlive(answered: @escaping @Sendable () async -> Void) async {
        guard configuration.persistentConnection, configuration.echoInterval > 0 else { return }
        let interval = Duration.milliseconds(Int64(configuration.echoInterval * 1000))
        while !Task.isCancelled {
            try? await Task.sleep(for: interval / 4)
            guard ContinuousClock.now - (await link.lastActivity) >= interval else { continue }
            if await echo() { await answered() }
        }
    }

    /// Sign-on (0800, DE 70 = 001) once per kept connection, when configured.
    func signOnIfNeeded(now: Date = Date()) async {
        guard configuration.signOn, configuration.persistentConnection, !(await link.signedOn) else { return }
        guard let stan = try? await nextSTAN() else { return }
        let m = Messages.networkManagement(code: "001", terminal: configuration.identity, stan: stan, at: now)
        if let a = try? await link.exchangeOrThrow(m), a[39] == "00" { await link.markSignedOn() }
    }
}
