// SDA, DDA, fDDA and CDA on top of key retrieval (EMV 4.4 Book 2 §5.4, §6.5, §6.6; Book C-3 for fDDA;
// Book C-2 for CDA in the Mastercard kernel).

import EMVCrypto
import TLV

/// The outcome of one offline data authentication.
public struct ODAResult: Sendable, Equatable {
    public let method: ODAMethod
    public let failure: ODAFailure?
    /// SDA: Data Authentication Code (9F45). DDA/fDDA/CDA: ICC Dynamic Number (9F4C).
    public var dataAuthenticationCode: [UInt8]? = nil
    public var iccDynamicNumber: [UInt8]? = nil
    /// CDA: the cryptogram and CID taken from the signature (Book 2 §6.6.2).
    public var cryptogram: [UInt8]? = nil
    public var cryptogramInformationData: UInt8? = nil
    /// CDA: signed ICC dynamic data after the transaction data hash code (Book C-2 puts the relay resistance
    /// values there).
    public var cdaTrailingData: [UInt8]? = nil

    public init(method: ODAMethod, failure: ODAFailure?) {
        self.method = method
        self.failure = failure
    }

    public var succeeded: Bool { failure == nil }

    /// Sets the TVR bits this result calls for (Book 3 §10.3).
    public func apply(to tvr: inout TerminalVerificationResults) {
        if method == .sda { tvr.set(.sdaSelected) }
        guard let failure else { return }
        for b in failure.tvrBits(for: method) { tvr.set(b) }
    }

    static func failed(_ m: ODAMethod, _ f: ODAFailure) -> ODAResult { ODAResult(method: m, failure: f) }
}

extension OfflineDataAuthenticator {
    /// Book 2 §5.4 SDA: the Signed Static Application Data (93) recovered with the issuer key; its hash covers the
    /// static data to be authenticated.
    public func performSDA(rid: [UInt8], data: TLVStore, staticData: [UInt8]) -> ODAResult {
        do throws(ODAFailure) {
            let issuerKey = try retrieveIssuerKey(rid: rid, data: data)
            guard let ssad = data[0x93] else { throw .missingData(0x93) }
            let x = try SignedDataRecovery.recover(ssad, key: issuerKey, object: .signedStaticData, format: 0x03)
            let s = SignedStaticApplicationData(recovered: x)
            guard s.hashAlgorithm == 0x01 else {
                throw .unsupportedAlgorithm(.signedStaticData, hash: s.hashAlgorithm, publicKey: 1)
            }
            try SignedDataRecovery.checkHash(x, extra: [staticData], object: .signedStaticData)
            var r = ODAResult(method: .sda, failure: nil)
            r.dataAuthenticationCode = s.dataAuthenticationCode
            return r
        } catch {
            return .failed(.sda, error)
        }
    }

    /// Book 2 §6.5 DDA: the INTERNAL AUTHENTICATE response (format 1 `80` holding the SDAD, or format 2 `77`
    /// with 9F4B) verified against the DDOL related data the terminal sent.
    public func performDDA(
        rid: [UInt8], data: TLVStore, staticData: [UInt8], ddolData: [UInt8],
        internalAuthenticateResponse response: [UInt8]
    ) -> ODAResult {
        do throws(ODAFailure) {
            let iccKey = try retrieveICCKey(
                issuerKey: try retrieveIssuerKey(rid: rid, data: data), data: data, staticData: staticData)
            guard let tlv = try? TLVParser.parseOne(response) else { throw .missingData(0x9F4B) }
            let sdad: [UInt8]
            switch tlv.tag {
            case 0x80: sdad = Array(tlv.value)
            case 0x77:
                guard let s = tlv.first(0x9F4B) else { throw .missingData(0x9F4B) }
                sdad = Array(s.value)
            default: throw .missingData(0x9F4B)
            }
            let d = try verifySignedDynamicData(sdad, iccKey: iccKey, terminalDynamicData: ddolData)
            var r = ODAResult(method: .dda, failure: nil)
            r.iccDynamicNumber = try d.iccDynamicNumber()
            return r
        } catch {
            return .failed(.dda, error)
        }
    }

    /// Book C-3 v2.10 Annex C (fDDA): the SDAD (9F4B) returned by GPO. The terminal dynamic data follow the fDDA
    /// version, the first byte of the Card Authentication Related Data (9F69), per Table C-1: version 01 signs
    /// 9F37 ‖ 9F02 ‖ 5F2A ‖ 9F69; without 9F69 (version 00) only 9F37 is signed; any other version fails.
    /// The Signed Data Format is 05 (Book 2 Table 17) or 95, which genuine phones sign with (the Apple Pay Visa
    /// trace in Tests/KernelTests/Fixtures/public recovers as 6A 95 …).
    public func performFDDA(rid: [UInt8], data: TLVStore, staticData: [UInt8]) -> ODAResult {
        do throws(ODAFailure) {
            guard let sdad = data[0x9F4B] else { throw .missingData(0x9F4B) }
            let terminalData = try FDDATerminalData.bytes(data)
            let iccKey = try retrieveICCKey(
                issuerKey: try retrieveIssuerKey(rid: rid, data: data), data: data, staticData: staticData)
            let x = try SignedDataRecovery.recover(
                sdad, key: iccKey, object: .signedDynamicData, formats: [0x05, 0x95])
            let d = try SignedDynamicApplicationData(recovered: x)
            guard d.hashAlgorithm == 0x01 else {
                throw .unsupportedAlgorithm(.signedDynamicData, hash: d.hashAlgorithm, publicKey: 1)
            }
            try SignedDataRecovery.checkHash(x, extra: [terminalData], object: .signedDynamicData)
            var r = ODAResult(method: .fdda, failure: nil)
            r.iccDynamicNumber = try d.iccDynamicNumber()
            return r
        } catch {
            return .failed(.fdda, error)
        }
    }

    /// Book 2 §6.6.2 CDA on a GENERATE AC response: the SDAD (9F4B, in a format 2 response) recovered with the
    /// ICC key; its dynamic data holds the ICC Dynamic Number, the CID (must equal 9F27), the cryptogram and the
    /// Transaction Data Hash Code = SHA-1(PDOL related data ‖ CDOL1 related data ‖ the response's objects other
    /// than 9F4B, as received). `un` is the terminal's Unpredictable Number (9F37).
    public func performCDA(
        rid: [UInt8], data: TLVStore, staticData: [UInt8], pdolData: [UInt8], cdolData: [UInt8],
        generateACResponse response: [UInt8], un: [UInt8]
    ) -> ODAResult {
        do throws(ODAFailure) {
            guard let tlv = try? TLVParser.parseOne(response) else { throw .missingData(0x77) }
            guard tlv.tag == 0x77 else { throw .formatOneResponseWithCDA }
            guard let sdad = tlv.first(0x9F4B) else { throw .missingData(0x9F4B) }
            guard let cid = tlv.first(0x9F27), cid.value.count == 1 else { throw .missingData(0x9F27) }
            let iccKey = try retrieveICCKey(
                issuerKey: try retrieveIssuerKey(rid: rid, data: data), data: data, staticData: staticData)
            let d = try verifySignedDynamicData(Array(sdad.value), iccKey: iccKey, terminalDynamicData: un)
            let fields = try CDADynamicData(d)
            guard fields.cryptogramInformationData == cid.value.first else { throw .cryptogramInformationMismatch }
            let tdhc = Digest.sha1(parts: [pdolData, cdolData, try Self.objectsExcept9F4B(tlv)])
            guard tdhc == fields.transactionDataHashCode else { throw .hashMismatch(.signedDynamicData) }
            var r = ODAResult(method: .cda, failure: nil)
            r.iccDynamicNumber = fields.iccDynamicNumber
            r.cryptogram = fields.applicationCryptogram
            r.cryptogramInformationData = fields.cryptogramInformationData
            r.cdaTrailingData = fields.trailingData
            return r
        } catch {
            return .failed(.cda, error)
        }
    }

    /// Book 2 §6.5.2 steps 1–8 (and §6.6.2 for CDA): recovery, format 05, SHA-1, hash over the signed part and the
    /// terminal dynamic data.
    public func verifySignedDynamicData(_ sdad: [UInt8], iccKey: RSAPublicKey, terminalDynamicData: [UInt8])
        throws(ODAFailure) -> SignedDynamicApplicationData
    {
        let x = try SignedDataRecovery.recover(sdad, key: iccKey, object: .signedDynamicData, format: 0x05)
        let d = try SignedDynamicApplicationData(recovered: x)
        guard d.hashAlgorithm == 0x01 else {
            throw .unsupportedAlgorithm(.signedDynamicData, hash: d.hashAlgorithm, publicKey: 1)
        }
        try SignedDataRecovery.checkHash(x, extra: [terminalDynamicData], object: .signedDynamicData)
        return d
    }

    /// The bytes of every object in a 77 template except 9F4B, exactly as received (tag, length and value).
    static func objectsExcept9F4B(_ template: TLV) throws(ODAFailure) -> [UInt8] {
        guard let objects = try? TLVParser.rawObjects(template.value) else { throw .missingData(0x77) }
        return objects.filter { $0.tag != 0x9F4B }.flatMap { $0.encoded }
    }
}

/// Book 2 Table 19: the ICC Dynamic Data of a CDA signature.
public struct CDADynamicData: Sendable, Equatable {
    public let iccDynamicNumber: [UInt8]
    public let cryptogramInformationData: UInt8
    public let applicationCryptogram: [UInt8]
    public let transactionDataHashCode: [UInt8]
    /// Whatever the card signed after the hash code.
    public let trailingData: [UInt8]

    public init(_ d: SignedDynamicApplicationData) throws(ODAFailure) {
        let b = d.iccDynamicData
        guard let ldn = b.first.map(Int.init), ldn >= 2, ldn <= 8, b.count >= 1 + ldn + 1 + 8 + 20 else {
            throw .dynamicDataInvalid("CDA dynamic data of \(b.count) bytes is too short")
        }
        iccDynamicNumber = Array(b[1...ldn])
        cryptogramInformationData = b[1 + ldn]
        applicationCryptogram = Array(b[(2 + ldn)..<(10 + ldn)])
        transactionDataHashCode = Array(b[(10 + ldn)..<(30 + ldn)])
        trailingData = Array(b[(30 + ldn)...])
    }
}
