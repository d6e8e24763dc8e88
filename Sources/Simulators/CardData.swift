// The data a virtual card is personalised with: its PPSE, FCI, records and certificates, built once per card. The
// layouts follow what real cards of each scheme carry (the public recordings and the schemes' books): Visa and
// UnionPay answer GPO with the cryptogram, Mastercard, American Express and JCB read records then GENERATE AC, and
// Discover answers GPO with the cryptogram after which the records are read.

import APDU
import EMVCrypto
import EMVKernel
import TLV

struct CardData: Sendable {
    let ppse: [UInt8]
    let fci: [UInt8]
    let pdol: DataObjectList?
    let afl: [UInt8]
    let records: [UInt8: [UInt8: [UInt8]]]  // SFI → record number → record
    let track2: [UInt8]
    let cdol1: DataObjectList?
    /// The card's Application Interchange Profile.
    let aip: [UInt8]
    /// The GPO answer of the cards whose GPO carries no cryptogram (AIP and AFL in a 77 template).
    let staticGPO: [UInt8]

    static let visaPDOL: [UInt8] = [
        0x9F, 0x66, 0x04, 0x9F, 0x02, 0x06, 0x9F, 0x03, 0x06, 0x9F, 0x1A, 0x02, 0x95, 0x05,
        0x5F, 0x2A, 0x02, 0x9A, 0x03, 0x9C, 0x01, 0x9F, 0x37, 0x04,
    ]
    /// Phones also ask for the merchant's name and location and the terminal type.
    static let visaPhonePDOL: [UInt8] = visaPDOL + [0x9F, 0x4E, 0x14, 0x9F, 0x35, 0x01]
    static let mastercardPhonePDOL: [UInt8] = [0x9F, 0x35, 0x01, 0x9F, 0x4E, 0x14]
    static let mastercardCDOL1: [UInt8] = [UInt8](
        hex: "9F02069F03069F1A0295055F2A029A039C019F37049F35019F45029F4C089F34039F21039F7C14")!
    /// JR/T 0025.12 §7.3: the CVN 01 PDOL; PBOC 3.0 cards that can use the national algorithms add the extended
    /// application indicator (DF60) and the SM algorithm support indicator (DF69).
    static let unionPayPDOL: [UInt8] = visaPDOL
    static let unionPaySMPDOL: [UInt8] = visaPDOL + [0xDF, 0x60, 0x01, 0xDF, 0x69, 0x01]
    /// American Express: the terminal type (with the reader capabilities 9F6D in its high bits) and the Enhanced
    /// Contactless Reader Capabilities, as current ExpressPay cards ask.
    static let amexPDOL: [UInt8] = [0x9F, 0x35, 0x01, 0x9F, 0x6E, 0x04]
    /// The CDOL1 of the recorded ExpressPay test card (Tests/KernelTests/Fixtures/public).
    static let amexCDOL1: [UInt8] = [UInt8](hex: "9F02069F03069F1A0295055F2A029A039C019F3704")!
    /// JCB: the Terminal Compatibility Indicator (9F52) makes it an EMV-mode card; the Terminal Interchange Profile
    /// (9F53) tells it what the reader can do.
    static let jcbPDOL: [UInt8] = [UInt8](hex: "9F52019F53039F35019F02069C01")!
    static let jcbCDOL1: [UInt8] = [UInt8](hex: "9F02069F03069F1A0295055F2A029A039C019F37049F35019F5303")!
    /// Discover D-PAS: the TTQ and the transaction data the GPO cryptogram covers.
    static let discoverPDOL: [UInt8] = [UInt8](hex: "9F66049F02069F03069F1A025F2A029A039C019F37049F3501")!

    init(_ p: CardProfile, pki: TestPKI) throws {
        ppse =
            TLV(
                tag: 0x6F,
                children: [
                    TLV(tag: 0x84, value: CommandAPDU.ppseName),
                    TLV(
                        tag: 0xA5,
                        children: [
                            TLV(
                                tag: 0xBF0C,
                                children: [
                                    TLV(
                                        tag: 0x61,
                                        children: [
                                            TLV(tag: 0x4F, value: p.aid), TLV(tag: 0x50, value: Array(p.label.utf8)),
                                            TLV(tag: 0x87, value: [0x01]), TLV(tag: 0x9F2A, value: [p.scheme.kernelID]),
                                        ])
                                ])
                        ]),
                ]
            ).encoded

        let pdolBytes: [UInt8]?
        switch (p.scheme, p.formFactor) {
        case (.visa, .card): pdolBytes = Self.visaPDOL
        case (.visa, .phone): pdolBytes = Self.visaPhonePDOL
        case (.mastercard, .card): pdolBytes = nil
        case (.mastercard, .phone): pdolBytes = Self.mastercardPhonePDOL
        case (.unionpay, _): pdolBytes = p.nationalAlgorithms ? Self.unionPaySMPDOL : Self.unionPayPDOL
        case (.amex, _): pdolBytes = Self.amexPDOL
        case (.jcb, _): pdolBytes = Self.jcbPDOL
        case (.discover, _): pdolBytes = Self.discoverPDOL
        }
        pdol = try pdolBytes.map { try DataObjectList(parsing: $0) }
        var a5: [TLV] = [TLV(tag: 0x50, value: Array(p.label.utf8)), TLV(tag: 0x87, value: [0x01])]
        if let pdolBytes { a5.append(TLV(tag: 0x9F38, value: pdolBytes)) }
        fci = TLV(tag: 0x6F, children: [TLV(tag: 0x84, value: p.aid), TLV(tag: 0xA5, children: a5)]).encoded

        track2 = [UInt8](
            hex: p.pan + "D" + Hex.encode(p.expiry.prefix(2)) + "201" + "1000000000000"
                + (p.pan.count % 2 == 0 ? "F" : ""))!
        var odaRecord: [TLV] = [
            TLV(tag: 0x5A, value: BCD.packDigits(p.pan)!), TLV(tag: 0x5F24, value: p.expiry),
            TLV(tag: 0x5F25, value: p.effective),
            TLV(tag: 0x5F28, value: [0x02, 0x76]), TLV(tag: 0x5F34, value: [p.panSequenceNumber]),
            TLV(tag: 0x9F07, value: [0xFF, 0xC0]),
            TLV(tag: 0x57, value: track2),
        ]
        odaRecord += Self.riskData(p)

        // Certificates over the static data: the ODA record's value, then the AIP (SDA Tag List 82).
        aip = Self.aip(p)
        let record1 = TLV(tag: 0x70, children: odaRecord).encoded
        let staticData = Array(try TLVParser.parseOne(record1).value) + aip
        let certificates: (rec2: [TLV], rec3: [TLV])
        if p.nationalAlgorithms {
            certificates = try Self.sm2Certificates(p, staticData: staticData)
        } else {
            certificates = try Self.rsaCertificates(p, pki: pki, staticData: staticData)
        }
        records =
            p.noRecords
            ? [:]
            : [
                1: [1: record1],
                2: [
                    1: TLV(tag: 0x70, children: certificates.rec2).encoded,
                    2: TLV(tag: 0x70, children: certificates.rec3).encoded,
                ],
            ]
        afl = p.noRecords ? [] : [0x08, 0x01, 0x01, 0x01, 0x10, 0x01, 0x02, 0x00]
        switch p.scheme {
        case .mastercard: cdol1 = try DataObjectList(parsing: Self.mastercardCDOL1)
        case .amex: cdol1 = try DataObjectList(parsing: Self.amexCDOL1)
        case .jcb: cdol1 = try DataObjectList(parsing: Self.jcbCDOL1)
        default: cdol1 = nil
        }
        staticGPO = TLV(tag: 0x77, children: [TLV(tag: 0x82, value: aip), TLV(tag: 0x94, value: afl)]).encoded
    }

    /// The Application Interchange Profile per scheme. b1 of byte 1 is CDA; byte 2 b8 "EMV mode" (C-2, C-4, C-5).
    static func aip(_ p: CardProfile) -> [UInt8] {
        switch p.scheme {
        case .visa: return [0x20, 0x00]  // DDA (fDDA)
        case .mastercard: return [0x19 | (p.formFactor == .phone ? 0x02 : 0), 0x81]
        case .unionpay: return [0x7C, 0x00]  // SDA, DDA (fDDA), CVM, risk management, issuer authentication
        case .amex: return [0x5D, 0x80]  // as the recorded ExpressPay card: SDA, CVM, TRM, IA, CDA; EMV mode
        case .jcb: return [0x1D, 0x80]  // CVM, TRM, IA, CDA; EMV mode
        case .discover: return [0x19, 0x80]  // CVM, TRM, CDA
        }
    }

    /// Record 1's risk management data for the kernels that do terminal action analysis with the card's codes.
    static func riskData(_ p: CardProfile) -> [TLV] {
        switch p.scheme {
        case .mastercard:
            return [
                TLV(tag: 0x9F08, value: [0x00, 0x02]), TLV(tag: 0x8C, value: mastercardCDOL1),
                TLV(tag: 0x8D, value: [UInt8](hex: "910A8A0295059F37049F4C08")!),
                // CVM List: X = Y = 0; online PIN (next rule if it fails), signature, no CVM — each "if supported".
                TLV(tag: 0x8E, value: [UInt8](hex: "00000000000000004203" + "1E03" + "1F03")!),
                TLV(tag: 0x9F0D, value: [UInt8](hex: "B450840000")!),
                TLV(tag: 0x9F0E, value: [UInt8](hex: "0000000000")!),
                TLV(tag: 0x9F0F, value: [UInt8](hex: "B470848000")!), TLV(tag: 0x9F42, value: [0x09, 0x78]),
                TLV(tag: 0x9F44, value: [0x02]),
                // Application Capabilities Information: CDA supported over TC, ARQC and AAC.
                TLV(tag: 0x9F5D, value: [0x01, 0x01, 0x00]),
            ]
        case .amex:
            // As the recorded ExpressPay test card: CDOL1, CVM List (online PIN, signature, no CVM — if supported),
            // its issuer action codes; 9F70 says which interfaces the card has (contactless EMV, and mobile).
            return [
                TLV(tag: 0x9F08, value: [0x00, 0x01]), TLV(tag: 0x8C, value: amexCDOL1),
                TLV(tag: 0x8E, value: [UInt8](hex: "000000000000000042031E031F03")!),
                TLV(tag: 0x9F0D, value: [UInt8](hex: "F470C49800")!),
                TLV(tag: 0x9F0E, value: [UInt8](hex: "0000000000")!),
                TLV(tag: 0x9F0F, value: [UInt8](hex: "F470C49800")!), TLV(tag: 0x9F42, value: [0x09, 0x78]),
                TLV(tag: 0x9F70, value: p.formFactor == .phone ? [0x18, 0x00] : [0x10, 0x00]),
            ]
        case .jcb:
            return [
                TLV(tag: 0x9F08, value: [0x02, 0x00]), TLV(tag: 0x8C, value: jcbCDOL1),
                TLV(tag: 0x9F0D, value: [UInt8](hex: "FC6024A800")!),
                TLV(tag: 0x9F0E, value: [UInt8](hex: "0010000000")!),
                TLV(tag: 0x9F0F, value: [UInt8](hex: "FC60ACF800")!), TLV(tag: 0x9F42, value: [0x09, 0x78]),
            ]
        case .unionpay: return [TLV(tag: 0x9F08, value: [0x00, 0x30])]
        case .visa, .discover: return []
        }
    }

    /// The RSA chain (Book 2): CA index and issuer certificate in SFI 2 record 1, ICC certificate in record 2.
    static func rsaCertificates(_ p: CardProfile, pki: TestPKI, staticData: [UInt8]) throws -> (
        rec2: [TLV], rec3: [TLV]
    ) {
        let (issuerCert, issuerRem) = try pki.ca.issuerCertificate(
            for: pki.issuer.publicKey, issuerIdentifier: String(p.pan.prefix(6)),
            expiryMMYY: p.fault == .expiredCertificate ? [0x12, 0x20] : [0x12, 0x30],
            serial: p.issuerCertificateSerial)
        let (iccCert, iccRem) = try pki.issuer.iccCertificate(
            for: pki.icc.publicKey, pan: p.pan, expiryMMYY: [0x12, 0x29],
            staticData: staticData)
        var rec2: [TLV] = [
            TLV(tag: 0x8F, value: [p.fault == .unknownCAKey ? 0xEE : pki.caIndex]), TLV(tag: 0x90, value: issuerCert),
            TLV(tag: 0x9F32, value: pki.issuer.publicKey.exponent),
        ]
        if !issuerRem.isEmpty { rec2.append(TLV(tag: 0x92, value: issuerRem)) }
        var rec3: [TLV] = [
            TLV(tag: 0x9F46, value: iccCert), TLV(tag: 0x9F47, value: pki.icc.publicKey.exponent),
            TLV(tag: 0x9F4A, value: [0x82]),
        ]
        if !iccRem.isEmpty { rec3.append(TLV(tag: 0x9F48, value: iccRem)) }
        return (rec2, rec3)
    }

    /// The SM2 chain (JR/T 0025.17 §5.2): no exponents, no remainders.
    static func sm2Certificates(_ p: CardProfile, staticData: [UInt8]) throws -> (rec2: [TLV], rec3: [TLV]) {
        let pki = VirtualCard.sm2PKI
        let issuerCert = try pki.issuerCertificate(
            issuerIdentifier: String(p.pan.prefix(6)),
            expiryMMYY: p.fault == .expiredCertificate ? [0x12, 0x20] : [0x12, 0x30], serial: p.issuerCertificateSerial)
        let iccCert = try pki.iccCertificate(pan: p.pan, expiryMMYY: [0x12, 0x29], staticData: staticData)
        return (
            [
                TLV(tag: 0x8F, value: [p.fault == .unknownCAKey ? 0xEE : pki.caIndex]),
                TLV(tag: 0x90, value: issuerCert),
            ],
            [TLV(tag: 0x9F46, value: iccCert), TLV(tag: 0x9F4A, value: [0x82])]
        )
    }
}
