// The bodies of tapd's fuzz targets, shared by the libFuzzer binary (`make fuzz`, Fuzz/) and the seeded fuzz
// smoke that runs in `make test`. Each target feeds hostile bytes to a parser of card or reader input and checks
// the invariants that must hold whatever the input: no crash, no hang, strict and lenient parsers agree.

import APDU
import EMVCrypto
import EMVKernel
import ISO8583
import TLV

public enum FuzzTargets {
    /// Every parser that reads card bytes, DOL handling, and ODA certificate recovery.
    public static func cardInput(_ bytes: [UInt8], keys: CAKeyStore) {
        // TLV: strict parse; on success the re-encoding must parse to the same objects.
        if let objs = try? TLVParser.parse(bytes) {
            let again = try? TLVParser.parse(objs.encoded)
            precondition(again == objs, "re-encoded TLV does not parse back to the same objects")
            _ = try? TLVParser.rawObjects(bytes[...])
        }
        // Lenient parse and the human description never throw and never trap.
        let lenient = TLVParser.parseLenient(bytes)
        _ = Describe.render(Describe.describe(bytes))
        var store = TLVStore()
        store.add(lenient.objects)

        // DOLs: parse, build against the store, split back.
        if let dol = try? DataObjectList(parsing: bytes) {
            precondition(dol.totalLength <= DataObjectList.maxTotalLength)
            let data = dol.build { store[$0] }
            precondition(data.count == dol.totalLength)
            precondition(dol.split(data) != nil)
        }
        _ = try? ApplicationFileLocator(bytes)
        // A recorded trace (tapctl replay reads Proxmark3 files from anyone): frames, 14443-4 reassembly, and the
        // terminal data read back from the commands it holds.
        _ = RecordedTerminal.data(from: Proxmark3Trace.exchanges(bytes))
        _ = CVMList(bytes)
        _ = CommandAPDU(bytes: bytes)
        _ = try? ResponseAPDU(bytes: bytes)

        // ODA with hostile certificates and signatures: everything the card supplies comes from the input.
        var s = StaticDataToBeAuthenticated()
        s.add(record: bytes, sfi: 1, recordNumber: 1)
        let staticData = (try? s.finish(sdaTagList: store[0x9F4A], aip: store[0x82]).get()) ?? []
        let oda = OfflineDataAuthenticator(keys: keys, transactionDate: EMVDate(year: 2026, month: 1, day: 1)!)
        for rid in [[0xA0, 0, 0, 0, 0x03], [0xA0, 0, 0, 0, 0x04]] as [[UInt8]] {
            _ = oda.performSDA(rid: rid, data: store, staticData: staticData)
            _ = oda.performFDDA(rid: rid, data: store, staticData: staticData)
            _ = oda.performDDA(
                rid: rid, data: store, staticData: staticData, ddolData: [1, 2, 3, 4],
                internalAuthenticateResponse: bytes)
            _ = oda.performCDA(
                rid: rid, data: store, staticData: staticData, pdolData: [], cdolData: [],
                generateACResponse: bytes, un: [1, 2, 3, 4])
        }
        // Raw recovery against a real test CA key with input of the right length.
        if let ca = keys.key(rid: [0xA0, 0, 0, 0, 0x03], index: 0x92), !bytes.isEmpty {
            var cert = [UInt8](repeating: 0, count: ca.key.modulus.count)
            for i in 0..<cert.count { cert[i] = bytes[i % bytes.count] }
            if let x = try? SignedDataRecovery.recover(cert, key: ca.key, object: .issuerCertificate, format: 0x02) {
                _ = PublicKeyCertificate.issuer(recovered: x)
                _ = PublicKeyCertificate.icc(recovered: x)
                _ = try? SignedDynamicApplicationData(recovered: x)
            }
        }
    }

    /// An acquirer's answer (hostile too): framing, unpacking in both profiles, the response and its DE 55.
    /// Whatever unpacks must pack back to the same message.
    public static func acquirerInput(_ bytes: [UInt8]) {
        _ = try? ISOFraming.bodyLength(bytes, .twoByteBinary, max: 8192)
        _ = try? ISOFraming.bodyLength(bytes, .twoByteBCD, max: 8192)
        _ = try? ISOFraming.bodyLength(bytes, .fourByteASCII, max: 8192)
        for codec in codecs {
            guard let m = try? codec.unpack(bytes) else { continue }
            _ = m.description
            _ = try? AuthorizationResponse(m)
            if let again = try? codec.unpack(try codec.pack(m)) {
                precondition(again == m, "ISO 8583 round trip changed the message")
            }
        }
        _ = try? ICCData.parseResponse(bytes)
    }
    static let codecs: [ISO8583Codec] = [try! ISO8583Codec(spec: .iso87ASCII), try! ISO8583Codec(spec: .iso87BCD())]

    /// CA key and revocation files (operator input, but read at start-up by a daemon that must not crash).
    public static func keyFile(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        var s = CAKeyStore()
        _ = try? s.load(text: text, source: "fuzz", isTest: true)
        _ = try? s.loadRevocations(text: text, source: "fuzz")
    }
}

/// A small deterministic generator (SplitMix64) for reproducible fuzz smoke runs.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Mutations in the style of libFuzzer's: flip bits, change bytes, insert, delete, splice lengths.
public enum Mutator {
    public static func mutate(_ input: [UInt8], using rng: inout SplitMix64) -> [UInt8] {
        var b = input
        let rounds = Int.random(in: 1...4, using: &rng)
        for _ in 0..<rounds {
            switch Int.random(in: 0..<7, using: &rng) {
            case 0 where !b.isEmpty:
                let i = Int.random(in: 0..<b.count, using: &rng)
                b[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            case 1 where !b.isEmpty:
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 2:
                b.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...b.count, using: &rng))
            case 3 where !b.isEmpty:
                b.remove(at: Int.random(in: 0..<b.count, using: &rng))
            case 4 where !b.isEmpty:
                // Interesting length bytes: long forms, indefinite, 0x7F/0x80 boundaries.
                let interesting: [UInt8] = [0x00, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0xFF, 0x1F, 0x9F, 0xBF]
                b[Int.random(in: 0..<b.count, using: &rng)] = interesting.randomElement(using: &rng)!
            case 5 where b.count > 2:
                let cut = Int.random(in: 1..<b.count, using: &rng)
                b = Array(b.prefix(cut))
            default:
                b += (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
        }
        return b
    }
}

extension FuzzTargets {
    /// Entry Point and the kernels against a recorded conversation in which one response is replaced by hostile
    /// bytes: whatever the card says, the transaction must end in an outcome.
    public static func kernel(
        conversation: [ScriptedExchange], replace index: Int, with hostile: [UInt8],
        keys: CAKeyStore
    ) async -> Outcome {
        var ex = conversation
        if !ex.isEmpty {
            let i = index % ex.count
            ex[i] = ScriptedExchange(command: ex[i].command, response: hostile)
        }
        let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
        let txn = TransactionParameters(
            amount: 1234, date: EMVDate(year: 2026, month: 11, day: 26)!, unpredictableNumber: [1, 2, 3, 4])
        guard let pre = ep.preProcess(txn) else { return EntryPoint.noContactlessOutcome() }
        let o = await ep.process(
            card: ScriptedChannel(ex, matching: .replay), transaction: txn, combinations: pre, timingChecks: false)
        KernelFuzz.check(o)
        return o
    }
}
