// What `tapd demo` shows until the daemon exists: one contactless Visa conversation with the sample card, driven
// through the real transport layer and checked with the real ODA and cryptogram code. Card data is masked in all
// output. The full Entry Point and kernels replace the hand-written steps here in the kernels work.
import TLV
import APDU
import EMVCrypto
import EMVKernel

public enum FoundationWalkthrough {
    public struct Summary: Sendable {
        public var odaPassed: Bool
        public var arqcVerified: Bool
        public var tamperedRejected: Bool
        public var exchanges: Int
    }

    /// Runs the walkthrough, printing through `say`. Returns what was verified.
    public static func run(amountMinorUnits amount: UInt64 = 1234, date: EMVDate,
                           say: @Sendable (String) -> Void) async throws -> Summary {
        say("tapd \(TapdVersion.string) — foundation demo: one Visa contactless tap against a virtual card")
        say("")
        let clock = ContinuousClock()
        let start = clock.now
        let pki = try SampleVisaCard.makePKI()
        say("Generated a test PKI in \(format(clock.now - start)): CA \(pki.ca.publicKey.bits) bits (RID \(Hex.encode(pki.rid)), index \(Hex.encode([pki.caIndex]))), issuer \(pki.issuer.publicKey.bits) bits, card \(pki.icc.publicKey.bits) bits")
        var keys = try CAKeyStore.bundled(includeTestKeys: true)
        try pki.register(in: &keys)
        say("CA key store: \(keys.keys.count) keys (scheme test keys + the demo CA), fingerprint \(keys.fingerprint)")
        say("")

        let card = SampleVisaCard(pki: pki)
        var terminal = TLVStore()
        terminal[0x9F66] = [0x32, 0x00, 0x40, 0x00]                  // TTQ: EMV mode, contact chip, signature, CDCVM
        terminal[0x9F02] = BCD.encode(amount, bytes: 6)!
        terminal[0x9F03] = [0, 0, 0, 0, 0, 0]
        terminal[0x9F1A] = [0x02, 0x76]                              // Germany
        terminal[0x95] = [0, 0, 0, 0, 0]
        terminal[0x5F2A] = [0x09, 0x78]                              // EUR
        terminal[0x9A] = date.yymmdd
        terminal[0x9C] = [0x00]
        terminal[0x9F37] = secureRandomBytes(4)

        let result = try await tap(card: card, terminal: terminal, keys: keys, date: date, say: say)
        say("")
        say("Now the same card, but the amount is changed after the card signed it (a relay or a tampered terminal):")
        let tampered = try await tap(card: card, terminal: terminal, keys: keys, date: date, tamperAmount: true, say: { _ in })
        say("  fDDA: \(tampered.oda.failure.map { "FAILED — \($0)" } ?? "passed (unexpected!)")")
        say("  ARQC as the issuer recomputes it: \(tampered.arqcMatches ? "matches (unexpected!)" : "does not match — the issuer declines")")
        say("")
        let summary = Summary(odaPassed: result.oda.succeeded, arqcVerified: result.arqcMatches,
                              tamperedRejected: !tampered.oda.succeeded && !tampered.arqcMatches, exchanges: result.exchanges)
        say(summary.odaPassed && summary.arqcVerified && summary.tamperedRejected
            ? "Demo complete: signatures and cryptogram verified, tampering caught."
            : "Demo FAILED: see above.")
        return summary
    }

    struct TapResult { var oda: ODAResult; var arqcMatches: Bool; var exchanges: Int }

    static func tap(card: SampleVisaCard, terminal: TLVStore, keys: CAKeyStore, date: EMVDate, tamperAmount: Bool = false,
                    say: @Sendable (String) -> Void) async throws -> TapResult {
        let pdol = try DataObjectList(parsing: SampleVisaCard.pdol)
        let pdolData = pdol.build(context: .c3) { terminal[$0] }
        let recorder = RecordingChannel(ScriptedChannel(try card.exchanges(pdolData: pdolData)))
        let transport = CardTransport(channel: recorder)
        var data = terminal

        func exchange(_ title: String, _ c: CommandAPDU) async throws -> ResponseAPDU {
            let r = try await transport.send(c)
            say("→ \(title): \(c)")
            say("← \(r.status)")
            for line in Describe.render(Describe.describe(r.data, context: .c3)).split(separator: "\n") { say("    \(line)") }
            return r
        }

        _ = try await exchange("SELECT PPSE", .select(name: CommandAPDU.ppseName))
        let fci = try await exchange("SELECT AID", .select(name: SampleVisaCard.aid))
        data.add(try TLVParser.parse(fci.data))
        let gpo = try await exchange("GET PROCESSING OPTIONS", .getProcessingOptions(pdolData: pdolData))
        data.add(try TLVParser.parse(gpo.data))

        var staticData = StaticDataToBeAuthenticated()
        let afl = try ApplicationFileLocator(data[0x94] ?? [])
        for e in afl.entries {
            for rec in e.firstRecord...e.lastRecord {
                let r = try await exchange("READ RECORD SFI \(e.sfi) record \(rec)", .readRecord(sfi: e.sfi, record: rec))
                data.add(try TLVParser.parse(r.data))
                if rec < e.firstRecord + e.odaRecordCount { staticData.add(record: r.data, sfi: e.sfi, recordNumber: rec) }
            }
        }
        if tamperAmount { data[0x9F02] = BCD.encode(99_999, bytes: 6)! }

        say("")
        let oda = OfflineDataAuthenticator(keys: keys, transactionDate: date)
        let sd = staticData.finish(sdaTagList: data[0x9F4A], aip: data[0x82])
        let clock = ContinuousClock()
        let t0 = clock.now
        let result: ODAResult
        switch sd {
        case .success(let s): result = oda.performFDDA(rid: Array(SampleVisaCard.aid.prefix(5)), data: data, staticData: s)
        case .failure(let f): result = ODAResult(method: .fdda, failure: f)
        }
        let odaTime = clock.now - t0
        var tvr = TerminalVerificationResults()
        result.apply(to: &tvr)
        say("fDDA (issuer certificate → ICC certificate → dynamic signature): \(result.succeeded ? "passed" : "FAILED — \(result.failure!)") in \(format(odaTime)); ICC dynamic number \(result.iccDynamicNumber.map(Hex.encode) ?? "-"); TVR \(tvr)")

        // The issuer's side: recompute the ARQC with the test IMK and answer with an ARPC (method 2, CVN 18).
        var t: [Tag: [UInt8]] = [:]
        for tag in [0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37] as [Tag] { t[tag] = data[tag] }
        let expected = try card.applicationCryptogram(terminal: t)
        let arqc = data[0x9F26] ?? []
        let matches = expected == arqc
        say("ARQC \(Hex.encode(arqc)) (CVN 18, ATC \(Hex.encode(data[0x9F36] ?? []))): issuer recomputation \(matches ? "matches" : "does NOT match")")
        if matches {
            let mk = try KeyDerivation.iccMasterKeyOptionA(issuerMasterKey: SampleVisaCard.testIssuerMasterKey, pan: card.pan,
                                                           panSequenceNumber: Hex.encode([card.panSequenceNumber]))
            let sk = try KeyDerivation.commonSessionKey(masterKey: mk, diversification: card.atc + [0, 0, 0, 0, 0, 0])
            let arpc = try ApplicationCryptogramAlgorithm.arpcMethod2(key: sk, arqc: arqc, csu: [0, 0, 0, 0])
            say("ARPC (method 2, CSU 00000000): \(Hex.encode(arpc))")
        }
        let ex = await recorder.exchanges
        let total = ex.reduce(Duration.zero) { $0 + $1.duration }
        say("\(ex.count) APDUs exchanged; card time \(format(total)); PAN shown only as \(CardDataMask.pan(card.pan))")
        return TapResult(oda: result, arqcMatches: matches, exchanges: ex.count)
    }

    static func format(_ d: Duration) -> String {
        let us = Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
        return us < 1000 ? "\(Int(us)) µs" : "\((us / 100).rounded() / 10) ms"
    }
}
