// tapd benchmarks (release mode): `make bench`. Targets from the issues; figures go to the README.

import APDU
import Acquirer
import EMVCrypto
import EMVKernel
import ISO8583
import Journal
import Simulators
import TLV
import TapdCore

print("tapd benchmarks — \(TapdVersion.string), release build")
print("")

// MARK: TLV — a typical card conversation's responses (PPSE, FCI, GPO, four records).
/// Records the responses of one transaction with a virtual card.
func conversation(_ p: CardProfile, keys: CAKeyStore, config: TerminalConfiguration = TerminalConfiguration())
    async throws -> [ScriptedExchange]
{
    let card = RecordingChannel(try VirtualCard(p))
    let ep = EntryPoint(configuration: config, keys: keys, risk: RiskManager())
    let txn = TransactionParameters(
        amount: 1234, date: EMVDate(year: 2026, month: 11, day: 26)!, unpredictableNumber: [1, 2, 3, 4])
    _ = await ep.process(card: card, transaction: txn, combinations: ep.preProcess(txn)!)
    return await card.exchanges.compactMap { e in e.response.map { ScriptedExchange(command: e.command, response: $0) }
    }
}
var simKeys = try CAKeyStore.bundled(includeTestKeys: true)
try VirtualCard.registerTestCAs(in: &simKeys)
let visaConversation = try await conversation(.visaCard(), keys: simKeys)
var responses: [[UInt8]] = visaConversation.compactMap {
    if case .bytes(let b) = $0.answer { return Array(b.dropLast(2)) }
    return nil
}
// A fourth record as an M/Chip-style card carries it: CDOL1, CDOL2, CVM List, IACs, currency and country data.
responses.append(
    TLV(
        tag: 0x70,
        children: [
            TLV(
                tag: 0x8C,
                value: [UInt8](hex: "9F02069F03069F1A0295055F2A029A039C019F37049F35019F45029F4C089F34039F21039F7C14")!),
            TLV(tag: 0x8D, value: [UInt8](hex: "910A8A0295059F37049F4C08")!),
            TLV(tag: 0x8E, value: [UInt8](hex: "000000000000000042031E031F00")!),
            TLV(tag: 0x9F0D, value: [UInt8](hex: "B450840000")!), TLV(tag: 0x9F0E, value: [UInt8](hex: "0000000000")!),
            TLV(tag: 0x9F0F, value: [UInt8](hex: "B470848000")!), TLV(tag: 0x5F28, value: [0x02, 0x76]),
            TLV(tag: 0x9F42, value: [0x09, 0x78]), TLV(tag: 0x5F25, value: [0x24, 0x01, 0x01]),
            TLV(tag: 0x9F08, value: [0x00, 0x02]),
            TLV(tag: 0x5F30, value: [0x02, 0x01]), TLV(tag: 0x9F44, value: [0x02]),
        ]
    ).encoded)
let conversationBytes = responses.reduce(0) { $0 + $1.count }
print(
    "TLV corpus: \(responses.count) responses of a Visa card (PPSE, FCI, GPO, 3 records) + an M/Chip record, \(conversationBytes) bytes"
)
report(
    try await measure("TLV strict parse of the conversation", bytesPerOp: conversationBytes) {
        for r in responses { blackHole(try TLVParser.parse(r)) }
    })
report(
    await measure("TLV lenient parse of the conversation", bytesPerOp: conversationBytes) {
        for r in responses { blackHole(TLVParser.parseLenient(r)) }
    })
report(
    try await measure("TLV parse + flatten into a TLVStore", bytesPerOp: conversationBytes) {
        var s = TLVStore()
        for r in responses { s.add(try TLVParser.parse(r)) }
        blackHole(s)
    })

// MARK: ODA — complete fDDA and CDA with a 1984-bit CA key.
print("")
let rid: [UInt8] = [0xA0, 0, 0, 0, 0x03]
let pki = try TestPKI(rid: rid, caIndex: 0xF1, caBits: 1984, issuerBits: 1408, iccBits: 1152)
var keys = CAKeyStore()
try pki.register(in: &keys)
let date = EMVDate(year: 2026, month: 11, day: 26)!
let oda = OfflineDataAuthenticator(keys: keys, transactionDate: date)
let pan = "4761739001010119"
let record = TLV(
    tag: 0x70, children: [TLV(tag: 0x5A, value: BCD.packDigits(pan)!), TLV(tag: 0x5F24, value: [0x28, 0x12, 0x31])]
).encoded
var sda = StaticDataToBeAuthenticated()
sda.add(record: record, sfi: 1, recordNumber: 1)
let staticData = try sda.finish(sdaTagList: [0x82], aip: [0x39, 0x00]).get()
let (ic, ir) = try pki.ca.issuerCertificate(
    for: pki.issuer.publicKey, issuerIdentifier: "476173", expiryMMYY: [0x12, 0x29])
let (cc, cr) = try pki.issuer.iccCertificate(
    for: pki.icc.publicKey, pan: pan, expiryMMYY: [0x12, 0x28], staticData: staticData)
var data = TLVStore()
data[0x5A] = BCD.packDigits(pan)
data[0x8F] = [0xF1]
data[0x90] = ic
data[0x9F32] = [0x03]
data[0x9F46] = cc
data[0x9F47] = [0x03]
if !ir.isEmpty { data[0x92] = ir }
if !cr.isEmpty { data[0x9F48] = cr }
data[0x9F37] = [1, 2, 3, 4]
data[0x9F02] = [0, 0, 0, 0, 0x12, 0x34]
data[0x5F2A] = [0x09, 0x78]
data[0x9F69] = [0x01, 9, 9, 9, 9, 0, 0]
data[0x9F36] = [0x00, 0x01]
data[0x9F4B] = try pki.icc.signedDynamicData(
    iccDynamicData: [0x02, 0xAB, 0xCD, 0x00, 0x01],
    terminalDynamicData: [1, 2, 3, 4, 0, 0, 0, 0, 0x12, 0x34, 0x09, 0x78, 0x01, 9, 9, 9, 9, 0, 0])
precondition(oda.performFDDA(rid: rid, data: data, staticData: staticData).succeeded, "benchmark fixture must verify")
print(
    "ODA keys: CA \(pki.ca.publicKey.bits) bits, issuer \(pki.issuer.publicKey.bits) bits, ICC \(pki.icc.publicKey.bits) bits, exponent 3"
)
report(
    await measure("fDDA complete (issuer cert + ICC cert + SDAD)") {
        blackHole(oda.performFDDA(rid: rid, data: data, staticData: staticData))
    })

// CDA on a GENERATE AC response.
let pdol: [UInt8] = [0, 0, 0, 0, 0x12, 0x34]
let cdol: [UInt8] = [0, 0, 0, 0, 0x12, 0x34, 1, 2, 3, 4]
let cid = TLV(tag: 0x9F27, value: [0x80]).encoded
let atc = TLV(tag: 0x9F36, value: [0, 1]).encoded
let tdhc = Digest.sha1(pdol + cdol + cid + atc)
let sdad = try pki.icc.signedDynamicData(
    iccDynamicData: [0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x80] + [UInt8](repeating: 0xAC, count: 8) + tdhc,
    terminalDynamicData: [1, 2, 3, 4])
let genac = TLV(tag: 0x77, value: cid + atc + TLV(tag: 0x9F4B, value: sdad).encoded).encoded
precondition(
    oda.performCDA(
        rid: rid, data: data, staticData: staticData, pdolData: pdol, cdolData: cdol,
        generateACResponse: genac, un: [1, 2, 3, 4]
    ).succeeded, "benchmark fixture must verify")
report(
    await measure("CDA complete (issuer cert + ICC cert + SDAD + TDHC)") {
        blackHole(
            oda.performCDA(
                rid: rid, data: data, staticData: staticData, pdolData: pdol, cdolData: cdol,
                generateACResponse: genac, un: [1, 2, 3, 4]))
    })
report(
    await measure("RSA recovery, 1984-bit key, exponent 3") {
        blackHole(try? pki.ca.publicKey.apply(ic))
    })

// MARK: Kernels — a whole transaction in process against a card with zero latency (a replay of the card's answers).
print("")
let mastercardConversation = try await conversation(.mastercardCard(), keys: simKeys)
// Every scheme but Mastercard with a floor limit of 100.00: the offline cards are approved offline at 12.34.
var offlineConfig = TerminalConfiguration()
offlineConfig.applications = offlineConfig.applications.map {
    var a = $0
    if a.kernel != .mastercard { a.contactlessFloorLimit = 10_000 }
    return a
}
let visaOfflineConversation = try await conversation(.visaCard(offline: true), keys: simKeys, config: offlineConfig)
var kernelCases: [(String, [ScriptedExchange], TerminalConfiguration, OutcomeKind)] = [
    ("Visa qVSDC online (C-3), 6 APDUs", visaConversation, TerminalConfiguration(), OutcomeKind.onlineRequest),
    ("Visa qVSDC offline with fDDA (C-3), 6 APDUs", visaOfflineConversation, offlineConfig, .approved),
    (
        "Mastercard M/Chip with RRP + CDA (C-2), 8 APDUs", mastercardConversation, TerminalConfiguration(),
        .onlineRequest
    ),
]
for (name, profile, offline) in [
    ("American Express ExpressPay online (C-4)", CardProfile.amexCard(), false),
    ("American Express ExpressPay offline with CDA (C-4)", .amexCard(offline: true), true),
    ("JCB J/Speedy online (C-5)", .jcbCard(), false),
    ("JCB J/Speedy offline with CDA (C-5)", .jcbCard(offline: true), true),
    ("Discover D-PAS online (C-6)", .discoverCard(), false),
    ("Discover D-PAS offline with CDA (C-6)", .discoverCard(offline: true), true),
    ("UnionPay qPBOC online (C-7)", .unionPayCard(), false),
    ("UnionPay qPBOC offline with RSA fDDA (C-7)", .unionPayCard(offline: true), true),
    ("UnionPay qPBOC online, SM4 cryptogram (C-7)", .unionPaySMCard(), false),
    ("UnionPay qPBOC offline with SM2 fDDA (C-7)", .unionPaySMCard(offline: true), true),
] {
    let config = offline ? offlineConfig : TerminalConfiguration()
    let conv = try await conversation(profile, keys: simKeys, config: config)
    kernelCases.append(("\(name), \(conv.count) APDUs", conv, config, offline ? .approved : .onlineRequest))
}
for (name, conv, config, expected) in kernelCases {
    let entryPoint = EntryPoint(configuration: config, keys: simKeys, risk: RiskManager())
    let txn = TransactionParameters(
        amount: 1234, date: EMVDate(year: 2026, month: 11, day: 26)!, unpredictableNumber: [1, 2, 3, 4])
    let pre = entryPoint.preProcess(txn)!
    // A replay of a relay resistance exchange must reuse the recorded entropy (the card signed it).
    var overrides: [Tag: [UInt8]] = [:]
    if let errd = conv.first(where: { $0.command.count >= 9 && $0.command[1] == 0xEA }) {
        overrides[0xDF8301] = Array(errd.command[5..<9])
    }
    let check = await entryPoint.process(
        card: ScriptedChannel(conv, matching: .replay), transaction: txn, combinations: pre,
        overrides: overrides, timingChecks: false)
    precondition(
        check.kind == expected && check.oda?.failure == nil,
        "benchmark transaction must succeed: \(check.kind) \(check.reason ?? "")")
    report(
        await measure("Transaction: \(name)") {
            let card = ScriptedChannel(conv, matching: .replay)
            blackHole(
                await entryPoint.process(
                    card: card, transaction: txn, combinations: pre, overrides: overrides, timingChecks: false))
        })
}

// MARK: ISO 8583 — pack and unpack a typical 0200 with DE 55 (the online request of the Mastercard transaction).
print("")
let mcOnline = await entryPoint(for: mastercardConversation, keys: simKeys)
let de55 = ICCData.build { mcOnline.transactionData[$0] }
let request = Messages.request(
    "0200",
    CardTransaction(
        pan: "5413330089020011", track2: "5413330089020011D2812201100000000000",
        expiry: "2812", panSequenceNumber: "001", amount: 1234, currencyCode: 978, iccData: de55),
    terminal: TerminalIdentity(terminalID: "TAPD0001", merchantID: "TAPD00000000001", acquirerInstitutionID: "123456"),
    stan: "000001", rrn: "633009000001")
for (name, spec) in [("iso87-ascii", MessageSpec.iso87ASCII), ("iso87-bcd", MessageSpec.iso87BCD())] {
    let codec = try ISO8583Codec(spec: spec)
    let packed = try codec.pack(request)
    let back = try codec.unpack(packed)
    precondition(back == request)
    print("0200 with DE 55 (\(de55.count) bytes of ICC data), \(name): \(packed.count) bytes")
    let p = try await measure("ISO 8583 pack, \(name)") { blackHole(try codec.pack(request)) }
    report(p)
    print("   → \(Int(1e9 / p.nsPerOp)) messages/s on one core")
    let u = try await measure("ISO 8583 unpack, \(name)") { blackHole(try codec.unpack(packed)) }
    report(u)
    print("   → \(Int(1e9 / u.nsPerOp)) messages/s on one core")
}

/// Replays a recorded conversation once and returns the outcome (for the data of a realistic request).
func entryPoint(for conv: [ScriptedExchange], keys: CAKeyStore) async -> Outcome {
    let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
    let txn = TransactionParameters(
        amount: 1234, date: EMVDate(year: 2026, month: 11, day: 26)!, unpredictableNumber: [1, 2, 3, 4])
    var overrides: [Tag: [UInt8]] = [:]
    if let errd = conv.first(where: { $0.command.count >= 9 && $0.command[1] == 0xEA }) {
        overrides[0xDF8301] = Array(errd.command[5..<9])
    }
    return await ep.process(
        card: ScriptedChannel(conv, matching: .replay), transaction: txn, combinations: ep.preProcess(txn)!,
        overrides: overrides, timingChecks: false)
}

// MARK: Acquirer link — loopback TLS to the simulator with the journal on disk.
print("")
let mcTrack2 = mcOnline.transactionData[0x57].map { Hex.encode($0).replacingOccurrences(of: "F", with: "") }
let mcCard = CardTransaction(
    pan: CardIdentity.pan(from: mcOnline.transactionData), track2: mcTrack2, expiry: "2812", panSequenceNumber: "001",
    amount: 1234, currencyCode: 978, iccData: de55)
try await benchmarkAcquirer(card: mcCard)
