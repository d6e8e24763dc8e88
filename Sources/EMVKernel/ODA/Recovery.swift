// RSA recovery of EMV signed objects and the fields of each format (EMV 4.4 Book 2 §5.3, §5.4, §6.3–§6.6).
// One routine recovers and checks the frame (length, header 6A, trailer BC, format byte); small types then
// read the fields of each format.

import EMVCrypto
import TLV

public enum SignedDataRecovery {
    /// Book 2 §5.3 steps 1–4 (and the same steps of §5.4, §6.3, §6.5): the signed object must be as long as the
    /// signer's modulus; X = S^e mod n must start with 6A, end with BC and carry the expected format.
    public static func recover(_ signed: [UInt8], key: RSAPublicKey, object: SignedObject, format: UInt8)
        throws(ODAFailure) -> [UInt8]
    {
        try recover(signed, key: key, object: object, formats: [format])
    }

    /// As `recover(_:key:object:format:)`, accepting any of `formats` (fDDA signs with 05 or 95).
    public static func recover(_ signed: [UInt8], key: RSAPublicKey, object: SignedObject, formats: Set<UInt8>)
        throws(ODAFailure) -> [UInt8]
    {
        guard signed.count == key.modulus.count else {
            throw .wrongLength(object, expected: key.modulus.count, actual: signed.count)
        }
        let x: [UInt8]
        do { x = try key.apply(signed) } catch { throw .rsaFailed(object) }
        guard x.count >= 42 else { throw .wrongLength(object, expected: 42, actual: x.count) }
        guard x[x.count - 1] == 0xBC else { throw .badTrailer(object, x[x.count - 1]) }
        guard x[0] == 0x6A else { throw .badHeader(object, x[0]) }
        guard formats.contains(x[1]) else { throw .wrongFormat(object, x[1]) }
        return x
    }

    /// The 20-byte hash that sits before the trailer.
    static func hash(of x: [UInt8]) -> ArraySlice<UInt8> { x[(x.count - 21)..<(x.count - 1)] }
    /// Book 2: the hash covers the recovered data from the format byte up to (not including) the hash.
    static func signedPart(of x: [UInt8]) -> ArraySlice<UInt8> { x[1..<(x.count - 21)] }

    static func checkHash(_ x: [UInt8], extra: [[UInt8]], object: SignedObject) throws(ODAFailure) {
        let computed = Digest.sha1(parts: [Array(signedPart(of: x))] + extra)
        guard hash(of: x).elementsEqual(computed) else { throw .hashMismatch(object) }
    }
}

/// Book 2 Tables 6 and 14: the fields of a recovered public key certificate. Issuer certificates (format 02)
/// name the issuer by a 4-byte identifier (leftmost PAN digits padded with F); ICC certificates (format 04) by
/// the 10-byte application PAN padded with F. After the identifier both carry expiry (MMYY), serial number,
/// hash and public key algorithm indicators, key and exponent lengths, then the key or its leftmost part.
public struct PublicKeyCertificate: Sendable, Equatable {
    public let subjectIdentifier: [UInt8]
    public let expiry: CertificateExpiry?
    public let rawExpiry: [UInt8]
    public let serialNumber: [UInt8]  // 3 bytes
    public let hashAlgorithm: UInt8
    public let publicKeyAlgorithm: UInt8
    public let publicKeyLength: Int
    public let exponentLength: Int
    /// The part of the key held in the certificate (any BB padding left out).
    public let keyPart: [UInt8]
    /// Room for the key in the certificate: NCA − 36 for an issuer key, NI − 42 for an ICC key.
    public let room: Int
    public let recovered: [UInt8]

    /// Reads an issuer public key certificate; nil when `x` is too short to hold one.
    public static func issuer(recovered x: [UInt8]) -> PublicKeyCertificate? {
        .init(recovered: x, identifierLength: 4)
    }
    /// Reads an ICC public key certificate; nil when `x` is too short to hold one.
    public static func icc(recovered x: [UInt8]) -> PublicKeyCertificate? { .init(recovered: x, identifierLength: 10) }

    init?(recovered x: [UInt8], identifierLength n: Int) {
        // 6A, format, identifier, expiry (2), serial (3), two indicators, two lengths, key …, hash (20), BC.
        let keyStart = 2 + n + 2 + 3 + 4
        guard x.count >= keyStart + 21 else { return nil }
        recovered = x
        subjectIdentifier = Array(x[2..<(2 + n)])
        rawExpiry = Array(x[(2 + n)..<(4 + n)])
        expiry = CertificateExpiry(mmyy: rawExpiry)
        serialNumber = Array(x[(4 + n)..<(7 + n)])
        hashAlgorithm = x[7 + n]
        publicKeyAlgorithm = x[8 + n]
        publicKeyLength = Int(x[9 + n])
        exponentLength = Int(x[10 + n])
        room = x.count - keyStart - 21
        keyPart = Array(x[keyStart..<(keyStart + min(room, publicKeyLength))])
    }

    /// Whether the key is longer than the room in the certificate, so the remainder (92 / 9F48) completes it.
    public var needsRemainder: Bool { publicKeyLength > room }
}

/// Book 2 Table 7: recovered signed static application data (format 03).
public struct SignedStaticApplicationData: Sendable, Equatable {
    public let hashAlgorithm: UInt8
    public let dataAuthenticationCode: [UInt8]

    public init(recovered x: [UInt8]) {
        hashAlgorithm = x[2]
        dataAuthenticationCode = Array(x[3..<5])
    }
}

/// Book 2 Table 17 (DDA, fDDA) and Table 19 (CDA): recovered signed dynamic application data (format 05).
public struct SignedDynamicApplicationData: Sendable, Equatable {
    public let hashAlgorithm: UInt8
    /// The ICC Dynamic Data field (its length is given in the signature).
    public let iccDynamicData: [UInt8]
    public let recovered: [UInt8]

    public init(recovered x: [UInt8]) throws(ODAFailure) {
        recovered = x
        hashAlgorithm = x[2]
        let ldd = Int(x[3])
        // Book 2 §6.5.2 step 4: LDD ≤ NIC − 25.
        guard ldd <= x.count - 25 else { throw .dynamicDataInvalid("length \(ldd) exceeds the signature") }
        iccDynamicData = Array(x[4..<(4 + ldd)])
    }

    /// Book 2 Table 18: the ICC Dynamic Number is preceded by its length.
    public func iccDynamicNumber() throws(ODAFailure) -> [UInt8] {
        guard let n = iccDynamicData.first.map(Int.init), n >= 2, n <= 8, iccDynamicData.count >= 1 + n else {
            throw .dynamicDataInvalid("ICC Dynamic Number length")
        }
        return Array(iccDynamicData[1...n])
    }
}
