// The card side of the UnionPay, American Express, JCB and Discover virtual cards: what each answers to GET
// PROCESSING OPTIONS and GENERATE AC, as its scheme's cards do (the scheme books and the public recordings), and the
// cryptograms an issuer host recomputes (TestIssuer). Where a scheme has not published its cryptogram method, the
// card uses a documented EMV method and says which.

import APDU
import EMVCrypto
import EMVKernel
import TLV

extension VirtualCard {
    /// The cryptogram a card decides on at GPO from the reader's TTQ (qPBOC and D-PAS): an AAC for a refund or when
    /// an offline-only reader meets a card that will not approve offline, an ARQC when the reader requires an online
    /// cryptogram or the card is online-only, else a TC.
    func gpoCryptogramKind(ttq: [UInt8], refund: Bool, cvmForcesOnline: Bool) -> ApplicationCryptogram.Kind {
        if refund { return .aac }
        let onlineRequired = ttq.count == 4 && ttq[1] & 0x80 != 0
        let offlineOnlyReader = ttq.count == 4 && ttq[0] & 0x08 != 0
        if onlineRequired || cvmForcesOnline || !profile.offlineCapable { return offlineOnlyReader ? .aac : .arqc }
        return .tc
    }

    // MARK: UnionPay qPBOC (JR/T 0025.12, .17)

    /// qPBOC GPO (P12 §7.4–§7.7): the card decides and answers in a 77 template without CID; the AFL only with a TC
    /// (offline), the signature (fDDA, RSA or SM2) with it. An SM-only card answers 6985 to a reader that does not
    /// offer the national algorithms (P17 §10.5).
    func unionPayGPO(_ t: [Tag: [UInt8]]) async throws -> [UInt8] {
        if profile.nationalAlgorithms, t[0xDF69] != [0x01] { return [0x69, 0x85] }
        let ttq = t[0x9F66] ?? [0, 0, 0, 0]
        let cvmRequired = ttq[1] & 0x40 != 0
        // P12 §7.7.3: online PIN when both support it (and the card goes online), else signature; no common CVM ends.
        var ctq: [UInt8] = [profile.offlineCapable ? 0x20 : 0x00, 0x00]
        var onlinePIN = false
        if cvmRequired {
            if profile.formFactor == .phone {
                ctq[1] |= 0x80  // the phone verified its user
            } else if ttq[0] & 0x04 != 0 && profile.wantsOnlinePINAboveCVMLimit {
                ctq[0] |= 0x80
                onlinePIN = true
            } else if ttq[0] & 0x02 != 0 {
                ctq[0] |= 0x40
            } else if ttq[0] & 0x04 != 0 {
                ctq[0] |= 0x80
                onlinePIN = true
            } else {
                return [0x69, 0x85]
            }
        }
        let kind = gpoCryptogramKind(
            ttq: ttq, refund: t[0x9C] == [0x20], cvmForcesOnline: onlinePIN || profile.formFactor == .phone)
        let atcBytes = await state.nextATC()
        // CVR byte 2: b8–b7 10 "no second GENERATE AC", b6–b5 the cryptogram (P12 §7.7.14).
        let cvr: [UInt8] = [0x03, 0x80 | (kind == .arqc ? 0x20 : kind == .tc ? 0x10 : 0x00), 0x00, 0x00]
        let iad: [UInt8] = [0x07, 0x01, 0x01] + cvr + [profile.nationalAlgorithms ? 0x04 : 0x01]
        let ac = try Self.unionPayAC(profile: profile, terminal: t, aip: data.aip, atc: atcBytes, cvr: cvr)
        var objects: [TLV] = [TLV(tag: 0x82, value: data.aip)]
        if kind == .tc { objects.append(TLV(tag: 0x94, value: data.afl)) }
        objects += [TLV(tag: 0x9F36, value: atcBytes)]
        if kind != .tc { objects.append(TLV(tag: 0x57, value: data.track2)) }
        objects += [TLV(tag: 0x9F10, value: iad), TLV(tag: 0x9F26, value: ac)]
        // P12 §7.5: what GPO returns is not returned again by the records (read only with a TC).
        if kind != .tc { objects.append(TLV(tag: 0x5F34, value: [profile.panSequenceNumber])) }
        objects.append(TLV(tag: 0x9F6C, value: ctq))
        if kind == .tc {
            // fDDA (P12 Annex B): version 01 when the reader says it supports it (TTQ byte 4 b8), else 00.
            var terminal = t[0x9F37] ?? []
            if ttq[3] & 0x80 != 0 {
                let cardAuth: [UInt8] = [0x01] + secureRandomBytes(4) + ctq + [0x00]
                objects.append(TLV(tag: 0x9F69, value: cardAuth))
                terminal += (t[0x9F02] ?? []) + (t[0x5F2A] ?? []) + cardAuth
            }
            var sdad =
                profile.nationalAlgorithms
                ? try Self.sm2PKI.signedDynamicData(iccDynamicData: [0x02] + atcBytes, terminalDynamicData: terminal)
                : try pki.icc.signedDynamicData(iccDynamicData: [0x02] + atcBytes, terminalDynamicData: terminal)
            if profile.fault == .tamperedSignature { sdad[sdad.count / 2] ^= 0x5A }
            objects.append(TLV(tag: 0x9F4B, value: sdad))
        }
        return TLV(tag: 0x77, children: objects).encoded + [0x90, 0x00]
    }

    /// UnionPay CVN 01: the PBOC cryptogram (JR/T 0025.5 Annex E) over 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 and
    /// the CVR, triple DES or SM4 (PBOCCryptogram), under the TEST issuer master key.
    public static func unionPayAC(
        profile: CardProfile, terminal t: [Tag: [UInt8]], aip: [UInt8], atc: [UInt8], cvr: [UInt8]
    ) throws -> [UInt8] {
        let input = terminalInput(t) + aip + atc + cvr
        return try PBOCCryptogram.generate(
            profile.nationalAlgorithms ? .sm4 : .tdes, issuerMasterKey: CardProfile.testIssuerMasterKey,
            pan: profile.pan, panSequenceNumber: Hex.encode([profile.panSequenceNumber]), atc: atc, data: input
        ).cryptogram
    }

    /// Book 2 Annex A1.5's recommended minimum data from the terminal: 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37.
    static func terminalInput(_ t: [Tag: [UInt8]]) -> [UInt8] {
        ([0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37] as [Tag]).flatMap { t[$0] ?? [] }
    }

    // MARK: American Express, JCB (GPO then GENERATE AC)

    /// M/Chip, ExpressPay and J/Speedy cards answer GPO with AIP and AFL. An ExpressPay phone adds its Mobile CVM
    /// Results (9F71): on the first tap of a "see phone" persona, CVM required but not yet done.
    func staticGPO(_ t: [Tag: [UInt8]]) async throws -> [UInt8] {
        guard profile.scheme == .amex, profile.formFactor == .phone else { return data.staticGPO + [0x90, 0x00] }
        let cvmRequired = (t[0x9F6E]?.count == 4 && t[0x9F6E]![2] & 0x40 != 0) || (t[0x9F35]?.first ?? 0) & 0x08 != 0
        var mobile: [UInt8] = [0x01, cvmRequired ? 0x03 : 0x00, 0x02]
        if profile.seePhoneOnFirstTap, await state.shouldAskToSeePhone() {
            mobile = [0x3F, 0x03, 0x01]
            await state.setDeclineNextGenerateAC()
        }
        let objects: [TLV] = [
            TLV(tag: 0x82, value: data.aip), TLV(tag: 0x94, value: data.afl), TLV(tag: 0x9F71, value: mobile),
        ]
        return TLV(tag: 0x77, children: objects).encoded + [0x90, 0x00]
    }

    /// ExpressPay and J/Speedy GENERATE AC (Book 3 §6.5.5, CDA per Book 2 §6.6). JCB cards say which CVM they want
    /// in the Cardholder Verification Status (9F50), from the reader's Terminal Interchange Profile (9F53), and a
    /// JCB phone that needs its user answers 6986 (Book C-5 5.8.1.5).
    func emvModeGenerateAC(_ c: CommandAPDU, terminal parts: [(Tag, [UInt8])]) async throws -> [UInt8] {
        var t: [Tag: [UInt8]] = [:]
        for (tag, v) in parts { t[tag] = v }
        for (tag, v) in await state.pdolValues where t[tag] == nil { t[tag] = v }
        if profile.scheme == .jcb, profile.formFactor == .phone, profile.seePhoneOnFirstTap,
            await state.shouldAskToSeePhoneAtGenerateAC()
        {
            return [0x69, 0x86]
        }
        let requested = c.p1 & 0xC0
        let cda = c.p1 & 0x10 != 0
        let atcBytes = await state.nextATC()
        var kind = answer(to: requested)
        if await state.takeDeclineNextGenerateAC() { kind = .aac }
        var cvs: [UInt8]? = nil
        if profile.scheme == .jcb {
            // 9F50: 00 no CVM, 10 signature, 20 online PIN, 30 on-device CVM (Book C-5 5.8.3).
            let tip = t[0x9F53] ?? [0, 0, 0]
            var status: UInt8 = 0x00
            if tip.count == 3, tip[0] & 0x80 != 0 {
                if profile.formFactor == .phone, tip[0] & 0x10 != 0 {
                    status = 0x30
                } else if tip[0] & 0x20 != 0, profile.wantsOnlinePINAboveCVMLimit || tip[0] & 0x40 == 0 {
                    status = 0x20
                    if kind == .tc { kind = .arqc }
                } else if tip[0] & 0x40 != 0 {
                    status = 0x10
                }
            }
            cvs = [status]
        }
        let cvr: [UInt8] = [0x03, 0x80 | (kind == .arqc ? 0x20 : kind == .tc ? 0x10 : 0x00), 0x00, 0x00]
        let cvn: UInt8 = profile.scheme == .jcb ? 0x04 : 0x01
        let iad: [UInt8] = [0x06, 0x01, cvn] + cvr
        let ac =
            profile.scheme == .jcb
            ? try Self.jcbAC(profile: profile, terminal: t, aip: data.aip, atc: atcBytes, cvr: cvr)
            : try Self.amexAC(profile: profile, terminal: t, aip: data.aip, atc: atcBytes, cvr: cvr)
        let cid = kind.cid
        var objects: [TLV] = [
            TLV(tag: 0x9F27, value: [cid]), TLV(tag: 0x9F36, value: atcBytes), TLV(tag: 0x9F10, value: iad),
        ]
        if let cvs { objects.append(TLV(tag: 0x9F50, value: cvs)) }
        if cda && kind != .aac {
            let pdolData = await state.pdolData
            objects.append(
                try cdaSignature(cid: cid, ac: ac, hashed: pdolData + c.data + objects.encoded, un: t[0x9F37] ?? []))
        } else {
            objects.insert(TLV(tag: 0x9F26, value: ac), at: 2)
        }
        return TLV(tag: 0x77, children: objects).encoded + [0x90, 0x00]
    }

    /// American Express CVN 01 as the simulator makes it. Amex has not published its method; AWS Payment Cryptography's
    /// "SessionKeyAmex" takes only the PAN and PAN sequence number, i.e. the cryptogram is made under the card key
    /// with no session key. So: Book 2 A1.4.1 Option A card key, ISO 9797-1 MAC algorithm 3 with padding method 2 over
    /// Book 2 Annex A1.5's data, the AIP, the ATC and the CVR. A real Amex host will not accept these cryptograms.
    public static func amexAC(
        profile: CardProfile, terminal t: [Tag: [UInt8]], aip: [UInt8], atc: [UInt8], cvr: [UInt8]
    ) throws -> [UInt8] {
        try MAC.retail(key: profile.iccMasterKey, data: terminalInput(t) + aip + atc + cvr, padding: .method2)
    }

    /// JCB CVN 04: the EMV common session key (Book 2 A1.3, R = ATC ‖ 0000 ‖ UN), as AWS Payment Cryptography
    /// documents JCB's CVN 04; MAC algorithm 3, padding method 2, over Annex A1.5's data, AIP, ATC and CVR.
    public static func jcbAC(
        profile: CardProfile, terminal t: [Tag: [UInt8]], aip: [UInt8], atc: [UInt8], cvr: [UInt8]
    ) throws -> [UInt8] {
        let sk = try KeyDerivation.commonSessionKey(
            masterKey: profile.iccMasterKey, diversification: atc + [0, 0] + (t[0x9F37] ?? [0, 0, 0, 0]))
        return try MAC.retail(key: sk, data: terminalInput(t) + aip + atc + cvr, padding: .method2)
    }

    // MARK: Discover D-PAS (GPO with the cryptogram, then the records)

    /// D-PAS GPO (Book C-6): AIP, AFL, ATC, IAD, CID and the Card Processing Requirements (9F71); an ARQC or AAC as
    /// 9F26, a TC inside a CDA signature (9F4B) whose transaction data hash covers the PDOL data and this answer's
    /// other objects.
    func discoverGPO(_ t: [Tag: [UInt8]], pdolData: [UInt8]) async throws -> [UInt8] {
        let ttq = t[0x9F66] ?? [0, 0, 0, 0]
        var cpr: [UInt8] = [0x00, 0x41]  // process online if CDA failed; CVM fallback to No CVM allowed
        var onlinePIN = false
        if ttq[1] & 0x40 != 0 {
            if profile.formFactor == .phone, ttq[2] & 0x40 != 0 {
                cpr[0] |= 0x10  // Consumer Device CVM performed
            } else if ttq[0] & 0x04 != 0, profile.wantsOnlinePINAboveCVMLimit || ttq[0] & 0x02 == 0 {
                cpr[0] |= 0x80
                onlinePIN = true
            } else if ttq[0] & 0x02 != 0 {
                cpr[0] |= 0x40
            }
        }
        let kind = gpoCryptogramKind(ttq: ttq, refund: t[0x9C] == [0x20], cvmForcesOnline: onlinePIN)
        let atcBytes = await state.nextATC()
        // IAD: DKI, CVN 15, the 8-byte CVR (byte 2 b2: confirmation code verification performed, on a phone).
        let cvr: [UInt8] = [kind.cid, cpr[0] & 0x10 != 0 ? 0x02 : 0x00, 0, 0, 0, 0, 0, 0]
        let iad: [UInt8] = [0x01, 0x15] + cvr
        let ac = try Self.discoverAC(profile: profile, terminal: t, aip: data.aip, atc: atcBytes, cvr: cvr)
        let cid = kind.cid
        var objects: [TLV] = [
            TLV(tag: 0x82, value: data.aip), TLV(tag: 0x94, value: data.afl), TLV(tag: 0x9F36, value: atcBytes),
            TLV(tag: 0x9F10, value: iad), TLV(tag: 0x9F27, value: [cid]), TLV(tag: 0x9F71, value: cpr),
        ]
        if kind == .tc {
            objects.append(try cdaSignature(cid: cid, ac: ac, hashed: pdolData + objects.encoded, un: t[0x9F37] ?? []))
        } else {
            objects.append(TLV(tag: 0x9F26, value: ac))
        }
        return TLV(tag: 0x77, children: objects).encoded + [0x90, 0x00]
    }

    /// Discover CVN 15 as the simulator makes it: D-PAS's method is not public, so the EMV common session key
    /// (Book 2 A1.3, R = ATC ‖ 0000 ‖ UN), MAC algorithm 3 with padding method 2, over the PDOL's transaction data
    /// (9F02 9F03 9F1A 5F2A 9A 9C 9F37: a D-PAS PDOL has no TVR), the AIP, the ATC and the 8-byte CVR.
    public static func discoverAC(
        profile: CardProfile, terminal t: [Tag: [UInt8]], aip: [UInt8], atc: [UInt8], cvr: [UInt8]
    ) throws -> [UInt8] {
        let input =
            ([0x9F02, 0x9F03, 0x9F1A, 0x5F2A, 0x9A, 0x9C, 0x9F37] as [Tag]).flatMap { t[$0] ?? [] } + aip + atc + cvr
        let sk = try KeyDerivation.commonSessionKey(
            masterKey: profile.iccMasterKey, diversification: atc + [0, 0] + (t[0x9F37] ?? [0, 0, 0, 0]))
        return try MAC.retail(key: sk, data: input, padding: .method2)
    }
}
