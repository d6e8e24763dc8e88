// A contactless card or phone in software: it answers SELECT PPSE, SELECT AID, GET PROCESSING OPTIONS,
// READ RECORD, EXCHANGE RELAY RESISTANCE DATA and GENERATE AC from the card side, as its persona dictates, with
// real fDDA/CDA signatures and real cryptograms (Visa CVN 18, Mastercard CVN 16). Product code: `tapd demo`
// and the integration tests run it behind pcscd/vpcd, the PN532 emulator or in process.

import APDU
import EMVCrypto
import EMVKernel
import Foundation
import TLV

/// A contactless card or phone in software: answers C-APDUs as its `CardProfile` dictates,
/// with real signatures and cryptograms made with TEST keys.
public final class VirtualCard: CardChannel {
    /// The persona the card plays.
    public let profile: CardProfile
    /// The test PKI whose keys sign the card's certificates and dynamic data.
    public let pki: TestPKI
    let state = State()
    let data: CardData

    /// The test CA index the simulators use under each RID (not a scheme index, so never a real key).
    public static let testCAIndex: UInt8 = 0xF0

    /// A card of `profile` signed by `pki`; throws if its certificates cannot be made.
    public init(_ profile: CardProfile, pki: TestPKI) throws {
        self.profile = profile
        self.pki = pki
        self.data = try CardData(profile, pki: pki)
    }

    /// One PKI per scheme, generated once per process (key generation takes a fraction of a second).
    public static func pki(for scheme: CardProfile.Scheme) -> TestPKI {
        shared.rsa[CardProfile.Scheme.allCases.firstIndex(of: scheme)!]
    }
    /// The SM2 chain of the PBOC 3.0 cards that use the national algorithms (under the UnionPay RID).
    public static var sm2PKI: TestSM2PKI { shared.sm2 }
    /// The test CA index of the SM2 chain (beside the RSA test CA's under the same RID).
    public static let testSM2CAIndex: UInt8 = 0xF1

    /// Registers every test CA of the virtual cards (RSA per scheme, and the SM2 one) in `store`.
    public static func registerTestCAs(in store: inout CAKeyStore) throws {
        for p in shared.rsa { try p.register(in: &store) }
        try shared.sm2.register(in: &store)
    }

    /// The test CAs of the virtual cards as a .capk key file (for a daemon under test).
    public static var testCAKeyFile: String { shared.rsa.map(\.capkLine).joined() + shared.sm2.capkLine }

    /// The shared chains as text (for `TAPD_TEST_PKI`).
    public static var exportedTestPKI: String { shared.rsa.map { $0.export() }.joined() + shared.sm2.export() }

    private struct SharedPKI: Sendable {
        let rsa: [TestPKI]
        let sm2: TestSM2PKI

        static func generate() -> SharedPKI {
            SharedPKI(
                rsa: CardProfile.Scheme.allCases.map { try! TestPKI(rid: $0.rid, caIndex: testCAIndex) },
                sm2: try! TestSM2PKI(rid: CardProfile.Scheme.unionpay.rid, caIndex: testSM2CAIndex))
        }
        static func load(_ text: String) -> SharedPKI? {
            guard let rsa = try? TestPKI.load(text), rsa.map(\.rid) == CardProfile.Scheme.allCases.map(\.rid),
                let sm2 = try? TestSM2PKI.load(text)
            else { return nil }
            return SharedPKI(rsa: rsa, sm2: sm2)
        }
        var text: String { rsa.map { $0.export() }.joined() + sm2.export() }
    }

    /// Generated, unless $TAPD_TEST_PKI names a file: then read from it (written first if missing), so that several
    /// processes — a test, `tapd-vicc`, a daemon under test — share one test PKI.
    private static let shared: SharedPKI = {
        guard let path = ProcessInfo.processInfo.environment["TAPD_TEST_PKI"], !path.isEmpty else {
            return .generate()
        }
        if let text = try? String(contentsOfFile: path, encoding: .utf8), let pkis = SharedPKI.load(text) {
            return pkis
        }
        let pkis = SharedPKI.generate()
        let tmp = path + ".\(getpid())"
        try? pkis.text.write(toFile: tmp, atomically: true, encoding: .utf8)
        if rename(tmp, path) != 0 { unlink(tmp) }
        // Another process may have won the race: use what is on disk.
        if let text = try? String(contentsOfFile: path, encoding: .utf8), let onDisk = SharedPKI.load(text) {
            return onDisk
        }
        return pkis
    }()

    /// A card of `profile` signed by the shared test PKI of its scheme.
    public convenience init(_ profile: CardProfile) throws {
        try self.init(profile, pki: Self.pki(for: profile.scheme))
    }

    /// The current ATC (for tests that recompute the cryptogram).
    public var atc: UInt16 { get async { await state.atc } }

    /// Answers one C-APDU with the R-APDU (data and status word); throws `CardError.timeout` when
    /// the persona stops answering at this instruction.
    public func transmit(_ bytes: [UInt8]) async throws -> [UInt8] {
        guard let c = CommandAPDU(bytes: bytes) else { return [0x67, 0x00] }
        if case .stopsAnswering(let ins) = profile.fault, c.ins == ins { throw CardError.timeout }
        switch (c.cla, c.ins) {
        case (0x00, 0xA4): return await select(c)
        case (0x80, 0xA8): return try await gpo(c)
        case (0x00, 0xB2): return readRecord(c)
        case (0x80, 0xEA): return await exchangeRelayResistanceData(c)
        case (0x80, 0xAE): return try await generateAC(c)
        case (0x80, 0xCA): return await getData(c)
        default: return [0x6D, 0x00]
        }
    }

    // MARK: Commands

    private func select(_ c: CommandAPDU) async -> [UInt8] {
        if c.data == CommandAPDU.ppseName { return data.ppse + [0x90, 0x00] }
        if c.data.starts(with: profile.aid) {
            await state.reset()
            return data.fci + [0x90, 0x00]
        }
        return [0x6A, 0x82]
    }

    private func gpo(_ c: CommandAPDU) async throws -> [UInt8] {
        guard c.data.first == 0x83, let tlv = try? TLVParser.parseOne(c.data) else { return [0x67, 0x00] }
        let pdolData = Array(tlv.value)
        var t: [Tag: [UInt8]] = [:]
        if let dol = data.pdol {
            guard let parts = dol.split(pdolData) else { return [0x67, 0x00] }
            for (tag, v) in parts { t[tag] = v }
        } else if !pdolData.isEmpty {
            return [0x67, 0x00]
        }
        await state.setPDOL(pdolData, values: t)
        if profile.scheme != .mastercard, profile.formFactor == .phone, profile.seePhoneOnFirstTap,
            await state.shouldAskToSeePhone()
        {
            return [0x69, 0x86]
        }
        switch profile.scheme {
        case .mastercard, .amex, .jcb: return try await staticGPO(t)
        case .visa: return try await visaGPO(t)
        case .unionpay: return try await unionPayGPO(t)
        case .discover: return try await discoverGPO(t, pdolData: await state.pdolData)
        }
    }

    /// Visa qVSDC: the cryptogram comes with GPO (Book C-3).
    private func visaGPO(_ t: [Tag: [UInt8]]) async throws -> [UInt8] {
        let ttq = t[0x9F66] ?? [0, 0, 0, 0]
        let atcBytes = await state.nextATC()
        let onlineRequired = ttq[1] & 0x80 != 0
        // A refund (9C 20 in the PDOL data) is answered with an AAC, as qVSDC cards answer refunds.
        let refund = t[0x9C] == [0x20]
        let kind: ApplicationCryptogram.Kind =
            refund ? .aac : (onlineRequired || !profile.offlineCapable) ? (ttq[0] & 0x08 != 0 ? .aac : .arqc) : .tc
        // CTQ: phones report their on-device CVM; plastic asks for what the reader offers above the CVM limit.
        var ctq: [UInt8] = [profile.offlineCapable ? 0x20 : 0x00, 0x00]
        if profile.formFactor == .phone {
            if ttq[2] & 0x40 != 0 { ctq[1] |= 0x80 }
        } else if ttq[1] & 0x40 != 0 {
            if profile.wantsOnlinePINAboveCVMLimit { ctq[0] |= 0x80 } else if ttq[0] & 0x02 != 0 { ctq[0] |= 0x40 }
        }
        let cardAuth: [UInt8] = [0x01] + secureRandomBytes(4) + ctq
        // VIS IAD: length 06, DKI, CVN 18, then the CVR whose byte 1 is its length (03) and byte 2 b6-b5 the type.
        let cvr: [UInt8] = [0x03, kind == .arqc ? 0x20 : kind == .tc ? 0x10 : 0x00, 0x00, 0x00]
        let iad: [UInt8] = [0x06, 0x01, 0x12] + cvr
        let aip: [UInt8] = profile.noRecords ? [0x00, 0x00] : [0x20, 0x00]
        let ac = try VirtualCard.cvn18(profile: profile, terminal: t, aip: aip, atc: atcBytes, iad: iad)
        var objects: [TLV] = [TLV(tag: 0x82, value: aip)]
        if !profile.noRecords { objects.append(TLV(tag: 0x94, value: data.afl)) }
        objects += [
            TLV(tag: 0x9F36, value: atcBytes), TLV(tag: 0x9F26, value: ac),
            TLV(tag: 0x9F27, value: [kind.cid]),
            TLV(tag: 0x9F10, value: iad), TLV(tag: 0x9F6C, value: ctq), TLV(tag: 0x9F69, value: cardAuth),
        ]
        if profile.noRecords {
            objects += [TLV(tag: 0x57, value: data.track2), TLV(tag: 0x5F34, value: [profile.panSequenceNumber])]
        }
        if profile.formFactor == .phone { objects.append(TLV(tag: 0x9F6E, value: [0x23, 0x88, 0x00, 0x00])) }
        if !profile.noRecords, kind == .tc || ttq[0] & 0x01 != 0 {
            let terminal = (t[0x9F37] ?? []) + (t[0x9F02] ?? []) + (t[0x5F2A] ?? []) + cardAuth
            var sdad = try pki.icc.signedDynamicData(iccDynamicData: [0x02] + atcBytes, terminalDynamicData: terminal)
            if profile.fault == .tamperedSignature { sdad[sdad.count / 2] ^= 0x5A }
            objects.append(TLV(tag: 0x9F4B, value: sdad))
        }
        var body = objects.encoded
        if profile.fault == .malformedGPOResponse,
            let i = body.indices.dropLast(2).first(where: { body[$0] == 0x9F && body[$0 + 1] == 0x10 })
        {
            body[i + 2] = 0x7F  // 9F10 now claims 127 bytes
        }
        return TLV(tag: 0x77, value: body).encoded + [0x90, 0x00]
    }

    private func readRecord(_ c: CommandAPDU) -> [UInt8] {
        let sfi = c.p2 >> 3
        guard c.p2 & 0x07 == 0x04, let r = data.records[sfi]?[c.p1] else { return [0x6A, 0x83] }
        return r + [0x90, 0x00]
    }

    private func exchangeRelayResistanceData(_ c: CommandAPDU) async -> [UInt8] {
        guard profile.scheme == .mastercard, c.data.count == 4 else { return [0x6D, 0x00] }
        let device = secureRandomBytes(4)
        // Min time 0, max time 5.0 ms, estimated transmission time 1.8 ms (units of 100 µs).
        let fields: [UInt8] = device + [0x00, 0x00, 0x00, 0x32, 0x00, 0x12]
        await state.setRelayResistance(c.data + fields)
        return TLV(tag: 0x80, value: fields).encoded + [0x90, 0x00]
    }

    private func getData(_ c: CommandAPDU) async -> [UInt8] {
        if c.p1 == 0x9F, c.p2 == 0x36 {
            let atc = await state.atc
            return TLV(tag: 0x9F36, value: [UInt8(atc >> 8), UInt8(atc & 0xFF)]).encoded + [0x90, 0x00]
        }
        return [0x6A, 0x88]
    }

    /// M/Chip GENERATE AC (Book 3 §6.5.5; CDA per Book 2 §6.6; CVN 16 cryptogram).
    private func generateAC(_ c: CommandAPDU) async throws -> [UInt8] {
        guard let dol = data.cdol1, let parts = dol.split(c.data) else { return [0x67, 0x00] }
        if profile.scheme == .amex || profile.scheme == .jcb { return try await emvModeGenerateAC(c, terminal: parts) }
        var t: [Tag: [UInt8]] = [:]
        for (tag, v) in parts { t[tag] = v }
        let requested = c.p1 & 0xC0
        let cda = c.p1 & 0x10 != 0
        let atcBytes = await state.nextATC()
        var kind = answer(to: requested)
        var pcii: [UInt8]? = profile.formFactor == .phone ? [0x01, 0x00, 0x00] : nil
        if profile.formFactor == .phone, profile.seePhoneOnFirstTap, await state.shouldAskToSeePhoneAtGenerateAC() {
            kind = .aac
            pcii = [0x01, 0x00, 0x01]
        }
        let cvr: [UInt8] = [kind == .arqc ? 0x20 : kind == .tc ? 0x10 : 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
        let iad: [UInt8] = [0x01, 0x10] + cvr + [0x00, 0x00]
        let ac = try VirtualCard.cvn16(profile: profile, terminal: t, aip: data.aip, atc: atcBytes, cvr: cvr)
        let cid = kind.cid
        var objects: [TLV] = [
            TLV(tag: 0x9F27, value: [cid]), TLV(tag: 0x9F36, value: atcBytes), TLV(tag: 0x9F10, value: iad),
        ]
        if let pcii { objects.append(TLV(tag: 0xDF4B, value: pcii)) }
        if cda {
            let pdolData = await state.pdolData
            var rrp: [UInt8] = []
            if let r = await state.relayResistance, profile.fault != .unsignedRelayResistance { rrp = r }
            objects.append(
                try cdaSignature(
                    cid: cid, ac: ac, hashed: pdolData + c.data + objects.encoded, un: t[0x9F37] ?? [], trailing: rrp))
        } else {
            objects.insert(TLV(tag: 0x9F26, value: ac), at: 2)
        }
        return TLV(tag: 0x77, children: objects).encoded + [0x90, 0x00]
    }

    /// Book 3 §6.5.5: the cryptogram a card answers GENERATE AC's reference control parameter (P1 b8–b7) with — the
    /// type asked for or a lower one: a TC only when the card approves offline.
    func answer(to requested: UInt8) -> ApplicationCryptogram.Kind {
        requested == 0x00 ? .aac : (requested == 0x40 && profile.offlineCapable ? .tc : .arqc)
    }

    /// Book 2 §6.6.1: the CDA signature (9F4B) over ICC Dynamic Number ‖ CID ‖ cryptogram ‖ the transaction data hash
    /// code of `hashed` (‖ `trailing`, C-2's relay resistance values), with the UN as terminal dynamic data; a
    /// "tampered signature" persona corrupts it after signing.
    func cdaSignature(cid: UInt8, ac: [UInt8], hashed: [UInt8], un: [UInt8], trailing: [UInt8] = []) throws -> TLV {
        let dynamic = [0x08] + secureRandomBytes(8) + [cid] + ac + Digest.sha1(hashed) + trailing
        var sdad = try pki.icc.signedDynamicData(iccDynamicData: dynamic, terminalDynamicData: un)
        if profile.fault == .tamperedSignature { sdad[sdad.count / 2] ^= 0x5A }
        return TLV(tag: 0x9F4B, value: sdad)
    }

    // MARK: Cryptograms (what an issuer host recomputes)

    /// Visa CVN 18: MAC (ISO 9797-1 alg. 3, padding method 2) under the common session key with R = ATC ‖ 00…
    /// over 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 and the whole IAD.
    public static func cvn18(profile: CardProfile, terminal t: [Tag: [UInt8]], aip: [UInt8], atc: [UInt8], iad: [UInt8])
        throws -> [UInt8]
    {
        let input =
            ([0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37] as [Tag]).flatMap { t[$0] ?? [] } + aip + atc
            + iad
        let sk = try KeyDerivation.commonSessionKey(
            masterKey: profile.iccMasterKey, diversification: atc + [0, 0, 0, 0, 0, 0])
        return try ApplicationCryptogramAlgorithm.generate(key: sk, data: input, padding: .method2)
    }

    /// Mastercard CVN 16: session key with R = ATC ‖ 0000 ‖ UN, over 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 and
    /// the CVR, padding method 2.
    public static func cvn16(profile: CardProfile, terminal t: [Tag: [UInt8]], aip: [UInt8], atc: [UInt8], cvr: [UInt8])
        throws -> [UInt8]
    {
        let input =
            ([0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37] as [Tag]).flatMap { t[$0] ?? [] } + aip + atc
            + cvr
        let sk = try KeyDerivation.commonSessionKey(
            masterKey: profile.iccMasterKey, diversification: atc + [0, 0] + (t[0x9F37] ?? [0, 0, 0, 0]))
        return try ApplicationCryptogramAlgorithm.generate(key: sk, data: input, padding: .method2)
    }

    // MARK: State

    actor State {
        var atc: UInt16 = 0x0041
        var pdolData: [UInt8] = []
        var pdolValues: [Tag: [UInt8]] = [:]
        var relayResistance: [UInt8]? = nil
        var seePhoneShown = false
        var declineNextGenerateAC = false

        func reset() {
            pdolData = []
            pdolValues = [:]
            relayResistance = nil
        }
        func setPDOL(_ d: [UInt8], values: [Tag: [UInt8]]) {
            pdolData = d
            pdolValues = values
        }
        func setRelayResistance(_ v: [UInt8]) { relayResistance = v }
        func setDeclineNextGenerateAC() { declineNextGenerateAC = true }
        /// An ExpressPay phone whose user has not yet verified declines the GENERATE AC of that tap.
        func takeDeclineNextGenerateAC() -> Bool {
            defer { declineNextGenerateAC = false }
            return declineNextGenerateAC
        }
        /// The ATC of the next cryptogram, as the card sends it (2 bytes).
        func nextATC() -> [UInt8] {
            atc &+= 1
            return [UInt8(atc >> 8), UInt8(atc & 0xFF)]
        }
        /// Visa phones: the first GPO asks to see the phone; the next tap finds the user authenticated.
        func shouldAskToSeePhone() -> Bool {
            defer { seePhoneShown = true }
            return !seePhoneShown
        }
        /// Mastercard phones say it in the GENERATE AC response instead.
        func shouldAskToSeePhoneAtGenerateAC() -> Bool {
            defer { seePhoneShown = true }
            return !seePhoneShown
        }
    }
}
