// The data a virtual card is personalised with: its PPSE, FCI, records and certificates, built once per card.

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
    let aipMastercard: [UInt8]
    let gpoMastercard: [UInt8]

    static let visaPDOL: [UInt8] = [
        0x9F, 0x66, 0x04, 0x9F, 0x02, 0x06, 0x9F, 0x03, 0x06, 0x9F, 0x1A, 0x02, 0x95, 0x05,
        0x5F, 0x2A, 0x02, 0x9A, 0x03, 0x9C, 0x01, 0x9F, 0x37, 0x04,
    ]
    /// Phones also ask for the merchant's name and location and the terminal type.
    static let visaPhonePDOL: [UInt8] = visaPDOL + [0x9F, 0x4E, 0x14, 0x9F, 0x35, 0x01]
    static let mastercardPhonePDOL: [UInt8] = [0x9F, 0x35, 0x01, 0x9F, 0x4E, 0x14]
    static let mastercardCDOL1: [UInt8] = [UInt8](
        hex: "9F02069F03069F1A0295055F2A029A039C019F37049F35019F45029F4C089F34039F21039F7C14")!

    init(_ p: CardProfile, pki: TestPKI) throws {
        let kernelID: UInt8 = p.scheme == .visa ? 0x03 : 0x02
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
                                            TLV(tag: 0x87, value: [0x01]), TLV(tag: 0x9F2A, value: [kernelID]),
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
        }
        pdol = try pdolBytes.map { try DataObjectList(parsing: $0) }
        var a5: [TLV] = [TLV(tag: 0x50, value: Array(p.label.utf8)), TLV(tag: 0x87, value: [0x01])]
        if let pdolBytes { a5.append(TLV(tag: 0x9F38, value: pdolBytes)) }
        fci = TLV(tag: 0x6F, children: [TLV(tag: 0x84, value: p.aid), TLV(tag: 0xA5, children: a5)]).encoded

        track2 = [UInt8](
            hex: p.pan + "D" + Hex.encode(p.expiry.prefix(2)) + "201" + "1000000000000"
                + (p.pan.count % 2 == 0 ? "F" : ""))!
        let cardholderData: [TLV]
        var odaRecord: [TLV] = [
            TLV(tag: 0x5A, value: BCD.packDigits(p.pan)!), TLV(tag: 0x5F24, value: p.expiry),
            TLV(tag: 0x5F25, value: p.effective),
            TLV(tag: 0x5F28, value: [0x02, 0x76]), TLV(tag: 0x5F34, value: [p.panSequenceNumber]),
            TLV(tag: 0x9F07, value: [0xFF, 0xC0]),
            TLV(tag: 0x57, value: track2),
        ]
        if p.scheme == .mastercard {
            odaRecord += [
                TLV(tag: 0x9F08, value: [0x00, 0x02]), TLV(tag: 0x8C, value: Self.mastercardCDOL1),
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
        }
        cardholderData = odaRecord

        // Certificates over the static data: the ODA record's value, then the AIP (SDA Tag List 82).
        let aipMC: [UInt8] = [0x19 | (p.formFactor == .phone ? 0x02 : 0), 0x81]
        aipMastercard = aipMC
        let aip: [UInt8] = p.scheme == .visa ? [0x20, 0x00] : aipMC
        let record1 = TLV(tag: 0x70, children: cardholderData).encoded
        let staticData = Array(try TLVParser.parseOne(record1).value) + aip
        let (issuerCert, issuerRem) = try pki.ca.issuerCertificate(
            for: pki.issuer.publicKey, issuerIdentifier: String(p.pan.prefix(6)),
            expiryMMYY: [0x12, 0x30], serial: p.issuerCertificateSerial)
        let (iccCert, iccRem) = try pki.issuer.iccCertificate(
            for: pki.icc.publicKey, pan: p.pan, expiryMMYY: [0x12, 0x29],
            staticData: staticData)
        var rec2: [TLV] = [
            TLV(tag: 0x8F, value: [pki.caIndex]), TLV(tag: 0x90, value: issuerCert),
            TLV(tag: 0x9F32, value: pki.issuer.publicKey.exponent),
        ]
        if !issuerRem.isEmpty { rec2.append(TLV(tag: 0x92, value: issuerRem)) }
        var rec3: [TLV] = [
            TLV(tag: 0x9F46, value: iccCert), TLV(tag: 0x9F47, value: pki.icc.publicKey.exponent),
            TLV(tag: 0x9F4A, value: [0x82]),
        ]
        if !iccRem.isEmpty { rec3.append(TLV(tag: 0x9F48, value: iccRem)) }
        records =
            p.noRecords
            ? [:]
            : [
                1: [1: record1],
                2: [1: TLV(tag: 0x70, children: rec2).encoded, 2: TLV(tag: 0x70, children: rec3).encoded],
            ]
        afl = p.noRecords ? [] : [0x08, 0x01, 0x01, 0x01, 0x10, 0x01, 0x02, 0x00]
        cdol1 = p.scheme == .mastercard ? try DataObjectList(parsing: Self.mastercardCDOL1) : nil
        gpoMastercard = TLV(tag: 0x77, children: [TLV(tag: 0x82, value: aipMC), TLV(tag: 0x94, value: afl)]).encoded
    }
}
