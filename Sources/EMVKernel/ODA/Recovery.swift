// RSA recovery of EMV signed objects and the fields of each format (EMV 4.4 Book 2 §5.3, §5.4, §6.3–§6.6).
// One routine recovers and checks the frame (length, header 6A, trailer BC, format byte); small types then
// read the fields of each format.
import TLV
import EMVCrypto

public enum SignedDataRecovery {
    /// Book 2 §5.3 steps 1–4 (and the same steps of §5.4, §6.3, §6.5): the signed object must be as long as the
    /// signer's modulus; X = S^e mod n must start with 6A, end with BC and carry the expected format.
    public static func recover(_ signed: [UInt8], key: RSAPublicKey, object: SignedObject, format: UInt8) throws(ODAFailure) -> [UInt8] {
        guard signed.count == key.modulus.count else {
            throw .wrongLength(object, expected: key.modulus.count, actual: signed.count)
        }
        let x: [UInt8]
        do { x = try key.apply(signed) } catch { throw .rsaFailed(object) }
        guard x.count >= 42 else { throw .wrongLength(object, expected: 42, actual: x.count) }
        guard x[x.count - 1] == 0xBC else { throw .badTrailer(object, x[x.count - 1]) }
        guard x[0] == 0x6A else { throw .badHeader(object, x[0]) }
        guard x[1] == format else { throw .wrongFormat(object, x[1]) }
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

/// Book 2 Table 6: the fields of a recovered issuer public key certificate (format 02).
public struct IssuerPublicKeyCertificate: Sendable, Equatable {
    public let issuerIdentifier: [UInt8]      // 4 bytes, leftmost 3–8 PAN digits padded with F
    public let expiry: CertificateExpiry?
    public let rawExpiry: [UInt8]
    public let serialNumber: [UInt8]          // 3 bytes
    public let hashAlgorithm: UInt8
    public let publicKeyAlgorithm: UInt8
    public let publicKeyLength: Int
    public let exponentLength: Int
    /// The leftmost part of the issuer key held in the certificate (with any BB padding removed).
    public let keyPart: [UInt8]
    public let recovered: [UInt8]

    public init(recovered x: [UInt8]) {
        recovered = x
        issuerIdentifier = Array(x[2..<6])
        rawExpiry = Array(x[6..<8])
        expiry = CertificateExpiry(mmyy: x[6..<8])
        serialNumber = Array(x[8..<11])
        hashAlgorithm = x[11]
        publicKeyAlgorithm = x[12]
        publicKeyLength = Int(x[13])
        exponentLength = Int(x[14])
        let room = x.count - 36
        keyPart = Array(x[15..<(15 + min(room, publicKeyLength))])
    }

    /// Whether the whole key fits in the certificate (NI ≤ NCA − 36); otherwise the remainder (tag 92) completes it.
    public var needsRemainder: Bool { publicKeyLength > recovered.count - 36 }
}

/// Book 2 Table 14: the fields of a recovered ICC public key certificate (format 04).
public struct ICCPublicKeyCertificate: Sendable, Equatable {
    public let applicationPAN: [UInt8]        // 10 bytes, padded with F
    public let expiry: CertificateExpiry?
    public let rawExpiry: [UInt8]
    public let serialNumber: [UInt8]
    public let hashAlgorithm: UInt8
    public let publicKeyAlgorithm: UInt8
    public let publicKeyLength: Int
    public let exponentLength: Int
    public let keyPart: [UInt8]
    public let recovered: [UInt8]

    public init(recovered x: [UInt8]) {
        recovered = x
        applicationPAN = Array(x[2..<12])
        rawExpiry = Array(x[12..<14])
        expiry = CertificateExpiry(mmyy: x[12..<14])
        serialNumber = Array(x[14..<17])
        hashAlgorithm = x[17]
        publicKeyAlgorithm = x[18]
        publicKeyLength = Int(x[19])
        exponentLength = Int(x[20])
        let room = x.count - 42
        keyPart = Array(x[21..<(21 + min(room, publicKeyLength))])
    }

    public var needsRemainder: Bool { publicKeyLength > recovered.count - 42 }
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
