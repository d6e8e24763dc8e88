// What `tapd demo` shows until the daemon exists: a few sales with the virtual cards and phones through the real
// Entry Point and kernels, each outcome explained; online sales go to the acquirer (a hook the caller supplies:
// `tapd demo` sends them over mutual TLS to the acquirer simulator), or, without one, their cryptograms are checked
// by the test issuer directly. Card data is masked in all output.

import APDU
import EMVCrypto
import EMVKernel
import TLV

/// `tapd demo`: contactless sales with virtual cards and phones through the real Entry Point and kernels.
public enum KernelDemo {
    /// One demo sale: the card or phone that taps, the amount, and how the sale must end.
    public struct Sale: Sendable {
        /// What the demo prints for the sale, e.g. "Visa card, 12.34".
        public let title: String
        /// The virtual card or phone that taps.
        public let profile: CardProfile
        /// The amount in minor units (1234 is 12.34).
        public let amount: UInt64
        /// The outcome the kernel must reach.
        public let expected: OutcomeKind
        /// What the acquirer simulator's amount rules make of it: "00", "51", or nil for no answer.
        public let expectedResponse: String?

        /// A demo sale; `expectedResponse` defaults to "00" (approved).
        public init(
            title: String, profile: CardProfile, amount: UInt64, expected: OutcomeKind, expectedResponse: String? = "00"
        ) {
            self.title = title
            self.profile = profile
            self.amount = amount
            self.expected = expected
            self.expectedResponse = expectedResponse
        }
    }

    /// Takes a sale's outcome to the acquirer, printing through the second argument; returns whether it went as expected.
    public typealias Settle = @Sendable (Sale, Outcome, @Sendable (String) -> Void) async -> Bool

    /// The sales the demo runs, in order, each with the outcome and acquirer answer it must get.
    public static let sales: [Sale] = [
        Sale(title: "Visa card, 12.34", profile: .visaCard(), amount: 1234, expected: .onlineRequest),
        Sale(
            title: "Mastercard phone with on-device CVM, 90.00", profile: .mastercardPhone(), amount: 9000,
            expected: .onlineRequest),
        Sale(
            title: "Visa phone that first asks to \"see phone\", 25.00", profile: .visaPhone(), amount: 2500,
            expected: .onlineRequest),
        Sale(
            title: "Visa card approved offline with fDDA, 8.50", profile: .visaCard(offline: true), amount: 850,
            expected: .approved),
        Sale(
            title: "UnionPay card (QuickPass), 38.00", profile: .unionPayCard(), amount: 3800, expected: .onlineRequest),
        Sale(
            title: "UnionPay card with China's national algorithms, approved offline with SM2 fDDA, 6.80",
            profile: .unionPaySMCard(offline: true), amount: 680, expected: .approved),
        Sale(
            title: "American Express card (ExpressPay, CDA), 56.00", profile: .amexCard(), amount: 5600,
            expected: .onlineRequest),
        Sale(
            title: "American Express phone that first asks to \"see phone\", 25.00", profile: .phone(.amex),
            amount: 2500, expected: .onlineRequest),
        Sale(title: "JCB card (J/Speedy, CDA), 15.00", profile: .jcbCard(), amount: 1500, expected: .onlineRequest),
        Sale(
            title: "Discover card approved offline with CDA, 7.20", profile: .discoverCard(offline: true), amount: 720,
            expected: .approved),
        Sale(
            title: "Mastercard card with a tampered CDA signature, 12.34",
            profile: {
                var p = CardProfile.mastercardCard()
                p.fault = .tamperedSignature
                return p
            }(), amount: 1234, expected: .endApplication),
        Sale(
            title: "Visa card the issuer declines (insufficient funds), 12.51", profile: .visaCard(), amount: 1251,
            expected: .onlineRequest, expectedResponse: "51"),
        Sale(
            title: "Mastercard card, the acquirer does not answer, 12.91", profile: .mastercardCard(), amount: 1291,
            expected: .onlineRequest, expectedResponse: nil),
    ]

    /// The CA keys the demo trusts: the bundled ones with the test keys, and the virtual cards' test CAs.
    public static func demoKeys() throws -> CAKeyStore {
        var keys = try CAKeyStore.bundled(includeTestKeys: true)
        try VirtualCard.registerTestCAs(in: &keys)
        return keys
    }

    /// The default terminal with a floor limit of 10.00 for every scheme but Mastercard, so the demo shows offline
    /// approvals.
    public static func demoTerminal() -> TerminalConfiguration {
        var config = TerminalConfiguration()
        config.applications = config.applications.map { a in
            var a = a
            if a.kernel != .mastercard { a.contactlessFloorLimit = 1000 }
            return a
        }
        return config
    }

    /// Runs the sales, printing through `say`; returns whether every sale ended as expected. `version` is the
    /// product's, for the first line (the version lives in TapdCore, above this module).
    public static func run(
        date: EMVDate, version: String, settle: Settle? = nil, say: @escaping @Sendable (String) -> Void
    ) async throws -> Bool {
        say("tapd \(version) — demo: contactless sales with virtual cards and phones, no hardware")
        say("Entry Point and kernels C-2 to C-7 (Mastercard, Visa, American Express, JCB, Discover, UnionPay);")
        say("signatures and cryptograms are real,")
        say("made with a test PKI generated now and the TEST issuer master key.")
        say("")
        let keys = try demoKeys()
        let config = demoTerminal()
        let ep = EntryPoint(
            configuration: config, keys: keys, risk: RiskManager(maxTapsPerHour: config.velocityMaxTapsPerHour))
        var allAsExpected = true
        for (n, sale) in sales.enumerated() {
            say("\(n + 1). \(sale.title)")
            let card = try VirtualCard(sale.profile)
            let txn = TransactionParameters(amount: sale.amount, date: date)
            guard let pre = ep.preProcess(txn) else {
                say("   no contactless application allows this amount")
                continue
            }
            say("   [\(UIMessage.presentCard.text)]")
            let clock = ContinuousClock()
            var restarted = false
            var taps = 0
            var outcome: Outcome
            repeat {
                taps += 1
                let recorder = RecordingChannel(card)
                let start = clock.now
                outcome = await ep.process(card: recorder, transaction: txn, combinations: pre, restarted: restarted)
                let elapsed = clock.now - start
                let apdus = await recorder.exchanges.count
                say(
                    "   tap \(taps): \(outcome.kernel ?? "-") \(outcome.aid.map(Hex.encode) ?? "") — \(apdus) APDUs in \(format(elapsed))"
                )
                if let ui = outcome.uiRequestOnOutcome { say("   [\(ui.message.text)]") }
                if outcome.kind == .seePhone || (outcome.kind == .tryAgain && taps < 3) {
                    say("   the cardholder looks at the phone and taps again")
                    if let ui = outcome.uiRequestOnRestart { say("   [\(ui.message.text)]") }
                    restarted = true
                    continue
                }
                break
            } while taps < 3
            say("   outcome: \(outcome.kind.rawValue) — \(outcome.reason ?? "")")
            say(
                "   card \(outcome.maskedPAN ?? "-"), CVM \(outcome.cvm.rawValue), TVR \(outcome.tvr?.description ?? "-")"
            )
            if let oda = outcome.oda {
                say(
                    "   offline data authentication \(oda.method.rawValue): \(oda.failure.map { "FAILED — \($0)" } ?? "passed")"
                )
            }
            if let c = outcome.cryptogram {
                say("   cryptogram \(c.kind.rawValue) \(Hex.encode(c.value)), ATC \(Hex.encode(c.atc))")
            }
            if let settle, outcome.kind == sale.expected, outcome.kind == .onlineRequest || outcome.kind == .approved {
                if !(await settle(sale, outcome, say)) { allAsExpected = false }
            } else if outcome.kind == .onlineRequest {
                switch try TestIssuer.verify(outcome.transactionData) {
                case .verified(let arpc): say("   test issuer: ARQC verified, approves with ARPC \(Hex.encode(arpc))")
                case .mismatch:
                    say("   test issuer: ARQC does NOT verify")
                    allAsExpected = false
                case .unsupported(let why): say("   test issuer: \(why)")
                }
            }
            if outcome.kind != sale.expected {
                say("   UNEXPECTED: \(sale.expected.rawValue) was expected")
                allAsExpected = false
            }
            say("")
        }
        say(allAsExpected ? "Demo complete: every sale ended as expected." : "Demo FAILED: see above.")
        return allAsExpected
    }

    static func format(_ d: Duration) -> String {
        let us = Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
        return us < 1000 ? "\(Int(us)) µs" : "\((us / 100).rounded() / 10) ms"
    }
}
