// Store-and-forward, as the SaleBook runs it: reversals, advices and captures delivered in order (nothing overtakes
// the head, one message on the wire at a time), every answer classified (accepted, refused, "try later", none) and
// written. A message that may have left goes again as a repeat (0401, 0421, 0221); "transmitted" is on disk before
// its first byte is written — for a window of the next 16 messages in one transaction — and a delivery's record is
// written while the next message is on its way (waited for before that message's outcome is acted on). Nothing expires: an entry leaves the queue when the acquirer accepts it, when
// it is quarantined (refused `saf_max_attempts` times, or its stored copy does not open) with a money alert, or
// when an operator resolves it. A journal write that fails ends the drain: it is tried again on the next tick,
// never in a tight loop.

import Acquirer
import EMVKernel
import FaultInjection
import Foundation
import ISO8583
import Journal
import Logging

extension SaleBook {
    /// Delivers every due entry of the queue, in order; returns how many the acquirer accepted. Drains run one
    /// after the other: a caller arriving during a drain waits for it and then drains again (its own entry may
    /// have been queued after the running drain looked).
    @discardableResult
    public func deliverQueue() async -> Int {
        // Each drain is chained behind the one before it: serial, and a waiting caller never spins on the actor.
        let previous = currentDrain
        let task = Task {
            _ = await previous?.value
            return await self.drain()
        }
        currentDrain = task
        let n = await task.value
        if currentDrain == task { currentDrain = nil }
        if n > 0 { checkpointSoon() }
        return n
    }

    /// Starts a drain without waiting for it.
    nonisolated func kickDrain() {
        guard autoDrain else { return }
        Task { await self.deliverQueue() }
    }

    /// How many queued messages a drain marks transmitted in one journal transaction before sending them, in order,
    /// one at a time.
    static let drainWindow = 16

    private func drain() async -> Int {
        guard let acquirer else { return 0 }
        var delivered = 0
        var firstLook = true
        let cfg = acquirer.configuration
        // The last delivery's record, written while the next message is on its way (it is waited for before that
        // message's own outcome is acted on, so records stay in queue order).
        var recording: Task<Void, any Error>? = nil
        queue: while !Task.isCancelled {
            // The last window's last delivery is on disk before the queue is read again.
            let last = recording
            recording = nil
            guard await recorded(last) else { break queue }
            let generation = queueGeneration
            // Entries resolved before the window is taken are not pending any more: the window leaves them out.
            resolvedDuringDrain.removeAll()
            // The next messages in queue order, marked transmitted in one transaction before the first byte of any.
            let window: [QueuedFollowUp]
            do {
                let taken = try await journal.takeWindow(limit: Self.drainWindow)
                if taken.empty {
                    emptyAtGeneration = generation
                    // Nothing queued and nothing done: the gauges are as the last drain left them.
                    if firstLook { return 0 }
                    break queue
                }
                window = taken.entries
            } catch {
                logger.error("store-and-forward: the queue cannot be read", metadata: ["error": "\(error)"])
                break queue
            }
            firstLook = false
            // Strict FIFO: a head that is not due holds the queue (a reversal must not be overtaken by a later advice).
            if window.isEmpty { break queue }
            // The window's entries not yet sent that had not left before it: unmarked when the drain stops early.
            var unsent = window.filter { !$0.entry.transmitted }.map(\.entry.id)
            for head in window {
                let entry = head.entry
                var message: ISOMessage
                do {
                    message = try acquirer.codec.unpack(try journal.open(head))
                } catch {
                    // A stored copy that does not open never blocks the queue or the daemon: out of the queue, with an
                    // alert.
                    let why = "the stored message cannot be opened: \(error)"
                    let pending = recording
                    recording = nil
                    guard await recorded(pending) else {
                        await unmark(unsent)
                        break queue
                    }
                    unsent.removeAll { $0 == entry.id }
                    do { try await journal.quarantine(entry.id, reason: why) } catch {
                        await unmark(unsent)
                        break queue
                    }
                    moneyAlert(entry, why)
                    continue
                }
                // It may have left before this window marked it: then it goes as a repeat.
                if entry.transmitted { message = Messages.repeatMTI(message) }
                let kind = entry.kind.rawValue
                // Resolved by an operator since the window was taken: not sent. (Withdrawing refuses a marked entry, and
                // operators resolve through this SaleBook, so the actor's own record is the truth — no read needed.)
                if resolvedDuringDrain.contains(entry.id) {
                    unsent.removeAll { $0 == entry.id }
                    continue
                }
                FaultPoint.hit("saf.transmitted:\(kind)")
                unsent.removeAll { $0 == entry.id }
                let outcome = await acquirer.send(message)
                let pending = recording
                recording = nil
                guard await recorded(pending) else {
                    await unmark(unsent)
                    break queue
                }
                let retryAt = Date().addingTimeInterval(cfg.safRetryDelay(afterTries: entry.tries + 1))
                switch outcome {
                case .neverLeft(let e), .noAnswer(let e):
                    // The acquirer is not there: not a refusal. The rest waits behind the head (marked transmitted:
                    // it goes as a repeat, which is always safe).
                    _ = try? await journal.followUpFailed(
                        entry.id, error: "\(e)", rejected: false, retryAt: retryAt, quarantineAfter: cfg.safMaxAttempts)
                    await unmark(unsent)
                    await refreshQueueMetrics()
                    return delivered
                case .answered(let answer):
                    FaultPoint.hit("saf.answer_received:\(kind)")
                    switch acquirer.classify(answer, for: message) {
                    case .accepted(let rc):
                        recording = Task {
                            _ = try await self.accepted(entry, responseCode: rc, message: message)
                            FaultPoint.hit("saf.delivered:\(kind)")
                        }
                        delivered += 1
                    case .retryLater(let rc):
                        _ = try? await journal.followUpFailed(
                            entry.id, error: "the acquirer asked to try later (response code \(rc))", responseCode: rc,
                            rejected: false, retryAt: retryAt, quarantineAfter: cfg.safMaxAttempts)
                        await unmark(unsent)
                        await refreshQueueMetrics()
                        return delivered
                    case .rejected(let rc, let why):
                        metrics.safRejected()
                        let after: FollowUp
                        do {
                            after = try await journal.followUpFailed(
                                entry.id, error: why, responseCode: rc, rejected: true, retryAt: retryAt,
                                quarantineAfter: cfg.safMaxAttempts)
                        } catch {
                            await unmark(unsent)
                            break queue
                        }
                        logger.warning(
                            "store-and-forward: \(kind) refused",
                            metadata: ["id": "\(entry.id)", "why": "\(why)", "refusals": "\(after.rejections)"])
                        if after.status == .quarantined {
                            metrics.safQuarantined()
                            moneyAlert(after, "refused \(after.rejections) times by the acquirer (last: \(why))")
                        }
                        if let sale = try? await journal.sale(entry.transactionID) { publish(sale) }
                        // The refused head waits for its retry (or left the queue): look at the queue again.
                        await unmark(unsent)
                        continue queue
                    }
                }
            }
        }
        _ = await recorded(recording)
        await refreshQueueMetrics()
        return delivered
    }

    /// Unmarks entries of a window that were never sent and had not left before it (awaited: a later window must read
    /// the truth).
    private func unmark(_ ids: [Int64]) async {
        do { try await journal.unmarkTransmitted(ids) } catch {
            // Left marked: they go as repeats, which is always safe.
            logger.warning("store-and-forward: unsent messages stay marked", metadata: ["error": "\(error)"])
        }
    }

    /// Waits for a delivery's record; false (logged) when the journal refused it, which ends the drain.
    private func recorded(_ r: Task<Void, any Error>?) async -> Bool {
        guard let r else { return true }
        do { try await r.value } catch {
            logger.error("store-and-forward: a delivery cannot be recorded", metadata: ["error": "\(error)"])
            return false
        }
        return true
    }

    /// The acquirer took the entry: delivered, and the sale's own transition in the same journal transaction (an
    /// accepted void's reversal makes the sale "voided"; a delivered capture becomes what a later void reverses).
    private func accepted(_ entry: FollowUp, responseCode: String, message: ISOMessage) async throws
        -> Journal.Delivery
    {
        let codec = acquirer?.codec
        let kind = entry.kind
        let mti = entry.mti
        // What the delivery does to its sale, decided in the delivery's own transaction from the sale as it stands.
        let d = try await journal.delivered(
            entry.id, responseCode: responseCode,
            audit: "#\(entry.id) \(message.mti) STAN \(message[11] ?? "?") for \(entry.transactionID)"
        ) { sale in
            switch kind {
            case .reversal where sale.state == .approved || sale.state == .partiallyApproved:
                var c = SaleChange(.voided)
                c.reason =
                    sale.kind == .preauth
                    ? "released: the acquirer accepted the reversal" : "voided: the acquirer accepted the reversal"
                c.request = .erase
                return c
            case .reversal:
                // An unanswered request (or a refused partial approval) undone: no card data is needed any more.
                var c = SaleChange(sale.state)
                c.request = .erase
                return c
            case .capture:
                guard let codec else { return nil }
                // Kept as the original (0220, not a 0221 repeat): a later void's DE 90 names the capture itself.
                var original = Messages.stripped(message)
                original.mti = mti
                var c = SaleChange(sale.state)
                c.request = .store(try codec.pack(original))
                return c
            case .advice:
                return nil
            }
        }
        publish(d.sale)
        if d.sale.state == .voided, entry.kind == .reversal {
            metrics.transaction(status: "voided", scheme: d.sale.scheme)
        }
        return d
    }

    func moneyAlert(_ entry: FollowUp, _ why: String) {
        logger.critical(
            "store-and-forward: \(entry.kind.rawValue) #\(entry.id) quarantined",
            metadata: ["transaction": "\(entry.transactionID)", "why": "\(why)"])
        events.publish(
            .moneyAlert, transactionID: entry.transactionID, status: "quarantined",
            detail: "\(entry.kind.rawValue) #\(entry.id) (\(entry.mti)) quarantined: \(why); see `tapctl saf list`")
    }

    /// Queue depth and quarantine gauges; a money alert for an entry waiting longer than `saf_alert_after`.
    func refreshQueueMetrics() async {
        guard let counts = try? await journal.queueCounts() else { return }
        metrics.setSAFDepth(counts.pending)
        metrics.setSAFQuarantined(counts.quarantined)
        guard let acquirer, counts.pending > 0, let head = try? await journal.queueHead()?.entry else { return }
        if Date().timeIntervalSince(head.createdAt) > acquirer.configuration.safAlertAfter,
            !alertedOld.contains(head.id)
        {
            alertedOld.insert(head.id)
            events.publish(
                .moneyAlert, transactionID: head.transactionID, status: "pending",
                detail:
                    "\(head.kind.rawValue) #\(head.id) has waited since \(head.createdAt) for the acquirer (\(head.lastError ?? "not tried yet"))"
            )
        }
    }

    // MARK: Recovery

    /// After a restart: every sale the crash left mid-way is taken to its end. A sale whose request may have left
    /// is reversed; one whose request never left fails; an offline approval without its advice gets one.
    /// Returns how many sales it touched.
    @discardableResult
    public func recover() async throws -> Int {
        var touched = 0
        let open = try await journal.sales(in: SaleState.allCases.filter { !$0.isFinal })
        for r in open {
            try await settle(r)
            touched += 1
        }
        // Offline approvals whose advice is missing (journals written before advices were queued atomically).
        if let acquirer {
            for r in try await journal.sales(in: [.approvedOffline]) where r.followUp(.advice) == nil {
                guard let stored = try? await journal.request(of: r.id) else {
                    logger.warning(
                        "offline approval without an advice or a stored copy", metadata: ["transaction": "\(r.id)"])
                    continue
                }
                guard let advice = try? acquirer.codec.unpack(stored) else {
                    events.publish(
                        .moneyAlert, transactionID: r.id, status: "approved_offline",
                        detail:
                            "approved offline, no advice queued and its stored copy cannot be read: advise STAN \(r.stan ?? "?") by hand"
                    )
                    continue
                }
                var change = SaleChange(.approvedOffline)
                change.enqueue = [NewFollowUp(kind: .advice, mti: advice.mti, message: stored)]
                // Dual-message mode: the advice informs, the completion charges; both are owed.
                if acquirer.dualMessage, r.followUp(.capture) == nil {
                    change.enqueue.append(
                        try await captureOf(
                            advice, amount: UInt64(advice[4] ?? "") ?? UInt64(r.amount), approvalCode: nil, acquirer))
                }
                change.audit = ("recovery", "advice queued", "\(r.id) STAN \(advice[11] ?? "?")")
                _ = try await commit(r.id, change)
                touched += 1
            }
        }
        await refreshQueueMetrics()
        if touched > 0 { kickDrain() }
        return touched
    }

    /// Sales left mid-way while tapd runs — the journal refused the step that records an answer (disk full), so
    /// the sale is still request_persisted or request_transmitted with nobody working on it — are settled as a
    /// restart would settle them. Called on every store-and-forward tick; returns how many it settled.
    @discardableResult
    public func settleStranded() async -> Int {
        guard let stuck = try? await journal.sales(in: [.requestPersisted, .requestTransmitted]) else { return 0 }
        var n = 0
        for r in stuck where !inFlight.contains(r.id) {
            do {
                try await settle(r)
                n += 1
            } catch {
                logger.error(
                    "a stranded sale cannot be settled yet", metadata: ["transaction": "\(r.id)", "error": "\(error)"])
            }
        }
        if n > 0 {
            await refreshQueueMetrics()  // an owed reversal may have been listed quarantined
            kickDrain()
        }
        return n
    }

    /// One interrupted sale taken to its end: reversed when its request may have left, failed when it did not.
    private func settle(_ r: SaleRecord) async throws {
        var change: SaleChange
        switch r.state {
        case .requestTransmitted:
            change = SaleChange(.unanswered)
            change.reason = "interrupted while online; the request is being reversed"
            change.message = UIMessage.notAuthorised.text
            if let acquirer {
                do {
                    guard let stored = try await journal.request(of: r.id) else {
                        throw JournalError.notFound("the stored request of \(r.id)")
                    }
                    let request = try acquirer.codec.unpack(stored)
                    change.enqueue = [try reversalFollowUp(of: request, acquirer)]
                    change.request = .store(try acquirer.codec.pack(Messages.stripped(request)))
                    change.audit = ("recovery", "reversal queued", "\(r.id) STAN \(request[11] ?? "?")")
                } catch {
                    change.reason =
                        "interrupted while online and its stored request cannot be opened (\(error)): reverse STAN \(r.stan ?? "?") with the acquirer by hand"
                    change.audit = ("recovery", "reversal impossible", "\(r.id): \(error)")
                    // Owed all the same: listed and quarantined so `tapctl saf list` and diagnose show it until
                    // an operator settles it with the acquirer and resolves it.
                    change.enqueue = [
                        .owed(.reversal, mti: acquirer.configuration.reversalMTI, because: change.reason ?? "")
                    ]
                    events.publish(.moneyAlert, transactionID: r.id, status: "unanswered", detail: change.reason)
                }
            } else {
                change.reason =
                    "interrupted while online and no acquirer is configured: reverse STAN \(r.stan ?? "?") with the acquirer by hand"
                change.enqueue = [.owed(.reversal, mti: "0400", because: change.reason ?? "")]
                events.publish(.moneyAlert, transactionID: r.id, status: "unanswered", detail: change.reason)
            }
        case .requestPersisted:
            // "transmitted" is written before the first byte: this request never left.
            change = SaleChange(.failed)
            change.reason = "interrupted before the request was sent; nothing was charged"
            change.message = UIMessage.notAuthorised.text
            change.request = .erase
        default:
            change = SaleChange(.failed)
            change.reason = "interrupted before going online; nothing was charged"
            change.request = .erase
        }
        _ = try await commit(r.id, change)
    }

    // MARK: Operators

    /// The queue, for `tapctl saf list` (all entries, or one status).
    public func followUps(status: FollowUpStatus? = nil) async throws -> [FollowUpView] {
        try await journal.followUps(status: status, limit: 500).map(FollowUpView.init)
    }

    /// Puts a quarantined entry back in the queue (audited) and delivers.
    public func retryFollowUp(_ id: Int64, actor: String) async throws -> FollowUpView {
        queueGeneration += 1
        do { _ = try await journal.retryFollowUp(id, actor: actor) } catch JournalError.notFound {
            throw TapdError.missing("no quarantined follow-up #\(id)")
        }
        _ = await deliverQueue()
        guard let f = try await journal.followUp(id) else { throw TapdError.missing("no follow-up #\(id)") }
        return FollowUpView(f)
    }

    /// Closes an entry by hand with a reason (audited), e.g. a reversal the acquirer's help desk made.
    public func resolveFollowUp(_ id: Int64, reason: String, actor: String) async throws -> FollowUpView {
        let why = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !why.isEmpty else { throw TapdError.invalid("a reason is required to resolve follow-up #\(id)") }
        let f: FollowUp
        do { f = try await journal.resolveFollowUp(id, reason: why, actor: actor) } catch JournalError.notFound {
            throw TapdError.missing("no open follow-up #\(id)")
        }
        // A drain that took it into its window before this must not send it now.
        resolvedDuringDrain.insert(id)
        if let r = try await journal.sale(f.transactionID) { publish(r) }
        await refreshQueueMetrics()
        return FollowUpView(f)
    }
}
