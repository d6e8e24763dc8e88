// Retrieval of the issuer and ICC public keys (EMV 4.4 Book 2 §5.3 and §6.4).

import EMVCrypto
import TLV

public struct OfflineDataAuthenticator: Sendable {
    public let keys: CAKeyStore
    /// Transaction date (tag 9A): certificates are checked against it.
    public let transactionDate: EMVDate

    public init(keys: CAKeyStore, transactionDate: EMVDate) {
        self.keys = keys
        self.transactionDate = transactionDate
    }

    /// Book 2 §5.3: recovers and checks the issuer public key certificate (90) with the CA key named by RID and
    /// 8F, completing the key with its remainder (92) and exponent (9F32). `pan` is tag 5A.
    public func retrieveIssuerKey(rid: [UInt8], data: TLVStore) throws(ODAFailure) -> RSAPublicKey {
        guard let caIndex = data[0x8F]?.first, data[0x8F]?.count == 1 else { throw .missingData(0x8F) }
        guard let cert = data[0x90] else { throw .missingData(0x90) }
        guard let exponent = data[0x9F32] else { throw .missingData(0x9F32) }
        guard let pan = data[0x5A] else { throw .missingData(0x5A) }
        guard let ca = keys.key(rid: rid, index: caIndex) else { throw .unknownCAKey(rid: rid, index: caIndex) }
        if let expiry = ca.expiry, transactionDate > expiry { throw .caKeyExpired(rid: rid, index: caIndex) }

        // Steps 1–4: length, recovery, trailer, header, format 02.
        let x = try SignedDataRecovery.recover(cert, key: ca.key, object: .issuerCertificate, format: 0x02)
        guard let c = PublicKeyCertificate.issuer(recovered: x) else {
            throw .wrongLength(.issuerCertificate, expected: 42, actual: x.count)
        }
        guard c.hashAlgorithm == 0x01, c.publicKeyAlgorithm == 0x01 else {
            throw .unsupportedAlgorithm(.issuerCertificate, hash: c.hashAlgorithm, publicKey: c.publicKeyAlgorithm)
        }
        let remainder = data[0x92] ?? []
        if c.needsRemainder && remainder.isEmpty { throw .missingData(0x92) }
        // Step 5–7: hash over format … key part ‖ remainder ‖ exponent.
        try SignedDataRecovery.checkHash(x, extra: [remainder, exponent], object: .issuerCertificate)
        // Step 8: issuer identifier = leftmost 3–8 PAN digits, padded with F.
        guard let idDigits = BCD.digits(c.subjectIdentifier), idDigits.count >= 3,
            let panDigits = BCD.digits(pan), panDigits.hasPrefix(idDigits)
        else { throw .issuerIdentifierMismatch }
        // Step 9: valid through the end of the expiry month.
        guard let expiry = c.expiry else { throw .invalidDate(.issuerCertificate) }
        if expiry.hasExpired(on: transactionDate) { throw .certificateExpired(.issuerCertificate, expiry.description) }
        // Step 10: revocation list.
        if keys.isRevoked(rid: rid, index: caIndex, serial: c.serialNumber) { throw .revoked(serial: c.serialNumber) }
        // Step 11–12: the whole key.
        return try Self.assemble(
            part: c.keyPart, remainder: remainder, needsRemainder: c.needsRemainder,
            length: c.publicKeyLength, exponent: exponent, exponentLength: c.exponentLength,
            object: .issuerCertificate)
    }

    /// Book 2 §6.4: recovers and checks the ICC public key certificate (9F46) with the issuer key; the hash covers
    /// the static data to be authenticated.
    public func retrieveICCKey(issuerKey: RSAPublicKey, data: TLVStore, staticData: [UInt8]) throws(ODAFailure)
        -> RSAPublicKey
    {
        guard let cert = data[0x9F46] else { throw .missingData(0x9F46) }
        guard let exponent = data[0x9F47] else { throw .missingData(0x9F47) }
        guard let pan = data[0x5A] else { throw .missingData(0x5A) }
        let x = try SignedDataRecovery.recover(cert, key: issuerKey, object: .iccCertificate, format: 0x04)
        guard let c = PublicKeyCertificate.icc(recovered: x) else {
            throw .wrongLength(.iccCertificate, expected: 42, actual: x.count)
        }
        guard c.hashAlgorithm == 0x01, c.publicKeyAlgorithm == 0x01 else {
            throw .unsupportedAlgorithm(.iccCertificate, hash: c.hashAlgorithm, publicKey: c.publicKeyAlgorithm)
        }
        let remainder = data[0x9F48] ?? []
        if c.needsRemainder && remainder.isEmpty { throw .missingData(0x9F48) }
        try SignedDataRecovery.checkHash(x, extra: [remainder, exponent, staticData], object: .iccCertificate)
        // Step 8: the recovered PAN (padded with F) equals the application PAN.
        guard let certPAN = BCD.digits(c.subjectIdentifier), let appPAN = BCD.digits(pan), !certPAN.isEmpty,
            certPAN == appPAN
        else {
            throw .panMismatch
        }
        guard let expiry = c.expiry else { throw .invalidDate(.iccCertificate) }
        if expiry.hasExpired(on: transactionDate) { throw .certificateExpired(.iccCertificate, expiry.description) }
        return try Self.assemble(
            part: c.keyPart, remainder: remainder, needsRemainder: c.needsRemainder,
            length: c.publicKeyLength, exponent: exponent, exponentLength: c.exponentLength,
            object: .iccCertificate)
    }

    static func assemble(
        part: [UInt8], remainder: [UInt8], needsRemainder: Bool, length: Int, exponent: [UInt8],
        exponentLength: Int, object: SignedObject
    ) throws(ODAFailure) -> RSAPublicKey {
        let modulus = needsRemainder ? part + remainder : part
        guard modulus.count == length, exponent.count == exponentLength else { throw .inconsistentKeyLength(object) }
        // Book 2 §5.1, §6.1: issuer and ICC public key exponents are 3 or 2^16 + 1.
        guard CAPublicKey.isAllowedExponent(exponent) else { throw .unsupportedExponent(object) }
        do { return try RSAPublicKey(modulus: modulus, exponent: exponent) } catch {
            throw .inconsistentKeyLength(object)
        }
    }
}
