// Entry Point (EMV Contactless Book B): pre-processing (Start A), combination selection (Start C), kernel
// activation (Start D) and outcome processing. Protocol activation — waiting for a card in the field — is the
// reader's job; a restart at Start B (try again, see phone) is the caller's, with `process(card:…, restarted: true)`.

import APDU
import TLV

public struct EntryPoint: Sendable {
    public let configuration: TerminalConfiguration
    public let keys: CAKeyStore
    public let risk: RiskManager
    /// Book C-2 torn transaction log, kept across taps for as long as this Entry Point lives.
    public let tornTransactions: TornTransactionLog

    public init(
        configuration: TerminalConfiguration, keys: CAKeyStore, risk: RiskManager,
        tornTransactions: TornTransactionLog = TornTransactionLog()
    ) {
        self.configuration = configuration
        self.keys = keys
        self.risk = risk
        self.tornTransactions = tornTransactions
    }

    /// Start A, Book B §3.1: pre-processing. Nil when no combination is allowed for this transaction, in which
    /// case the outcome is Try Another Interface (§3.1.1.13) and the card need not be tapped.
    public func preProcess(_ txn: TransactionParameters) -> [PreProcessedCombination]? {
        let pre = PreProcessing.run(configuration, txn)
        return pre.contains(where: { !$0.indicators.contactlessApplicationNotAllowed }) ? pre : nil
    }

    public static func noContactlessOutcome() -> Outcome {
        var o = Outcome(.tryAnotherInterface, reason: "no contactless application allows this amount")
        o.uiRequestOnOutcome = UIRequest(.insertSwipeOrTryAnotherCard, .processingError, holdTimeMilliseconds: 1300)
        return o
    }

    /// Starts B–D for one card in the field: select the PPSE, build the candidate list, select and activate
    /// kernels until one reaches an outcome other than Select Next (Book B §3.5.1.1).
    public func process(
        card: any CardChannel, transaction: TransactionParameters, combinations: [PreProcessedCombination],
        overrides: [Tag: [UInt8]] = [:], restarted: Bool = false, timingChecks: Bool = true
    ) async -> Outcome {
        let transport = CardTransport(channel: card)
        // Book B §3.3.2.2: SELECT the PPSE.
        let ppse: ResponseAPDU
        do { ppse = try await transport.send(.select(name: CommandAPDU.ppseName)) } catch let e as CardError {
            return KernelFailure.communication(e).outcome
        } catch { return KernelFailure.communication(.transport("\(error)")).outcome }

        let entries: [DirectoryEntry]
        do { entries = try CombinationSelection.directory(from: ppse) } catch {
            // Book B §3.3.2.3: no PPSE, or one that cannot be read → no candidate → End Application.
            var o = Outcome(.endApplication, reason: Self.describe(error))
            o.uiRequestOnOutcome = UIRequest(.insertSwipeOrTryAnotherCard, .notReady, holdTimeMilliseconds: 1300)
            if case .noPPSE(let sw) = error {
                o.errorIndication = ErrorIndication(
                    l2: .noPPSE, statusWord: sw?.rawValue ?? 0, messageOnError: .insertSwipeOrTryAnotherCard)
            } else {
                o.errorIndication = ErrorIndication(l2: .ppseFault, messageOnError: .insertSwipeOrTryAnotherCard)
            }
            return o
        }
        var candidates = CombinationSelection.candidates(entries, combinations)
        if candidates.isEmpty { return Self.emptyCandidateList(entries, lastReason: nil) }

        var lastReason: String? = nil
        var lastError: ErrorIndication? = nil
        while !candidates.isEmpty {
            let c = candidates.removeFirst()
            // Book B §3.3.3: final selection; an error status removes the candidate (§3.3.3.5).
            let select: ResponseAPDU
            do { select = try await transport.send(.select(name: CombinationSelection.selectName(for: c))) } catch let e
                as CardError
            { return KernelFailure.communication(e).outcome } catch {
                return KernelFailure.communication(.transport("\(error)")).outcome
            }
            guard select.status.isSuccess, let fci = try? TLVParser.parseOne(select.data), fci.tag == 0x6F,
                let df = fci.first(0x84),
                df.value.starts(with: c.entry.adfName) || c.entry.adfName.starts(with: df.value)
            else {
                lastReason = "SELECT \(Hex.encode(c.entry.adfName)) answered \(select.status)"
                continue
            }
            guard let kernel = KernelRegistry.kernel(for: c.combination.application.kernel) else { continue }
            // Book B §3.4 (kernel activation): a fresh Unpredictable Number for every activation — a restart after
            // "see phone" or "try again" never reuses the number the card signed before (a replay keeps the recorded one).
            var txn = transaction
            if !transaction.unpredictableNumberFixed && overrides[0x9F37] == nil {
                txn.unpredictableNumber = TransactionParameters.freshUnpredictableNumber()
            }
            var session = KernelSession(
                transport: transport, candidate: c, fci: fci, configuration: configuration,
                transaction: txn, keys: keys, risk: risk, overrides: overrides, restarted: restarted)
            session.tornTransactions = tornTransactions
            session.timingChecks = timingChecks
            var outcome = await kernel(session)
            if outcome.kind == .selectNext {
                // Book B §3.5.1.1: Select Next removes the combination and selects the next candidate.
                lastReason = outcome.reason ?? "select next"
                lastError = outcome.errorIndication
                continue
            }
            // Velocity: one tap recorded per completed card read.
            if let pan = CardIdentity.pan(from: outcome.transactionData), let alert = await risk.recordTap(pan: pan) {
                outcome.alerts.append(alert)
            }
            return outcome
        }
        var o = Self.emptyCandidateList(entries, lastReason: lastReason)
        if let lastError, !lastError.isOK {
            o.errorIndication.l2 = lastError.l2
            o.errorIndication.statusWord = lastError.statusWord
        }
        return o
    }

    /// Book B v2.10 §3.3.2.7: no (more) candidates → End Application, L2 EMPTY CANDIDATE LIST, "Insert, swipe or
    /// try another card". The reason names the schemes on the card that tapd has no kernel for.
    static func emptyCandidateList(_ entries: [DirectoryEntry], lastReason: String?) -> Outcome {
        let unsupported = CombinationSelection.unsupportedSchemes(entries)
        var reason: String
        if let lastReason {
            reason = "no candidate application could be used (\(lastReason))"
        } else if entries.isEmpty {
            reason = "the PPSE lists no application"
        } else if !unsupported.isEmpty {
            reason = unsupported.map { "\($0.scheme) kernel (\($0.name)) is not supported yet" }.joined(separator: "; ")
        } else {
            reason = "no application on the card is accepted here"
        }
        var o = Outcome(.endApplication, reason: reason)
        o.uiRequestOnOutcome = UIRequest(.insertSwipeOrTryAnotherCard, .notReady, holdTimeMilliseconds: 1300)
        o.errorIndication = ErrorIndication(l2: .emptyCandidateList, messageOnError: .insertSwipeOrTryAnotherCard)
        if lastReason == nil, let k = unsupported.first { o.kernel = k.name }
        return o
    }

    static func describe(_ e: any Error) -> String {
        switch e as? SelectionError {
        case .noPPSE(let sw)?: return "no PPSE on the card (\(sw.map { "\($0)" } ?? "no answer"))"
        case .malformedPPSE(let s)?: return "malformed PPSE: \(s)"
        case .noCandidates?: return "no candidate application"
        case nil: return "\(e)"
        }
    }
}
