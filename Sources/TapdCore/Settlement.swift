// End of day, as the SaleBook runs it: store-and-forward drained first (a batch holds only transactions whose money is
// settled with the acquirer), the batch taken and counted in one journal transaction, then the reconciliation request
// (0500). In balance (00) the batch is closed; out of balance (the profile's codes, commonly 95) each financial
// transaction of the batch goes up as a batch upload (0320) and a second 0500 follows, as host protocols do. Every
// step is written before the next message, and "transmitted" before its first byte: a close interrupted anywhere
// (SIGKILL, no answer) resumes where it stood — a message that may have left goes again as a repeat (0501, 0321).

import Acquirer
import FaultInjection
import Foundation
import ISO8583
import Journal

/// A batch as the API shows it.
public struct BatchView: Codable, Sendable, Equatable {
    /// The batch number.
    public var id: Int
    /// "closing", "uploading", "reconciling", "closed" or "out_of_balance".
    public var state: String
    /// When the close began (its cut-off).
    public var openedAt: Date
    /// When it ended; nil while under way.
    public var closedAt: Date?
    /// Its totals as sent to the acquirer.
    public var totals: BatchTotals
    /// DE 97 as sent: debits less credits after reversals, in minor units (negative: refunds outweigh sales).
    public var net: Int64
    /// The acquirer's last answer to a reconciliation request.
    public var responseCode: String?
    /// Transactions sent by batch upload so far.
    public var uploaded: Int
    /// Why the last try failed, when it did.
    public var lastError: String?

    init(_ b: BatchRecord) {
        id = b.id
        state = b.state.rawValue
        openedAt = b.openedAt
        closedAt = b.closedAt
        totals = b.totals
        net = b.totals.net
        responseCode = b.responseCode
        uploaded = b.uploaded
        lastError = b.lastError
    }

    enum CodingKeys: String, CodingKey {
        case id, state
        case openedAt = "opened_at"
        case closedAt = "closed_at"
        case totals, net
        case responseCode = "response_code"
        case uploaded
        case lastError = "last_error"
    }
}

extension SaleBook {
    /// Closes the open batch (or finishes the close under way): drains store-and-forward, takes and counts the
    /// batch, reconciles it with the acquirer, uploads it when out of balance. Returns the batch as it stands; a
    /// close the acquirer did not answer stays under way and resumes at the next call (or the daemon's tick).
    public func closeBatch(requester: String) async throws -> BatchView {
        guard let acquirer else { throw TapdError.unavailable("no acquirer is configured: there is nothing to settle") }
        // One close at a time: a caller arriving during a close gets that close's result (never a second batch).
        if let running = currentClose { return try await running.value }
        let task = Task { () throws -> BatchView in
            try await self.runClose(acquirer: acquirer, requester: requester, resumeOnly: false)
        }
        currentClose = task
        defer { if currentClose == task { currentClose = nil } }
        return try await task.value
    }

    /// Resumes a close under way (daemon start, the minute tick); never starts a new batch.
    public func resumeBatchClose() async {
        guard let acquirer, currentClose == nil, (try? await journal.batchInProgress()) != nil else { return }
        let task = Task { () throws -> BatchView in
            try await self.runClose(acquirer: acquirer, requester: "resume", resumeOnly: true)
        }
        currentClose = task
        defer { if currentClose == task { currentClose = nil } }
        _ = try? await task.value
    }

    /// The last batches, newest first.
    public func batches(limit: Int = 20) async throws -> [BatchView] {
        try await journal.batches(limit: limit).map(BatchView.init)
    }

    private func runClose(acquirer: AcquirerService, requester: String, resumeOnly: Bool) async throws -> BatchView {
        var batch: BatchRecord
        if let open = try await journal.batchInProgress() {
            batch = open
        } else if resumeOnly, let last = try await journal.batches(limit: 1).first {
            return BatchView(last)
        } else {
            _ = await deliverQueue()
            let counts = try await journal.queueCounts()
            if counts.pending > 0 {
                throw TapdError.conflict(
                    "\(counts.pending) message(s) still wait for the acquirer (`tapctl saf list`); the batch closes once they are delivered"
                )
            }
            let reversals: BatchReversals = acquirer.configuration.settlementReversals == "netted" ? .netted : .separate
            batch = try await journal.startBatch(reversals: reversals)
            try? await journal.audit(actor: requester, event: "settle", details: "batch \(batch.id)")
        }
        FaultPoint.hit("batch_started")
        let cfg = acquirer.configuration
        // What a batch upload sends, read once per close (the batch no longer changes).
        var uploadList: [SaleRecord]? = nil
        while batch.state.inProgress {
            switch batch.state {
            case .closing, .reconciling:
                let code =
                    batch.state == .closing ? cfg.settlementProcessingCode : cfg.settlementAfterUploadProcessingCode
                let current = batch
                guard
                    let answer = try await sendBatchMessage(
                        batch, acquirer: acquirer,
                        build: { stan in
                            Messages.reconciliation(
                                Self.isoTotals(current.totals), batch: current.id, batchField: cfg.settlementBatchField,
                                processingCode: code, terminal: cfg.identity, stan: stan)
                        })
                else { return BatchView(try await journal.batch(batch.id) ?? batch) }
                let rc = answer[39] ?? "??"
                let next: BatchState
                if rc == "00" {
                    next = .closed
                } else if batch.state == .closing, cfg.settlementOutOfBalanceCodes.contains(rc) {
                    if uploadList == nil { uploadList = try await journal.batchUploadTransactions(batch.id) }
                    next = uploadList?.isEmpty ?? true ? .reconciling : .uploading
                } else if batch.state == .reconciling, cfg.settlementOutOfBalanceCodes.contains(rc) {
                    next = .outOfBalance
                } else {
                    // Not an answer about the balance (e.g. 96 system error): the close stays owed, and the next try is
                    // a new request (a repeat of an answered one would only get the same answer).
                    let tries = try await journal.batchTryFailed(
                        batch.id, error: "the acquirer answered \(rc)", answered: true)
                    closeAlert(batch.id, tries: tries, why: "the acquirer answered \(rc)")
                    return BatchView(try await journal.batch(batch.id) ?? batch)
                }
                batch = try await journal.batchReconciled(batch.id, responseCode: rc, next: next)
                FaultPoint.hit("batch_answered")
                if next == .outOfBalance {
                    events.publish(
                        .moneyAlert, status: "out_of_balance",
                        detail:
                            "batch \(batch.id) is still out of balance after its upload (response \(rc)): take it up with the acquirer"
                    )
                }
            case .uploading:
                if uploadList == nil { uploadList = try await journal.batchUploadTransactions(batch.id) }
                let members = uploadList ?? []
                guard batch.uploaded < members.count else {
                    batch = try await journal.batchUploaded(batch.id, total: members.count)
                    continue
                }
                let t = members[batch.uploaded]
                let original = try await uploadOriginal(t, acquirer: acquirer)
                let current = batch
                guard
                    let answer = try await sendBatchMessage(
                        batch, acquirer: acquirer,
                        build: { stan in
                            Messages.batchUpload(
                                original: original, amount: t.completedAmount ?? t.approvedAmount ?? t.amount,
                                approvalCode: t.approvalCode, responseCode: t.responseCode ?? "00", batch: current.id,
                                batchField: cfg.settlementBatchField, stan: stan)
                        })
                else { return BatchView(try await journal.batch(batch.id) ?? batch) }
                guard answer[39] == "00" else {
                    let why = "the acquirer refused the upload of \(t.id) (\(answer[39] ?? "no code"))"
                    let tries = try await journal.batchTryFailed(batch.id, error: why, answered: true)
                    closeAlert(batch.id, tries: tries, why: why)
                    return BatchView(try await journal.batch(batch.id) ?? batch)
                }
                batch = try await journal.batchUploaded(batch.id, total: members.count)
                FaultPoint.hit("batch_uploaded")
            case .closed, .outOfBalance:
                break
            }
        }
        return BatchView(batch)
    }

    /// A money alert when a close keeps failing (every fifth try): the day's money is not settled.
    private func closeAlert(_ batch: Int, tries: Int, why: String) {
        guard tries % 5 == 0 else { return }
        events.publish(
            .moneyAlert, status: "closing",
            detail:
                "batch \(batch) is still not closed after \(tries) tries (last: \(why)); `tapctl settle` tries again")
    }

    /// Sends the batch's current message: its STAN and "transmitted" written before the first byte (a message that
    /// may have left goes again as a repeat with the same STAN). Returns the answer; nil when none came (recorded).
    private func sendBatchMessage(
        _ batch: BatchRecord, acquirer: AcquirerService, build: @escaping @Sendable (String) -> ISOMessage
    ) async throws -> ISOMessage? {
        let stan: String
        if let kept = batch.stan { stan = kept } else { stan = try await journal.nextSTAN() }
        var message = build(stan)
        if batch.transmitted { message = Messages.repeatMTI(message) }
        let journal = self.journal
        let outcome = await acquirer.send(message) {
            try await journal.batchTransmitting(batch.id, stan: stan)
            FaultPoint.hit("batch_transmitted")
        }
        switch outcome {
        case .neverLeft(let e), .noAnswer(let e):
            let tries = try await journal.batchTryFailed(batch.id, error: "\(e)")
            closeAlert(batch.id, tries: tries, why: "\(e)")
            return nil
        case .answered(let answer):
            return answer
        }
    }

    /// The message a batch upload copies its identification from: the stored original when still kept (answered
    /// requests keep no track 2 and no DE 55), else one rebuilt from the journal's fields (no card number).
    private func uploadOriginal(_ t: SaleRecord, acquirer: AcquirerService) async throws -> ISOMessage {
        if let stored = try? await journal.request(of: t.id), let m = try? acquirer.codec.unpack(stored) {
            return Messages.stripped(m)
        }
        var m = ISOMessage(mti: t.mti ?? "0200")
        m[3] = t.kind == .refund ? "200000" : "000000"
        m[11] = t.stan
        m[22] = "072"
        m[37] = t.rrn
        m[41] = acquirer.configuration.terminalID
        m[42] = acquirer.configuration.merchantID
        m[49] = String(format: "%03d", t.currency)
        return m
    }

    static func isoTotals(_ t: BatchTotals) -> Messages.ReconciliationTotals {
        Messages.ReconciliationTotals(
            credits: t.credits, creditsAmount: t.creditsAmount, creditReversals: t.creditReversals,
            creditReversalsAmount: t.creditReversalsAmount, debits: t.debits, debitsAmount: t.debitsAmount,
            debitReversals: t.debitReversals, debitReversalsAmount: t.debitReversalsAmount)
    }
}
