// Why offline data authentication failed, step by step, and which TVR bit that sets.
import TLV

public enum ODAMethod: String, Sendable, Codable {
    case sda = "SDA"
    case dda = "DDA"
    case fdda = "fDDA"
    case cda = "CDA"
    case none
}

/// What is being recovered, for messages.
public enum SignedObject: String, Sendable {
    case issuerCertificate = "issuer public key certificate"
    case iccCertificate = "ICC public key certificate"
    case signedStaticData = "signed static application data"
    case signedDynamicData = "signed dynamic application data"
}

public enum ODAFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// A data object ODA needs is absent (sets "ICC data missing").
    case missingData(Tag)
    case unknownCAKey(rid: [UInt8], index: UInt8)
    case caKeyExpired(rid: [UInt8], index: UInt8)
    case wrongLength(SignedObject, expected: Int, actual: Int)
    case rsaFailed(SignedObject)
    case badTrailer(SignedObject, UInt8)
    case badHeader(SignedObject, UInt8)
    case wrongFormat(SignedObject, UInt8)
    case unsupportedAlgorithm(SignedObject, hash: UInt8, publicKey: UInt8)
    case hashMismatch(SignedObject)
    case issuerIdentifierMismatch
    case panMismatch
    case certificateExpired(SignedObject, String)
    case invalidDate(SignedObject)
    case revoked(serial: [UInt8])
    case remainderMissing(SignedObject)
    case inconsistentKeyLength(SignedObject)
    case staticDataRecordNotTemplate70(sfi: UInt8, record: UInt8)
    case sdaTagListInvalid
    case dynamicDataInvalid(String)
    case cryptogramInformationMismatch
    case unsupportedFDDAVersion(UInt8)
    case formatOneResponseWithCDA
    case cryptogramMissing
    case unsupportedExponent(SignedObject)
    /// An SM2 signature (PBOC 3.0 part 17) that does not verify under the signer's key.
    case signatureInvalid(SignedObject)

    public var description: String {
        switch self {
        case .missingData(let t): return "ICC data missing: tag \(t.hex)"
        case .unknownCAKey(let r, let i): return "no CA public key \(Hex.encode(r))/\(Hex.encode([i])) loaded"
        case .caKeyExpired(let r, let i): return "CA public key \(Hex.encode(r))/\(Hex.encode([i])) has expired"
        case .wrongLength(let o, let e, let a):
            return "\(o.rawValue) is \(a) bytes, \(e) expected (the signer's modulus length)"
        case .rsaFailed(let o): return "\(o.rawValue) could not be recovered (not less than the modulus)"
        case .badTrailer(let o, let b): return "\(o.rawValue): recovered trailer \(Hex.encode([b])), BC expected"
        case .badHeader(let o, let b): return "\(o.rawValue): recovered header \(Hex.encode([b])), 6A expected"
        case .wrongFormat(let o, let b): return "\(o.rawValue): format \(Hex.encode([b])) is not the expected one"
        case .unsupportedAlgorithm(let o, let h, let p):
            return
                "\(o.rawValue): hash algorithm \(Hex.encode([h])) / public key algorithm \(Hex.encode([p])) not supported"
        case .hashMismatch(let o): return "\(o.rawValue): hash does not match"
        case .issuerIdentifierMismatch: return "issuer identifier does not match the PAN"
        case .panMismatch: return "PAN in the ICC certificate does not match the application PAN"
        case .certificateExpired(let o, let d): return "\(o.rawValue) expired (\(d))"
        case .invalidDate(let o): return "\(o.rawValue) carries an invalid expiry date"
        case .revoked(let s): return "issuer certificate serial \(Hex.encode(s)) is revoked"
        case .remainderMissing(let o): return "\(o.rawValue): public key remainder missing"
        case .inconsistentKeyLength(let o): return "\(o.rawValue): public key length inconsistent with the certificate"
        case .staticDataRecordNotTemplate70(let s, let r):
            return "record \(r) of SFI \(s) used for ODA is not a 70 template"
        case .sdaTagListInvalid: return "Static Data Authentication Tag List holds a tag other than 82"
        case .dynamicDataInvalid(let s): return "ICC dynamic data invalid: \(s)"
        case .cryptogramInformationMismatch: return "CID in the signature differs from the CID returned"
        case .unsupportedFDDAVersion(let v): return "fDDA version \(Hex.encode([v])) not supported"
        case .formatOneResponseWithCDA: return "CDA requested but the GENERATE AC response is format 1"
        case .cryptogramMissing: return "no application cryptogram in the response"
        case .unsupportedExponent(let o): return "\(o.rawValue): public key exponent is neither 3 nor 65537"
        case .signatureInvalid(let o): return "\(o.rawValue): the SM2 signature does not verify"
        }
    }

    /// The TVR bit for this failure under `method` (Book 3 §10.3; Book C-3 uses the DDA bit for fDDA).
    public func tvrBits(for method: ODAMethod) -> [TerminalVerificationResults.Bit] {
        var bits: [TerminalVerificationResults.Bit] = []
        switch method {
        case .sda: bits.append(.sdaFailed)
        case .dda, .fdda: bits.append(.ddaFailed)
        case .cda: bits.append(.cdaFailed)
        case .none: break
        }
        if case .missingData = self { bits.append(.iccDataMissing) }
        return bits
    }
}
