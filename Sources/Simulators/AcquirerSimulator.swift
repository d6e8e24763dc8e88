// An acquirer host in software: a TLS server speaking ISO 8583 (the same profiles as tapd) that demands a client
// certificate, verifies ARQCs with the test issuer master key (Visa CVN 18, Mastercard CVN 16) and answers with
// the ARPC in DE 55 tag 91. Behaviours are scriptable: by default an amount ending in .51 is declined (51),
// .91 gets no answer, .92 drops the connection, .93 answers after 3 seconds, .94 approves half (a partial
// approval). Integrators run it standalone (`tapctl acquirer-sim`); `tapd demo` and the tests run it in process.

import Acquirer
import Foundation
import ISO8583
import NIOCore
import NIOPosix
import NIOSSL
import TLV

/// An acquirer host simulator: an ISO 8583 server over mutual TLS that checks ARQCs with the TEST issuer
/// master key and keeps every message it receives.
public actor AcquirerSimulator {
    /// What the simulator does with a message: answer, stay silent, answer late, drop the connection,
    /// send raw bytes or approve part of the amount.
    public enum Action: Sendable, Equatable {
        case answer(responseCode: String)
        case noAnswer
        case slow(Duration, responseCode: String)
        case drop
        /// Raw bytes instead of an answer (malformed-answer tests); framed as they are.
        case raw([UInt8])
        /// DE 39 10 with a lower DE 4: the issuer approved only `amount` (partial approval).
        case partial(amount: UInt64)
    }
    /// Picks the action for a received message; nil leaves it to `defaultAction(_:)`.
    public typealias Rule = @Sendable (ISOMessage) -> Action?

    /// The ISO 8583 codec of the message profile the simulator speaks.
    public let codec: ISO8583Codec
    private let ssl: NIOSSLContext
    private let group: any EventLoopGroup
    private var server: (any Channel)?
    private var rule: Rule?
    /// Every message received, in arrival order (what `ledger()` reads).
    public private(set) var received: [ISOMessage] = []
    /// The response code answered to each message of `received` (nil: none was sent).
    public private(set) var answered: [String?] = []
    /// The amount (DE 4) of each answer to `received`, when the answer carried one.
    public private(set) var answeredAmount: [UInt64?] = []
    /// When each message arrived (same order as `received`), for latency measurements.
    public private(set) var arrivals: [ContinuousClock.Instant] = []

    /// `maximumTLSVersion` lets a test play a server stuck on TLS 1.1.
    public init(
        spec: MessageSpec = .iso87ASCII, certificateFile: String, keyFile: String, clientCAFile: String,
        maximumTLSVersion: TLSVersion? = nil, group: (any EventLoopGroup)? = nil
    ) throws {
        codec = try ISO8583Codec(spec: spec)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCAFile))
        tls.certificateVerification = .noHostnameVerification  // mutual TLS: a client certificate is required
        tls.minimumTLSVersion = .tlsv1
        if let v = maximumTLSVersion { tls.maximumTLSVersion = v }
        ssl = try NIOSSLContext(configuration: tls)
        self.group = group ?? MultiThreadedEventLoopGroup.singleton
    }

    /// How far above the approved amount a completion may capture, in percent (acquirers allow it for tips and
    /// a hotel's extras); beyond it the ledger reports a violation.
    public private(set) var captureTolerancePercent: Double = 0
    /// Sets the over-capture the acquirer allows.
    public func setCaptureTolerance(_ percent: Double) { captureTolerancePercent = percent }

    /// Sets the rule that decides each answer; nil restores the default amount rules.
    public func setRule(_ r: Rule?) { rule = r }

    /// Listens on `host:port` (port 0 picks a free one) and returns the port.
    public func start(host: String = "127.0.0.1", port: Int = 0) async throws -> Int {
        let framing = codec.spec.framing
        let max = codec.spec.maxMessageLength
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [ssl, sim = self] ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: ssl))
                    try ch.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(ISOFrameDecoder(framing: framing, maxLength: max)))
                    try ch.pipeline.syncOperations.addHandler(
                        FrameInboundHandler(
                            onFrame: { frame in Task { await sim.handle(frame, on: ch) } },
                            onClose: { _ in }))
                }
            }
        let s = try await bootstrap.bind(host: host, port: port).get()
        server = s
        return s.localAddress?.port ?? port
    }

    /// Stops listening for connections.
    public func stop() async {
        try? await server?.close().get()
        server = nil
    }

    private func handle(_ frame: [UInt8], on ch: any Channel) async {
        let at = ContinuousClock.now
        guard let m = try? codec.unpack(frame) else {
            ch.close(promise: nil)
            return
        }
        received.append(m)
        arrivals.append(at)
        answered.append(nil)
        answeredAmount.append(nil)
        let index = received.count - 1
        let ruled = rule?(m)
        var action = ruled ?? Self.defaultAction(m)
        // End of day (unless a rule decides): the acquirer reconciles against its own ledger and takes batch uploads.
        if ruled == nil, m.mtiClass == "5", m.mtiFunction == "0" {
            action = .answer(responseCode: reconcile(m))
        } else if ruled == nil, m.mtiClass == "3", m.mtiFunction == "2" {
            action = .answer(responseCode: takeUpload(m))
        }
        switch action {
        case .noAnswer: return
        case .drop:
            ch.close(promise: nil)
            return
        case .raw(let bytes):
            write(bytes, to: ch)
            return
        case .slow(let d, let code):
            try? await Task.sleep(for: d)
            respond(m, code: code, on: ch, index: index)
        case .answer(let code):
            respond(m, code: code, on: ch, index: index)
        case .partial(let amount):
            guard var answer = try? Self.answer(to: m, responseCode: "00") else { return }
            answer[39] = "10"
            answer[4] = String(format: "%012llu", amount)
            send(answer, on: ch, index: index)
        }
    }

    private func respond(_ m: ISOMessage, code: String, on ch: any Channel, index: Int) {
        guard let answer = try? Self.answer(to: m, responseCode: code) else { return }
        send(answer, on: ch, index: index)
    }

    private func send(_ answer: ISOMessage, on ch: any Channel, index: Int) {
        guard let body = try? codec.pack(answer), let framed = try? ISOFraming.frame(body, codec.spec.framing) else {
            return
        }
        if index < answered.count {
            answered[index] = answer[39]
            answeredAmount[index] = answer[4].flatMap { UInt64($0) }
        }
        write(framed, to: ch)
    }

    private func write(_ bytes: [UInt8], to ch: any Channel) {
        var buf = ch.allocator.buffer(capacity: bytes.count)
        buf.writeBytes(bytes)
        ch.writeAndFlush(buf, promise: nil)
    }

    /// Amount rules (the cents decide): .51 decline 51, .91 no answer, .92 drop, .93 slow, .94 partial approval of
    /// half; else approve when the cryptogram verifies.
    public static func defaultAction(_ m: ISOMessage) -> Action {
        guard m.mtiClass == "1" || m.mtiClass == "2", m.mtiFunction == "0", let amount = m[4] else {
            return .answer(responseCode: "00")
        }
        switch amount.suffix(2) {
        case "51": return .answer(responseCode: "51")
        case "91": return .noAnswer
        case "92": return .drop
        case "93": return .slow(.seconds(3), responseCode: "00")
        case "94":
            // A partial approval: half the amount (DE 39 10, lower DE 4), for requests only (not advices).
            guard m.mtiFunction == "0", let asked = UInt64(amount), asked > 1 else {
                return .answer(responseCode: "00")
            }
            return .partial(amount: asked / 2)
        default: return .answer(responseCode: "00")
        }
    }

    /// The answer to `m`: response MTI, echoed identifiers, DE 39; for approved requests with DE 55 the ARQC is
    /// verified (a mismatch turns the answer into 05) and the ARPC returned in tag 91.
    public static func answer(to m: ISOMessage, responseCode: String) throws -> ISOMessage {
        guard let mti = m.responseMTI else {
            throw ISO8583Error(field: 0, offset: 0, reason: "no response MTI for \(m.mti)")
        }
        var a = ISOMessage(mti: mti)
        for f in [2, 3, 4, 7, 11, 12, 13, 24, 32, 37, 41, 42, 49, 70, 90] { a.set(f, bytes: m.bytes(f)) }
        var code = responseCode
        if m.mtiClass == "1" || m.mtiClass == "2", m.mtiFunction == "0", let de55 = m.bytes(55) {
            var data = TLVStore()
            if let objs = try? TLVParser.parse(de55) { data.add(objs) }
            if let pan = m[2] { data[0x5A] = BCD.packDigits(pan) }
            if let t2 = m[35] { data[0x57] = [UInt8](hex: t2.count % 2 == 1 ? t2 + "F" : t2) }
            if let psn = m[23], let n = UInt64(psn) { data[0x5F34] = BCD.encode(n % 100, bytes: 1) }
            // The amount the card signed (9F02) must be the amount asked for (DE 4).
            if let signed = data[0x9F02], let de4 = m[4], let a = UInt64(de4), BCD.encode(a, bytes: 6) != signed {
                code = "05"
            }
            let arc = Array(code.utf8)
            switch code == "05" ? .mismatch : try TestIssuer.verify(data, arc: arc) {
            case .verified(let arpc):
                // Tag 91: ARPC ‖ ARC (method 1, 8-byte ARPC) or ARPC ‖ CSU (method 2, 4-byte ARPC).
                a.set(55, bytes: TLV(tag: 0x91, value: arpc.count == 8 ? arpc + arc : arpc + [0, 0, 0, 0]).encoded)
            case .mismatch:
                code = "05"
            case .unsupported:
                break
            }
        }
        a[39] = code
        if code == "00", m.mtiClass == "1" || m.mtiClass == "2" { a[38] = String((m[11] ?? "000000").suffix(6)) }
        return a
    }

    // MARK: The acquirer's view of the money

    /// One sale as the acquirer saw it: its original request or advice, and what followed for it.
    public struct LedgerEntry: Sendable, Equatable {
        /// STAN of the original message (DE 11), and the terminal (DE 41).
        public var stan: String
        /// The terminal ID (DE 41) of the original.
        public var terminal: String
        /// The original's MTI without the repeat digit (0100, 0200, 0220, 0120).
        public var mti: String
        /// The original's amount (DE 4) in minor units; 0 when it has none.
        public var amount: UInt64
        /// The transaction type of DE 3 (its first two digits): "00" goods and services, "20" a refund.
        public var processingCode = "00"
        /// A refund: money to the cardholder (a credit), not from.
        public var isCredit: Bool { processingCode == "20" }
        /// What the acquirer approved or accepted (the answer's DE 4, else the original's amount); nil while it has
        /// approved nothing.
        public var approvedAmount: UInt64?
        /// The amount of the accepted completion (dual-message mode).
        public var capturedAmount: UInt64?
        /// The response code answered to the original or any repeat of it (the last one sent).
        public var answer: String?
        /// Reversal messages received for it (originals and repeats) and whether one was accepted (answered 00).
        public var reversals = 0
        /// Whether a reversal of it was accepted (answered 00).
        public var reversalAccepted = false
        /// Completions (0220 with DE 90 naming this 0100 or 0120) accepted for it — distinct completions, by their
        /// own STAN: a repeat (0221) of an accepted one is the same completion — and whether a reversal of the
        /// completion was accepted.
        public var captures: Int { captureSTANs.count }
        /// The STANs (DE 11) of the accepted completions.
        public var captureSTANs: Set<String> = []
        /// Whether a reversal of its completion was accepted.
        public var captureReversed = false
        /// Captured and not undone (dual-message mode).
        public var captured: Bool { captures > 0 && !captureReversed }
        /// The money as it stands at the acquirer: approved or advised, and not reversed.
        public var charged: Bool {
            // An advice charges once the acquirer accepted it; a request once it approved it.
            let took = mti.hasSuffix("20") ? answer == "00" : ["00", "08", "10", "11"].contains(answer ?? "")
            return took && !reversalAccepted
        }
    }

    /// Every original request and advice with what followed, and every breach of exactly-once the acquirer can see:
    /// a second original (not a repeat MTI) of a message it already had, a repeat with another amount than its
    /// original, a reversal of an amount the authorisation never had, a capture of more than was approved.
    /// (Reversals of requests it never received are not breaches; they are counted in `orphanReversals`.)
    public func ledger() -> (entries: [LedgerEntry], violations: [String]) {
        var orphans = 0
        var captureOf: [String: Int] = [:]
        var entries: [LedgerEntry] = []
        var index: [String: Int] = [:]
        var violations: [String] = []
        var originals = Set<String>()
        for (i, m) in received.enumerated() {
            let rc = answered[i]
            let amount = UInt64(m[4] ?? "") ?? 0
            let took = ["00", "08", "10", "11"].contains(rc ?? "")
            let tid = m[41] ?? ""
            let stan = m[11] ?? ""
            let base = String(m.mti.prefix(3)) + "0"
            let isRepeat = m.mti.last == "1" || m.mti.last == "3"
            // Any original request, advice or reversal seen before must come back with the repeat MTI.
            if ["1", "2", "4"].contains(m.mtiClass), ["0", "2"].contains(m.mtiFunction) {
                let seenKey = "\(base)/\(tid)/\(stan)"
                if !isRepeat, originals.contains(seenKey) {
                    violations.append("second original \(m.mti) STAN \(stan) without the repeat MTI")
                }
                originals.insert(seenKey)
            }
            switch m.mtiClass {
            case "1", "2":
                // 0220 with DE 90 naming an 0100 is a completion (capture) of that authorisation.
                if m.mti.hasPrefix("02"), m.mtiFunction == "2", let de90 = m[90],
                    de90.hasPrefix("0100") || de90.hasPrefix("0120"),
                    let j = index["\(tid)/\(de90.dropFirst(4).prefix(6))"]
                {
                    if rc == "00" {
                        entries[j].captureSTANs.insert(stan)
                        entries[j].capturedAmount = amount
                        // A capture takes at most what the issuer approved (plus the over-capture the acquirer
                        // allows, e.g. for tips).
                        if let approved = entries[j].approvedAmount,
                            amount > approved + UInt64(Double(approved) * captureTolerancePercent / 100)
                        {
                            violations.append("capture STAN \(stan) of \(amount) exceeds the \(approved) approved")
                        }
                    }
                    captureOf["\(tid)/\(stan)"] = j  // a later reversal of the capture undoes the capture
                    continue
                }
                guard m.mtiFunction == "0" || m.mtiFunction == "2" else { continue }
                let key = "\(tid)/\(stan)"
                if let j = index[key] {
                    // A repeat is the same message: the same amount.
                    if amount != entries[j].amount {
                        violations.append(
                            "repeat \(m.mti) STAN \(stan) of \(amount), its original was \(entries[j].amount)")
                    }
                    if let rc { entries[j].answer = rc }
                    if took { entries[j].approvedAmount = answeredAmount[i] ?? entries[j].amount }
                } else {
                    index[key] = entries.count
                    var e = LedgerEntry(stan: stan, terminal: tid, mti: base, amount: amount, answer: rc)
                    e.processingCode = String((m[3] ?? "00").prefix(2))
                    if took { e.approvedAmount = answeredAmount[i] ?? amount }
                    entries.append(e)
                }
            case "4":
                let original = m[90].map { String($0.dropFirst(4).prefix(6)) } ?? stan
                if m[90]?.hasPrefix("022") == true, let j = captureOf["\(tid)/\(original)"] {
                    if rc == "00" { entries[j].captureReversed = true }
                    continue
                }
                guard let j = index["\(tid)/\(original)"] else {
                    // A terminal that crashed between marking a request transmitted and writing it cannot know it
                    // never left: reversing it is right, and harmless (the acquirer has nothing to undo).
                    orphans += 1
                    continue
                }
                entries[j].reversals += 1
                // A full reversal names the authorisation's amount: the amount asked (ISO 8583:1987, DE 4 of the
                // original; a terminal that crashed before recording the answer knows no other) or, after a
                // partial approval, the amount approved. Any other amount is another sale's or a corruption.
                let allowed = Set([entries[j].amount, entries[j].approvedAmount ?? entries[j].amount])
                if !allowed.contains(amount) {
                    violations.append(
                        "reversal \(m.mti) STAN \(original) of \(amount); the authorisation was for \(allowed.sorted())"
                    )
                }
                if rc == "00" {
                    entries[j].reversalAccepted = true
                }
            default:
                continue
            }
        }
        lastOrphans = orphans
        return (entries, violations + settlementViolations)
    }

    // MARK: End of day

    /// Originals ("TID/STAN") settled, with the batch that settled them.
    public private(set) var settled: [String: Int] = [:]
    /// Batches reconciled in balance, per terminal ("TID/batch").
    public private(set) var closedBatches: Set<String> = []
    /// Per terminal: the unsettled originals when its current batch's first 0500 arrived, and the uploads since.
    private var closing: [String: (batch: Int, keys: Set<String>, uploads: [String: UInt64])] = [:]
    private var settlementViolations: [String] = []
    /// The field a terminal sends its batch number in (the profile's `settlement_batch_field`).
    public var batchField = 60
    /// Sets the field the batch number is read from.
    public func setBatchField(_ f: Int) { batchField = f }

    /// The acquirer's own totals of a terminal's unsettled transactions, and which originals they are.
    func acquirerTotals(terminal: String) -> (Messages.ReconciliationTotals, Set<String>) {
        var t = Messages.ReconciliationTotals(
            credits: 0, creditsAmount: 0, creditReversals: 0, creditReversalsAmount: 0, debits: 0, debitsAmount: 0,
            debitReversals: 0, debitReversalsAmount: 0)
        var keys = Set<String>()
        for e in ledger().entries where e.terminal == terminal && settled["\(e.terminal)/\(e.stan)"] == nil {
            let approvedRequest = e.mti == "0200" && ["00", "08", "10", "11"].contains(e.answer ?? "")
            let advice = e.mti == "0220" && e.answer == "00"
            let amount: UInt64
            let reversed: Bool
            if approvedRequest || advice {
                amount = e.approvedAmount ?? e.amount
                reversed = e.reversalAccepted
            } else if e.captures > 0 {
                amount = e.capturedAmount ?? e.amount
                reversed = e.captureReversed
            } else {
                continue
            }
            keys.insert("\(e.terminal)/\(e.stan)")
            let a = Int64(amount)
            if e.isCredit {
                t.credits += 1
                t.creditsAmount += a
                if reversed {
                    t.creditReversals += 1
                    t.creditReversalsAmount += a
                }
            } else {
                t.debits += 1
                t.debitsAmount += a
                if reversed {
                    t.debitReversals += 1
                    t.debitReversalsAmount += a
                }
            }
        }
        return (t, keys)
    }

    /// A reconciliation request (0500, 0501): in balance 00, else 95. The first for a batch compares with the
    /// acquirer's ledger; the one after a batch upload (processing code 96…) with the uploaded transactions, which
    /// then replace the acquirer's view of the batch.
    func reconcile(_ m: ISOMessage) -> String {
        let tid = m[41] ?? ""
        guard let sent = Messages.ReconciliationTotals(m), let batch = m[batchField].flatMap({ Int($0) }) else {
            return "30"  // format error
        }
        // A repeat (0501) of a request already answered gets the same answer: the host decided once.
        let requestKey = "\(tid)/\(m[11] ?? "")/\(batch)"
        if m.mti == "0501", let earlier = reconciliationAnswers[requestKey] { return earlier }
        let rc = decideReconciliation(m, sent: sent, batch: batch, tid: tid)
        reconciliationAnswers[requestKey] = rc
        return rc
    }

    /// Answers given to reconciliation requests, by terminal, STAN and batch.
    private var reconciliationAnswers: [String: String] = [:]

    private func decideReconciliation(
        _ m: ISOMessage, sent: Messages.ReconciliationTotals, batch: Int, tid: String
    ) -> String {
        let key = "\(tid)/\(batch)"
        let afterUpload = (m[3] ?? "").hasPrefix("96")
        if !afterUpload, m.mti == "0500", closedBatches.contains(key) {
            settlementViolations.append("batch \(batch) of \(tid) reconciled again after it was closed")
        }
        if afterUpload {
            guard let c = closing[tid], c.batch == batch else { return "95" }
            // The upload carries what stands (voided transactions move no money and are not uploaded): its debits
            // and credits must be the totals' debits and credits less their reversals.
            var t = Messages.ReconciliationTotals(
                credits: 0, creditsAmount: 0, creditReversals: 0, creditReversalsAmount: 0, debits: 0,
                debitsAmount: 0, debitReversals: 0, debitReversalsAmount: 0)
            let entries = ledger().entries
            for (k, amount) in c.uploads {
                guard let e = entries.first(where: { "\($0.terminal)/\($0.stan)" == k }) else { continue }
                if e.isCredit {
                    t.credits += 1
                    t.creditsAmount += Int64(amount)
                } else {
                    t.debits += 1
                    t.debitsAmount += Int64(amount)
                }
            }
            let standing =
                t.debits == sent.debits - sent.debitReversals
                && t.debitsAmount == sent.debitsAmount - sent.debitReversalsAmount
                && t.credits == sent.credits - sent.creditReversals
                && t.creditsAmount == sent.creditsAmount - sent.creditReversalsAmount
            guard standing else { return "95" }
            // The upload is the batch. What the acquirer held besides it and that moves no money (approved, then
            // reversed) is dropped with it; anything else it held stays for the next batch.
            for k in c.uploads.keys { settled[k] = batch }
            for e in entries where c.keys.contains("\(e.terminal)/\(e.stan)") {
                let reversed = e.captures > 0 ? e.captureReversed : e.reversalAccepted
                if reversed, settled["\(e.terminal)/\(e.stan)"] == nil { settled["\(e.terminal)/\(e.stan)"] = batch }
            }
            closedBatches.insert(key)
            closing[tid] = nil
            return "00"
        }
        let (mine, keys) = acquirerTotals(terminal: tid)
        if mine == sent && sent.netField == m[97] {
            for k in keys { settled[k] = batch }
            closedBatches.insert(key)
            closing[tid] = nil
            return "00"
        }
        if closing[tid]?.batch != batch { closing[tid] = (batch, keys, [:]) }
        return "95"
    }

    /// A batch upload (0320, 0321): the transaction its DE 90 names, which the acquirer must have taken and not yet
    /// settled, with the amount it took.
    func takeUpload(_ m: ISOMessage) -> String {
        let tid = m[41] ?? ""
        guard let de90 = m[90], de90.count >= 10, let amount = UInt64(m[4] ?? ""),
            let batch = m[batchField].flatMap({ Int($0) })
        else { return "30" }
        // DE 90 names the original request or advice, or — for a captured authorisation — its completion.
        let named = String(de90.dropFirst(4).prefix(6))
        guard
            let e = ledger().entries.first(where: {
                $0.terminal == tid && ($0.stan == named || (de90.hasPrefix("022") && $0.captureSTANs.contains(named)))
            })
        else {
            settlementViolations.append(
                "upload in batch \(batch) of \(tid)/\(named), which the acquirer never received")
            return "25"
        }
        let key = "\(e.terminal)/\(e.stan)"
        if let earlier = settled[key] {
            settlementViolations.append("upload in batch \(batch) of \(key), already settled in batch \(earlier)")
        }
        if e.captures > 0 ? e.captureReversed : e.reversalAccepted {
            settlementViolations.append("upload in batch \(batch) of \(key) as standing; the acquirer reversed it")
        }
        let took = e.captures > 0 ? e.capturedAmount : e.approvedAmount ?? (e.answer == "00" ? e.amount : nil)
        if took != amount {
            settlementViolations.append(
                "upload of \(key) for \(amount); the acquirer took \(took.map(String.init) ?? "nothing")")
        }
        if closing[tid] == nil || closing[tid]?.batch != batch { closing[tid] = (batch, [], [:]) }
        closing[tid]?.uploads[key] = amount
        return "00"
    }

    /// Reversals of requests the acquirer never received (after the last `ledger()`).
    public private(set) var lastOrphans = 0
}
