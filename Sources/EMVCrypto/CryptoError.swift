/// A failure in EMVCrypto: a wrong key or data length, an unusable key, a libcrypto error or a failed tag check.
public enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidKeyLength(Int)
    case invalidDataLength(Int)
    case inputNotLessThanModulus
    case invalidKey(String)
    case openssl(String)
    /// An authenticated ciphertext whose tag does not verify (wrong key, changed bytes or associated data).
    case authenticationFailed
    /// A secret file refused by the key file rule (`KeyFile`), with its path and the reason.
    case keyFileRefused(KeyFile.Refused)

    /// A short explanation for logs; it never contains key material or data.
    public var description: String {
        switch self {
        case .invalidKeyLength(let n): return "invalid key length \(n)"
        case .invalidDataLength(let n): return "invalid data length \(n)"
        case .inputNotLessThanModulus: return "RSA input is not less than the modulus"
        case .invalidKey(let s): return "invalid key: \(s)"
        case .openssl(let s): return "libcrypto: \(s)"
        case .authenticationFailed:
            return "authentication failed: the sealed data or its context does not match the key"
        case .keyFileRefused(let r): return r.description
        }
    }
}
