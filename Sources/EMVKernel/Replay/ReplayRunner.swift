// Runs the real Entry Point and kernels against a scripted card read from a replay file, and reports the result
// as one JSON object (`tapctl replay`). The scripted card answers each command with the first unused exchange
// whose CLA INS P1 P2 match (for SELECT also the data); a command with no match gets 6D00.

import APDU
import EMVCrypto
import Foundation
import TLV

public struct ReplayResult: Codable, Sendable {
    public struct ODA: Codable, Sendable {
        public var method: String
        public var result: String  // ok | failed | not_performed
        public var failure: String?
    }
    public struct Cryptogram: Codable, Sendable {
        public var type: String
        public var value: String
        public var atc: String
    }
    public var outcome: String
    public var kernel: String?
    public var aid: String?
    public var pan: String?
    public var oda: ODA
    public var cryptogram: Cryptogram?
    public var tvr: String?
    public var cvm: String
    public var reason: String?
    /// The kernel's output objects (DF8129, DF8116, DF8115, FF8105, FF8106), each in hex beside its decoding.
    public var kernelOutput: KernelOutputView?
    public var apdus: [String]
    /// Each exchange as the kernels had it: the command, the card's answer with card data masked, and the printable
    /// values in the answer as text beside their tag (84 "2PAY.SYS.DDF01").
    public var conversation: [Step]?

    public struct Step: Codable, Sendable {
        public var command: String
        public var response: String?
        public var text: [String]
    }

    enum CodingKeys: String, CodingKey {
        case outcome, kernel, aid, pan, oda, cryptogram, tvr, cvm, reason
        case kernelOutput = "kernel_output"
        case apdus, conversation
    }
}

public enum ReplayRunner {
    /// Replays `file` with the bundled production and test CA keys plus the file's own.
    public static func run(_ file: ReplayFile, configuration: TerminalConfiguration = TerminalConfiguration())
        async throws -> ReplayResult
    {
        let (outcome, exchanges) = try await outcome(file, configuration: configuration)
        var r = result(outcome, apdus: exchanges.map { Hex.encode($0.command) })
        r.conversation = exchanges.map { e in
            let masked = e.response.map(TraceRedaction.redact(response:))
            return ReplayResult.Step(
                command: Hex.encode(e.command), response: masked.map(Hex.encode),
                text: masked.map { printable(Array($0.dropLast(2))) } ?? [])
        }
        return r
    }

    /// Printable values (not card data) in a response, as `TAG "text"`.
    static func printable(_ body: [UInt8]) -> [String] {
        var out: [String] = []
        func walk(_ objects: [TLV]) {
            for o in objects {
                if !o.children.isEmpty {
                    walk(o.children)
                    continue
                }
                guard !DataDictionary.sensitiveTags.contains(o.tag), let t = Describe.printableText(o.value) else {
                    continue
                }
                out.append("\(o.tag.hex) \"\(t)\"")
            }
        }
        walk(TLVParser.parseLenient(body).objects)
        return out
    }

    /// The outcome of replaying `file`, and what the kernels exchanged with the recorded card.
    public static func outcome(_ file: ReplayFile, configuration: TerminalConfiguration = TerminalConfiguration())
        async throws -> (Outcome, [RecordedExchange])
    {
        var keys = try CAKeyStore.bundled(includeTestKeys: true)
        for k in file.capks ?? [] {
            guard let rid = [UInt8](hex: k.rid), let idx = [UInt8](hex: k.index), let m = [UInt8](hex: k.modulus)
            else { continue }
            // An SM2 CA key (PBOC 3.0): "SM2" in place of the exponent, the point X ‖ Y as the modulus.
            if k.exponent.uppercased() == "SM2" {
                if !keys.hasKey(rid: rid, index: idx[0]) {
                    try keys.addSM2(
                        rid: rid, index: idx[0], key: try .init(point: m), label: "replay file", isTest: true)
                }
                continue
            }
            guard let e = [UInt8](hex: k.exponent) else { continue }
            let pub = try RSAPublicKey(modulus: m, exponent: e)
            if keys.key(rid: rid, index: idx[0]) == nil {
                try keys.add(rid: rid, index: idx[0], key: pub, label: "replay file", isTest: true)
            }
        }
        let (config, txn, overrides) = try terminal(for: file, configuration: configuration)
        let unmatched = file.unmatchedResponse.flatMap { [UInt8](hex: $0) } ?? [0x6D, 0x00]
        let card = RecordingChannel(
            ScriptedChannel(file.scriptedExchanges, matching: .replay, unmatchedResponse: unmatched))
        let ep = EntryPoint(configuration: config, keys: keys, risk: RiskManager())
        let outcome: Outcome
        if let pre = ep.preProcess(txn) {
            outcome = await ep.process(
                card: card, transaction: txn, combinations: pre, overrides: overrides, timingChecks: false)
        } else {
            outcome = EntryPoint.noContactlessOutcome()
        }
        return (outcome, await card.exchanges)
    }

    /// The terminal a replay runs as: the configuration with the file's country, currency and merchant, and the
    /// transaction (amount, date, type, UN) the file's terminal data give.
    public static func terminal(for file: ReplayFile, configuration: TerminalConfiguration = TerminalConfiguration())
        throws
        -> (TerminalConfiguration, TransactionParameters, [Tag: [UInt8]])
    {
        let overrides = try file.terminalOverrides()
        var config = configuration
        if let c = overrides[0x9F1A], let v = BCD.decode(c) { config.countryCode = UInt16(clamping: v) }
        if let c = overrides[0x5F2A], let v = BCD.decode(c) { config.currencyCode = UInt16(clamping: v) }
        if let m = overrides[0x9F4E] { config.merchantNameAndLocation = String(decoding: m, as: UTF8.self) }
        let date = overrides[0x9A].flatMap { EMVDate(yymmdd: $0) } ?? Self.today()
        var txn = TransactionParameters(
            amount: overrides[0x9F02].flatMap { BCD.decode($0) } ?? 100, date: date,
            unpredictableNumber: overrides[0x9F37])
        if let t = overrides[0x9C]?.first, let type = TransactionParameters.TransactionType(rawValue: t) {
            txn.type = type
        }
        if let o = overrides[0x9F03].flatMap({ BCD.decode($0) }) { txn.amountOther = o }
        return (config, txn, overrides)
    }

    static func result(_ o: Outcome, apdus: [String]) -> ReplayResult {
        let oda: ReplayResult.ODA
        if let r = o.oda {
            oda = .init(
                method: r.method.rawValue, result: r.succeeded ? "ok" : "failed", failure: r.failure.map { "\($0)" })
        } else {
            oda = .init(method: "none", result: "not_performed", failure: nil)
        }
        return ReplayResult(
            outcome: o.kind.rawValue, kernel: o.kernel, aid: o.aid.map(Hex.encode), pan: o.maskedPAN, oda: oda,
            cryptogram: o.cryptogram.map {
                .init(type: $0.kind.rawValue, value: Hex.encode($0.value), atc: Hex.encode($0.atc))
            },
            tvr: o.tvr?.description, cvm: o.cvm.rawValue, reason: o.reason, kernelOutput: KernelOutputView(o),
            apdus: apdus)
    }

    static func today() -> EMVDate {
        EMVDate.utcToday() ?? EMVDate(year: 2026, month: 1, day: 1)!
    }
}

/// Writes what a transaction exchanged as a replay file: the terminal data the card could have seen (amount,
/// date, type, UN, country, currency, TTQ after pre-processing, the relay resistance entropy), and every
/// exchange; card data masked unless `revealCardData` is set.
public enum TraceRecorder {
    public static func file(
        description: String?, exchanges: [RecordedExchange], transaction: TransactionParameters,
        configuration: TerminalConfiguration, outcome: Outcome,
        extraCAPKs: [ReplayFile.CAPK] = [], revealCardData: Bool = false
    ) -> ReplayFile {
        var terminal: [String: String] = [:]
        let txn = transaction.terminalData
        for tag: Tag in [0x9F02, 0x9F03, 0x9A, 0x9C, 0x9F37] {
            if let v = txn[tag] { terminal[tag.hex] = Hex.encode(v) }
        }
        terminal["9F1A"] = Hex.encode(BCD.encode(UInt64(configuration.countryCode), bytes: 2) ?? [])
        terminal["5F2A"] = Hex.encode(BCD.encode(UInt64(configuration.currencyCode), bytes: 2) ?? [])
        // What the kernel derived and the card saw: the TTQ after pre-processing, the relay resistance entropy, the
        // floor limit its risk management used, and the reader capabilities C-4 and C-5 send (set per transaction).
        let context = KernelContext(rawValue: outcome.kernel ?? "")
        for tag: Tag in [0x9F66, 0xDF8301, 0x9F37, 0x9F1B, 0x9F6D, 0x9F6E, 0x9F52, 0x9F53] {
            // 9F6E, 9F53 … are the reader's in C-4 and C-5 and the card's (or another object) elsewhere.
            guard let v = outcome.transactionData[tag],
                tag == 0x9F37 || tag == 0xDF8301
                    || DataDictionary.element(tag, context: context)?.source == .terminal
            else { continue }
            terminal[tag.hex] = Hex.encode(v)
        }
        let ex = exchanges.compactMap { e -> ReplayFile.Exchange? in
            guard let r = e.response else { return nil }
            return .init(
                command: Hex.encode(e.command),
                response: Hex.encode(revealCardData ? r : TraceRedaction.redact(response: r)))
        }
        return ReplayFile(
            description: description, terminal: terminal, capks: extraCAPKs.isEmpty ? nil : extraCAPKs, exchanges: ex)
    }
}
