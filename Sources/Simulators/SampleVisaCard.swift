// A sample Visa qVSDC card conversation, made by the simulators with real signatures and cryptograms: the card's
// certificates chain to a freshly generated test CA, the fDDA signature covers the terminal's data, and the ARQC is
// CVN 18 under the documented TEST issuer master key. It feeds `tapd demo` and tests until the full virtual cards
// of the kernel work exist.
import TLV
import APDU
import EMVCrypto
import EMVKernel

public struct SampleVisaCard: Sendable {
    /// TEST issuer master key for application cryptograms (never a production key): 0123456789ABCDEFFEDCBA9876543210.
    public static let testIssuerMasterKey: [UInt8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,
                                                      0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10]
    public static let aid: [UInt8] = [0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10]
    /// Visa's public ADVT-style test PAN.
    public let pan = "4761739001010119"
    public let panSequenceNumber: UInt8 = 0x01
    public let atc: [UInt8] = [0x00, 0x2A]
    public let pki: TestPKI
    public static let pdol: [UInt8] = [0x9F, 0x66, 0x04, 0x9F, 0x02, 0x06, 0x9F, 0x03, 0x06, 0x9F, 0x1A, 0x02, 0x95, 0x05,
                                       0x5F, 0x2A, 0x02, 0x9A, 0x03, 0x9C, 0x01, 0x9F, 0x37, 0x04]
    /// Issuer Application Data for CVN 18 (Visa IAD format 0: length, DKI, CVN, CVR).
    public let issuerApplicationData: [UInt8] = [0x06, 0x01, 0x12, 0x03, 0xA0, 0x00, 0x00]

    public init(pki: TestPKI) { self.pki = pki }

    /// A test PKI under the Visa RID with CA index F0 (not a scheme index, so it can never shadow a real key).
    public static func makePKI() throws -> TestPKI { try TestPKI(rid: Array(aid.prefix(5)), caIndex: 0xF0) }

    var record1: [UInt8] {
        TLV(tag: 0x70, children: [
            TLV(tag: 0x5A, value: BCD.packDigits(pan)!),
            TLV(tag: 0x5F24, value: [0x28, 0x12, 0x31]),
            TLV(tag: 0x5F34, value: [panSequenceNumber]),
            TLV(tag: 0x9F07, value: [0xFF, 0x00]),
            // Track 2 equivalent: PAN, separator D, expiry YYMM, service code 201, discretionary data, F pad.
            TLV(tag: 0x57, value: [UInt8](hex: pan + "D2812201" + "1000000000000F")!),
        ]).encoded
    }

    /// Static data to be authenticated: record 1 of SFI 1 (value only) and the AIP (Book 3 §10.3).
    var staticData: [UInt8] { Array(try! TLVParser.parseOne(record1).value) + [0x20, 0x00] }

    /// The exchanges the card answers for one transaction whose PDOL data is `pdolData` (as the terminal sends it).
    public func exchanges(pdolData: [UInt8]) throws -> [ScriptedExchange] {
        guard let dol = try? DataObjectList(parsing: Self.pdol), let values = dol.split(pdolData) else {
            throw CardError.malformedResponse("PDOL data does not match the card's PDOL")
        }
        var t: [Tag: [UInt8]] = [:]
        for (tag, v) in values { t[tag] = v }

        let ppse = TLV(tag: 0x6F, children: [
            TLV(tag: 0x84, value: CommandAPDU.ppseName),
            TLV(tag: 0xA5, children: [TLV(tag: 0xBF0C, children: [TLV(tag: 0x61, children: [
                TLV(tag: 0x4F, value: Self.aid), TLV(tag: 0x50, value: Array("VISA CREDIT".utf8)),
                TLV(tag: 0x87, value: [0x01]), TLV(tag: 0x9F2A, value: [0x03]),
            ])])]),
        ]).encoded
        let fci = TLV(tag: 0x6F, children: [
            TLV(tag: 0x84, value: Self.aid),
            TLV(tag: 0xA5, children: [
                TLV(tag: 0x50, value: Array("VISA CREDIT".utf8)), TLV(tag: 0x87, value: [0x01]),
                TLV(tag: 0x9F38, value: Self.pdol),
            ]),
        ]).encoded

        // Certificates over the static data.
        let (issuerCert, issuerRem) = try pki.ca.issuerCertificate(for: pki.issuer.publicKey, issuerIdentifier: String(pan.prefix(6)),
                                                                  expiryMMYY: [0x12, 0x30])
        let (iccCert, iccRem) = try pki.issuer.iccCertificate(for: pki.icc.publicKey, pan: pan, expiryMMYY: [0x12, 0x28],
                                                              staticData: staticData)
        var rec2: [TLV] = [TLV(tag: 0x8F, value: [pki.caIndex]), TLV(tag: 0x90, value: issuerCert),
                           TLV(tag: 0x9F32, value: pki.issuer.publicKey.exponent)]
        if !issuerRem.isEmpty { rec2.append(TLV(tag: 0x92, value: issuerRem)) }
        var rec3: [TLV] = [TLV(tag: 0x9F46, value: iccCert), TLV(tag: 0x9F47, value: pki.icc.publicKey.exponent),
                           TLV(tag: 0x9F4A, value: [0x82])]
        if !iccRem.isEmpty { rec3.append(TLV(tag: 0x9F48, value: iccRem)) }

        // Card Authentication Related Data: fDDA version 01, card unpredictable number, CTQ.
        let ctq: [UInt8] = [0x00, 0x00]
        let cardAuth: [UInt8] = [0x01, 0x5C, 0x1E, 0x77, 0x03] + ctq
        let terminalDynamic = (t[0x9F37] ?? []) + (t[0x9F02] ?? []) + (t[0x5F2A] ?? []) + cardAuth
        let sdad = try pki.icc.signedDynamicData(iccDynamicData: [0x02, 0x13, 0x57] + atc, terminalDynamicData: terminalDynamic)

        // CVN 18: MAC under the common session key (R = ATC ‖ 00…) over the transaction data and the full IAD.
        let arqc = try applicationCryptogram(terminal: t)
        let gpo = TLV(tag: 0x77, children: [
            TLV(tag: 0x82, value: [0x20, 0x00]),
            TLV(tag: 0x94, value: [0x08, 0x01, 0x01, 0x01, 0x10, 0x01, 0x02, 0x00]),
            TLV(tag: 0x9F36, value: atc),
            TLV(tag: 0x9F26, value: arqc),
            TLV(tag: 0x9F27, value: [0x80]),
            TLV(tag: 0x9F10, value: issuerApplicationData),
            TLV(tag: 0x9F6C, value: ctq),
            TLV(tag: 0x9F69, value: cardAuth),
            TLV(tag: 0x9F4B, value: sdad),
        ]).encoded

        let ok: [UInt8] = [0x90, 0x00]
        return [
            ScriptedExchange(command: try CommandAPDU.select(name: CommandAPDU.ppseName).encoded(), response: ppse + ok),
            ScriptedExchange(command: try CommandAPDU.select(name: Self.aid).encoded(), response: fci + ok),
            ScriptedExchange(command: try CommandAPDU.getProcessingOptions(pdolData: pdolData).encoded(), response: gpo + ok),
            ScriptedExchange(command: try CommandAPDU.readRecord(sfi: 1, record: 1).encoded(), response: record1 + ok),
            ScriptedExchange(command: try CommandAPDU.readRecord(sfi: 2, record: 1).encoded(), response: TLV(tag: 0x70, children: rec2).encoded + ok),
            ScriptedExchange(command: try CommandAPDU.readRecord(sfi: 2, record: 2).encoded(), response: TLV(tag: 0x70, children: rec3).encoded + ok),
        ]
    }

    /// The CVN 18 ARQC for the terminal data in `t` (what an issuer host recomputes).
    public func applicationCryptogram(terminal t: [Tag: [UInt8]]) throws -> [UInt8] {
        let input = [0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37].flatMap { t[Tag($0)] ?? [] }
            + [0x20, 0x00] + atc + issuerApplicationData
        let mk = try KeyDerivation.iccMasterKeyOptionA(issuerMasterKey: Self.testIssuerMasterKey, pan: pan,
                                                       panSequenceNumber: Hex.encode([panSequenceNumber]))
        let sk = try KeyDerivation.commonSessionKey(masterKey: mk, diversification: atc + [0, 0, 0, 0, 0, 0])
        return try ApplicationCryptogramAlgorithm.generate(key: sk, data: input, padding: .method2)
    }
}
