// Offline data authentication with SM2 (PBOC 3.0, JR/T 0025.17-2013 §5.2): the same chain as Book 2's, CA → issuer
// → card, but certificates are the data in clear followed by an SM2 signature r ‖ s (64 bytes) instead of an RSA
// block to recover. Each signature is verified over SM3(Z ‖ M) with the signer identifier "1234567812345678"
// (part 17 §8.2). The CA key index names the algorithm (part 17 §10.4): an index that names an SM2 CA key is
// authenticated here, and the certificate's own algorithm indicators must agree.

import EMVCrypto
import TLV

/// PBOC 3.0 part 17 Annex A: the algorithm indicators an SM2 certificate carries.
enum SM2Indicators {
    /// Public key signature algorithm: SM2 with SM3.
    static let signatureAlgorithm: UInt8 = 0x04
    /// Public key parameter (curve) indicator: the SM2 curve, 64-byte keys.
    static let curve: UInt8 = 0x11
    static let keyLength: UInt8 = 0x40
}

extension OfflineDataAuthenticator {
    /// Whether the card's CA key index (8F) names an SM2 CA key: its ODA is then SM2's.
    public func usesSM2(rid: [UInt8], data: TLVStore) -> Bool {
        guard let index = data[0x8F]?.first, data[0x8F]?.count == 1 else { return false }
        return keys.sm2Key(rid: rid, index: index) != nil
    }

    /// Part 17 §5.2.2 (Table 4): the issuer public key certificate (90), format 12: issuer identifier (4), expiry
    /// MMYY (2), serial (3), signature algorithm 04, encryption algorithm, curve 11, key length 40, the key X ‖ Y,
    /// then the CA's signature over everything before it.
    public func retrieveSM2IssuerKey(rid: [UInt8], data: TLVStore) throws(ODAFailure) -> NationalAlgorithms.SM2PublicKey
    {
        guard let caIndex = data[0x8F]?.first, data[0x8F]?.count == 1 else { throw .missingData(0x8F) }
        guard let cert = data[0x90] else { throw .missingData(0x90) }
        guard let pan = data[0x5A] else { throw .missingData(0x5A) }
        guard let ca = keys.sm2Key(rid: rid, index: caIndex) else { throw .unknownCAKey(rid: rid, index: caIndex) }
        if let expiry = ca.expiry, transactionDate > expiry { throw .caKeyExpired(rid: rid, index: caIndex) }
        let c = try SM2Certificate(cert, format: 0x12, identifierLength: 4, object: .issuerCertificate)
        try c.verify(with: ca.key, extra: [], object: .issuerCertificate)
        // The issuer identifier is the leftmost 3–8 PAN digits, padded with F (part 17 §5.2.2 step d).
        guard let idDigits = BCD.digits(c.subjectIdentifier), idDigits.count >= 3,
            let panDigits = BCD.digits(pan), panDigits.hasPrefix(idDigits)
        else { throw .issuerIdentifierMismatch }
        guard let expiry = CertificateExpiry(mmyy: c.expiry) else { throw .invalidDate(.issuerCertificate) }
        if expiry.hasExpired(on: transactionDate) { throw .certificateExpired(.issuerCertificate, expiry.description) }
        if keys.isRevoked(rid: rid, index: caIndex, serial: c.serial) { throw .revoked(serial: c.serial) }
        return c.key
    }

    /// Part 17 §5.2.3 (Table 6): the ICC public key certificate (9F46), format 14: the application PAN (10), expiry,
    /// serial, the indicators, the key, then the issuer's signature over everything before it followed by the
    /// static data to be authenticated.
    public func retrieveSM2ICCKey(
        issuerKey: NationalAlgorithms.SM2PublicKey, data: TLVStore, staticData: [UInt8]
    ) throws(ODAFailure) -> NationalAlgorithms.SM2PublicKey {
        guard let cert = data[0x9F46] else { throw .missingData(0x9F46) }
        guard let pan = data[0x5A] else { throw .missingData(0x5A) }
        let c = try SM2Certificate(cert, format: 0x14, identifierLength: 10, object: .iccCertificate)
        try c.verify(with: issuerKey, extra: staticData, object: .iccCertificate)
        guard let certPAN = BCD.digits(c.subjectIdentifier), let appPAN = BCD.digits(pan), !certPAN.isEmpty,
            certPAN == appPAN
        else { throw .panMismatch }
        guard let expiry = CertificateExpiry(mmyy: c.expiry) else { throw .invalidDate(.iccCertificate) }
        if expiry.hasExpired(on: transactionDate) { throw .certificateExpired(.iccCertificate, expiry.description) }
        return c.key
    }

    /// PBOC 3.0 part 12 Annex B with part 17 §5.2.4: fDDA with SM2. The Signed Dynamic Application Data (9F4B) is
    /// format 15: 15 ‖ LDD ‖ ICC dynamic data ‖ signature, the card's signature covering 15 ‖ LDD ‖ ICC dynamic data
    /// ‖ the terminal dynamic data. The terminal dynamic data follow the fDDA version as for RSA (part 12 Table B.1:
    /// "00" the UN only; "01" UN ‖ amount ‖ currency ‖ 9F69).
    public func performSM2FDDA(rid: [UInt8], data: TLVStore, staticData: [UInt8]) -> ODAResult {
        do throws(ODAFailure) {
            guard let sdad = data[0x9F4B] else { throw .missingData(0x9F4B) }
            let terminalData = try FDDATerminalData.bytes(data)
            let iccKey = try retrieveSM2ICCKey(
                issuerKey: try retrieveSM2IssuerKey(rid: rid, data: data), data: data, staticData: staticData)
            guard sdad.count >= 2 + 64, sdad[0] == 0x15 else {
                if sdad.first != 0x15, let f = sdad.first { throw .wrongFormat(.signedDynamicData, f) }
                throw .wrongLength(.signedDynamicData, expected: 66, actual: sdad.count)
            }
            let ldd = Int(sdad[1])
            guard sdad.count == 2 + ldd + 64 else {
                throw .wrongLength(.signedDynamicData, expected: 2 + ldd + 64, actual: sdad.count)
            }
            let signed = Array(sdad[0..<(2 + ldd)])
            let signature = Array(sdad[(2 + ldd)...])
            let valid: Bool
            do { valid = try NationalAlgorithms.sm2Verify(signature, of: signed + terminalData, key: iccKey) } catch {
                throw .signatureInvalid(.signedDynamicData)
            }
            guard valid else { throw .signatureInvalid(.signedDynamicData) }
            // The ICC dynamic data start with the ICC Dynamic Number's length (Book 2 Table 18; part 12 Table B.2).
            let dynamic = Array(signed[2...])
            guard let n = dynamic.first.map(Int.init), n >= 2, n <= 8, dynamic.count >= 1 + n else {
                throw .dynamicDataInvalid("ICC Dynamic Number length")
            }
            var r = ODAResult(method: .fdda, failure: nil)
            r.iccDynamicNumber = Array(dynamic[1...n])
            return r
        } catch {
            return .failed(.fdda, error)
        }
    }
}

/// The terminal dynamic data an fDDA signature covers, by fDDA version (the first byte of 9F69): Book C-3 Table C-1
/// and PBOC 3.0 part 12 Table B.1 agree — version 01 signs UN ‖ amount ‖ currency ‖ 9F69; without 9F69 (version 00)
/// only the UN; any other version fails.
enum FDDATerminalData {
    static func bytes(_ data: TLVStore) throws(ODAFailure) -> [UInt8] {
        guard let un = data[0x9F37] else { throw .missingData(0x9F37) }
        guard let card = data[0x9F69] else { return un }
        guard let version = card.first else { throw .missingData(0x9F69) }
        guard version == 0x01 else { throw .unsupportedFDDAVersion(version) }
        guard let amount = data[0x9F02] else { throw .missingData(0x9F02) }
        guard let currency = data[0x5F2A] else { throw .missingData(0x5F2A) }
        return un + amount + currency + card
    }
}

/// An SM2 public key certificate (PBOC 3.0 part 17 Tables 4 and 6), read with every length checked.
struct SM2Certificate {
    let subjectIdentifier: [UInt8]
    let expiry: [UInt8]
    let serial: [UInt8]
    let key: NationalAlgorithms.SM2PublicKey
    let signed: [UInt8]
    let signature: [UInt8]

    /// format (1) ‖ identifier (n) ‖ expiry (2) ‖ serial (3) ‖ signature alg (1) ‖ encryption alg (1) ‖ curve (1) ‖
    /// key length (1) ‖ key (64) ‖ signature (64).
    init(_ c: [UInt8], format: UInt8, identifierLength n: Int, object: SignedObject) throws(ODAFailure) {
        let keyStart = 1 + n + 2 + 3 + 4
        guard c.count == keyStart + 64 + 64 else {
            throw .wrongLength(object, expected: keyStart + 128, actual: c.count)
        }
        guard c[0] == format else { throw .wrongFormat(object, c[0]) }
        let algorithm = c[keyStart - 4]
        let curve = c[keyStart - 2]
        guard algorithm == SM2Indicators.signatureAlgorithm, curve == SM2Indicators.curve,
            c[keyStart - 1] == SM2Indicators.keyLength
        else {
            throw .unsupportedAlgorithm(object, hash: curve, publicKey: algorithm)
        }
        subjectIdentifier = Array(c[1..<(1 + n)])
        expiry = Array(c[(1 + n)..<(3 + n)])
        serial = Array(c[(3 + n)..<(6 + n)])
        do { key = try .init(point: Array(c[keyStart..<(keyStart + 64)])) } catch {
            throw .inconsistentKeyLength(object)
        }
        signed = Array(c[0..<(keyStart + 64)])
        signature = Array(c[(keyStart + 64)...])
    }

    func verify(with signer: NationalAlgorithms.SM2PublicKey, extra: [UInt8], object: SignedObject) throws(ODAFailure) {
        let valid: Bool
        do { valid = try NationalAlgorithms.sm2Verify(signature, of: signed + extra, key: signer) } catch {
            throw .signatureInvalid(object)
        }
        guard valid else { throw .signatureInvalid(object) }
    }
}
