// Structure-aware fuzzing of Entry Point and the kernels: the fuzzer's bytes are a small program that picks a valid
// recorded conversation (virtual cards and phones of every kernel, see-phone restarts, public recordings), one card
// answer in it and one of its data objects, and mutates that object — its value, its length, its length field as
// sent, a duplicate, a deletion, an insertion — or the answer's status word or length. The mutated conversation is
// then run through the real Entry Point and kernel, restarts included, so the fuzzer spends its time deep inside the
// kernels instead of on answers the first parser rejects. Whatever the card says, the run must end in an outcome,
// and the invariants below must hold (a `precondition` failure is a finding).

import APDU
import EMVKernel
import Simulators
import TLV

public enum KernelFuzz {
    /// One fuzz input read as a mutation program.
    public struct Program: Sendable {
        public var conversation: Int
        public var exchange: Int
        public var operation: UInt8
        public var object: Int
        public var payload: [UInt8]

        /// Reads a program from the fuzzer's bytes (missing bytes read as zero).
        public init(_ b: [UInt8]) {
            func at(_ i: Int) -> UInt8 { i < b.count ? b[i] : 0 }
            conversation = Int(at(0))
            exchange = Int(at(1))
            operation = at(2)
            object = Int(at(3))
            payload = b.count > 4 ? Array(b[4...].prefix(300)) : []
        }
    }

    /// The primitive and constructed objects of a response body, depth first, as paths of child indexes.
    static func paths(_ objects: [TLV], prefix: [Int] = []) -> [[Int]] {
        var out: [[Int]] = []
        for (i, o) in objects.enumerated() {
            out.append(prefix + [i])
            if !o.children.isEmpty { out += paths(o.children, prefix: prefix + [i]) }
        }
        return out
    }

    /// Rebuilds `objects` with the object at `path` replaced by `replacement` (nil deletes it, several insert).
    static func rebuild(_ objects: [TLV], path: ArraySlice<Int>, _ replacement: (TLV) -> [TLV]) -> [TLV] {
        guard let i = path.first, i < objects.count else { return objects }
        var out = objects
        if path.count == 1 {
            out.replaceSubrange(i...i, with: replacement(objects[i]))
        } else {
            let o = objects[i]
            out[i] = TLV(tag: o.tag, children: rebuild(o.children, path: path.dropFirst(), replacement))
        }
        return out
    }

    /// Applies `program` to one answer of `conversation`.
    public static func mutate(_ conversation: [ScriptedExchange], _ p: Program) -> [ScriptedExchange] {
        guard !conversation.isEmpty else { return conversation }
        var ex = conversation
        let index = p.exchange % ex.count
        guard case .bytes(let response) = ex[index].answer, response.count >= 2 else { return ex }
        var body = Array(response.dropLast(2))
        var sw = Array(response.suffix(2))
        let objects = (try? TLVParser.parse(body)) ?? []
        let all = paths(objects)
        let path = all.isEmpty ? [] : all[p.object % all.count]
        let payload = p.payload
        func first(_ n: Int) -> [UInt8] { Array(payload.prefix(n)) }
        switch p.operation % 10 {
        case 0:  // the object's value becomes the payload
            if !path.isEmpty { body = rebuild(objects, path: path[...]) { [TLV(tag: $0.tag, value: payload)] }.encoded }
        case 1:  // a value of one byte ("one-byte data element")
            if !path.isEmpty {
                body =
                    rebuild(objects, path: path[...]) { [TLV(tag: $0.tag, value: first(1).isEmpty ? [0] : first(1))] }
                    .encoded
            }
        case 2:  // an empty value
            if !path.isEmpty { body = rebuild(objects, path: path[...]) { [TLV(tag: $0.tag, value: [])] }.encoded }
        case 3:  // deleted
            if !path.isEmpty { body = rebuild(objects, path: path[...]) { _ in [] }.encoded }
        case 4:  // repeated
            if !path.isEmpty { body = rebuild(objects, path: path[...]) { [$0, $0] }.encoded }
        case 5:  // a new object beside it, tag and value from the payload
            if !path.isEmpty, payload.count >= 1 {
                var i = 0
                let tag = (try? TLVParser.tag(in: payload[...], at: &i)) ?? Tag(UInt32(payload[0]))
                body =
                    rebuild(objects, path: path[...]) { [$0, TLV(tag: tag, value: Array(payload.dropFirst(i)))] }
                    .encoded
            }
        case 6:  // one byte of the encoding as sent, lengths included
            if !body.isEmpty, payload.count >= 2 { body[Int(payload[0]) % body.count] = payload[1] }
        case 7:  // the status word
            sw = payload.count >= 2 ? first(2) : [0x6A, 0x82]
        case 8:  // the answer cut short
            body = Array(body.prefix(payload.first.map { Int($0) } ?? 0))
        default:  // the answer is the payload itself
            body = payload
        }
        ex[index] = ScriptedExchange(command: ex[index].command, response: body + sw)
        return ex
    }

    /// Runs a conversation through Entry Point and the kernels as a reader would: restarts at Start B after "see
    /// phone" or "try again" (at most three taps), with a fixed UN so recorded signatures still verify. Returns the
    /// outcomes of every tap and checks what must hold whatever the card said.
    public static func run(
        _ conversation: [ScriptedExchange], keys: CAKeyStore, configuration: TerminalConfiguration,
        transaction: TransactionParameters, overrides: [Tag: [UInt8]] = [:]
    ) async -> [Outcome] {
        let card = ScriptedChannel(conversation, matching: .replay)
        let ep = EntryPoint(configuration: configuration, keys: keys, risk: RiskManager())
        guard let pre = ep.preProcess(transaction) else { return [EntryPoint.noContactlessOutcome()] }
        var outcomes: [Outcome] = []
        var restarted = false
        for _ in 0..<3 {
            let o = await ep.process(
                card: card, transaction: transaction, combinations: pre, overrides: overrides,
                restarted: restarted, timingChecks: false)
            check(o)
            outcomes.append(o)
            guard o.kind == .seePhone || o.kind == .tryAgain else { break }
            restarted = true
        }
        return outcomes
    }

    /// What every outcome must satisfy, whatever the card said.
    public static func check(_ o: Outcome) {
        // An offline approval rests on ODA that covers it (fDDA for C-3, CDA over the cryptogram for C-2).
        if o.kind == .approved {
            precondition(o.oda?.succeeded == true, "approved offline without successful ODA: \(o.reason ?? "")")
            if ["C-2", "C-4", "C-5", "C-6"].contains(o.kernel ?? "") {
                precondition(o.oda?.method == .cda, "\(o.kernel ?? "") offline approval without CDA")
            }
            precondition(o.cryptogram?.kind == .tc, "approved offline without a TC")
        }
        // An online request carries a cryptogram for the issuer.
        if o.kind == .onlineRequest {
            precondition(o.cryptogram?.value.count == 8, "online request without an 8-byte cryptogram")
        }
        // A decision the card reached has no error; an error always names its layer.
        if [.approved, .onlineRequest].contains(o.kind) {
            precondition(o.errorIndication.isOK, "error indication on \(o.kind)")
        }
        // The output objects always encode.
        precondition(o.parameterSet.bytes.count == 8)
        precondition(o.errorIndication.bytes.count == 6)
        _ = o.kernelOutput
        _ = KernelOutputView(o)
    }
}

extension KernelFuzz {
    /// A valid conversation to mutate, with the terminal it was recorded against.
    public struct Seed: Sendable {
        public var name: String
        public var conversation: [ScriptedExchange]
        public var configuration: TerminalConfiguration
        public var transaction: TransactionParameters
        public var overrides: [Tag: [UInt8]] = [:]
    }

    /// The transaction every virtual-card seed is recorded and replayed with (fixed UN: signatures stay valid).
    static let transactionDate = EMVDate(year: 2026, month: 11, day: 26)!

    /// Keys for the seeds: the bundled production and test keys plus the virtual cards' test CAs.
    public static func keys() throws -> CAKeyStore {
        var k = try CAKeyStore.bundled(includeTestKeys: true)
        try VirtualCard.registerTestCAs(in: &k)
        return k
    }

    /// Conversations of every kernel path with tapd's virtual cards (online, offline fDDA, see-phone restart, CDA,
    /// on-device CVM, no records), recorded once, plus the public recordings given as replay files.
    public static func seeds(publicRecordings: [ReplayFile] = []) async throws -> [Seed] {
        let keys = try keys()
        var offline = TerminalConfiguration()
        offline.applications = offline.applications.map {
            var a = $0
            a.contactlessFloorLimit = 100_000
            return a
        }
        let cases: [(String, CardProfile, UInt64, TerminalConfiguration)] = [
            ("visa online", .visaCard(), 1234, TerminalConfiguration()),
            ("visa offline fDDA", .visaCard(offline: true), 1234, offline),
            ("visa no records", .visaCardNoRecords(), 500, TerminalConfiguration()),
            ("visa phone see phone", .visaPhone(), 9000, TerminalConfiguration()),
            ("mastercard CDA", .mastercardCard(), 1234, TerminalConfiguration()),
            ("mastercard CDA offline", .mastercardCard(), 1234, offline),
            ("mastercard phone on-device CVM", .mastercardPhone(), 9000, TerminalConfiguration()),
            ("amex online", .amexCard(), 1234, TerminalConfiguration()),
            ("amex offline CDA", .amexCard(offline: true), 1234, offline),
            ("amex phone see phone", .phone(.amex), 9000, TerminalConfiguration()),
            ("jcb online", .jcbCard(), 1234, TerminalConfiguration()),
            ("jcb offline CDA", .jcbCard(offline: true), 1234, offline),
            ("jcb phone see phone", .phone(.jcb), 9000, TerminalConfiguration()),
            ("discover online", .discoverCard(), 1234, TerminalConfiguration()),
            ("discover offline CDA", .discoverCard(offline: true), 1234, offline),
            ("unionpay online", .unionPayCard(), 1234, TerminalConfiguration()),
            ("unionpay offline fDDA", .unionPayCard(offline: true), 1234, offline),
            ("unionpay SM offline SM2 fDDA", .unionPaySMCard(offline: true), 1234, offline),
            ("unionpay phone see phone", .phone(.unionpay), 9000, TerminalConfiguration()),
        ]
        var out: [Seed] = []
        for (name, profile, amount, config) in cases {
            let txn = TransactionParameters(
                amount: amount, date: transactionDate, unpredictableNumber: [0x1A, 0x2B, 0x3C, 0x4D])
            let card = RecordingChannel(try VirtualCard(profile))
            let ep = EntryPoint(configuration: config, keys: keys, risk: RiskManager())
            guard let pre = ep.preProcess(txn) else { continue }
            var o = await ep.process(card: card, transaction: txn, combinations: pre, timingChecks: false)
            if o.kind == .seePhone {
                o = await ep.process(
                    card: card, transaction: txn, combinations: pre, restarted: true, timingChecks: false)
            }
            let conversation = await card.exchanges.compactMap { e in
                e.response.map { ScriptedExchange(command: e.command, response: $0) }
            }
            out.append(Seed(name: name, conversation: conversation, configuration: config, transaction: txn))
        }
        for f in publicRecordings {
            guard let (config, txn, overrides) = try? ReplayRunner.terminal(for: f) else { continue }
            out.append(
                Seed(
                    name: f.description ?? "recording", conversation: f.scriptedExchanges, configuration: config,
                    transaction: txn, overrides: overrides))
        }
        return out
    }

    /// One fuzz execution: the program's mutation of one seed, run to its outcomes.
    @discardableResult
    public static func execute(_ bytes: [UInt8], seeds: [Seed], keys: CAKeyStore) async -> [Outcome] {
        guard !seeds.isEmpty else { return [] }
        let p = Program(bytes)
        let seed = seeds[p.conversation % seeds.count]
        let conversation = mutate(seed.conversation, p)
        return await run(
            conversation, keys: keys, configuration: seed.configuration, transaction: seed.transaction,
            overrides: seed.overrides)
    }
}
