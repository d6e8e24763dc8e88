// RSA as EMV uses it: the raw public operation without padding (EMV Book 2 Annex A2.1; recovery of
// certificates and signatures), exponents 3 and 65537, moduli up to 1984 bits and beyond. The private
// operation and key generation exist for the simulators' test PKI (virtual cards, test CA); no production
// path signs anything.
import COpenSSL

/// An RSA public key (CA, issuer or ICC) for EMV certificate and signature recovery.
public struct RSAPublicKey: Sendable, Equatable {
    /// The modulus as big-endian bytes, without leading zero bytes.
    public let modulus: [UInt8]
    /// The public exponent as big-endian bytes (1 to 4 bytes, typically 3 or 65537), without leading zero bytes.
    public let exponent: [UInt8]

    /// Largest modulus accepted (4096 bits): beyond any EMV key, small enough to bound the work per call.
    public static let maxModulusLength = 512

    /// Creates a key from big-endian modulus and exponent bytes, dropping leading zeros. Throws `invalidKey` for an
    /// empty, even or over-long (above 4096 bits) modulus, or an empty exponent or one longer than 4 bytes.
    public init(modulus: [UInt8], exponent: [UInt8]) throws {
        let m = Array(modulus.drop(while: { $0 == 0 }))
        guard !m.isEmpty, m.count <= Self.maxModulusLength else {
            throw CryptoError.invalidKey("modulus of \(modulus.count) bytes")
        }
        guard m.last! & 1 == 1 else { throw CryptoError.invalidKey("even modulus") }
        let e = Array(exponent.drop(while: { $0 == 0 }))
        guard !e.isEmpty, e.count <= 4 else { throw CryptoError.invalidKey("exponent of \(exponent.count) bytes") }
        self.modulus = m
        self.exponent = e
    }

    /// The modulus length in bits.
    public var bits: Int { (modulus.count - 1) * 8 + (8 - modulus[0].leadingZeroBitCount) }

    /// x^e mod n on an input of exactly the modulus length; the input must be less than the modulus.
    public func apply(_ input: [UInt8]) throws -> [UInt8] {
        guard input.count == modulus.count else { throw CryptoError.invalidDataLength(input.count) }
        return try RSAMath.modExp(input, exponent, modulus, constantTime: false)
    }
}

/// An RSA key pair for the simulators' test PKI (virtual cards, test CA); no production path signs anything.
public struct RSAKeyPair: Sendable {
    /// The public half of the pair.
    public let publicKey: RSAPublicKey
    private let privateExponent: [UInt8]

    /// Generates a key pair with libcrypto (test PKI for simulators). `bits` must be a multiple of 8.
    public static func generate(bits: Int, exponent: UInt = 3) throws -> RSAKeyPair {
        guard bits >= 512, bits % 8 == 0, bits <= 4096 else { throw CryptoError.invalidKey("\(bits) bits") }
        var n: OpaquePointer? = nil
        var d: OpaquePointer? = nil
        guard tapd_rsa_generate(Int32(bits), exponent, &n, &d) == 1, let n, let d else {
            throw CryptoError.openssl("RSA key generation failed")
        }
        defer {
            BN_free(n)
            BN_clear_free(d)
        }
        let nb = RSAMath.bytes(n, length: bits / 8)
        let db = RSAMath.bytes(d, length: bits / 8)
        var e: [UInt8] = []
        var v = exponent
        while v > 0 {
            e.insert(UInt8(v & 0xFF), at: 0)
            v >>= 8
        }
        return RSAKeyPair(publicKey: try RSAPublicKey(modulus: nb, exponent: e), privateExponent: db)
    }

    /// Restores a pair from its modulus, public and private exponents (fixture keys).
    public init(modulus: [UInt8], publicExponent: [UInt8], privateExponent: [UInt8]) throws {
        publicKey = try RSAPublicKey(modulus: modulus, exponent: publicExponent)
        self.privateExponent = privateExponent
    }

    /// The private exponent, for writing a simulator's test key pair to a fixture file. tapd itself never holds a
    /// private key of a real card, issuer or CA; only the simulators' generated test keys pass through here.
    public var privateExponentForTestFixtures: [UInt8] { privateExponent }

    private init(publicKey: RSAPublicKey, privateExponent: [UInt8]) {
        self.publicKey = publicKey
        self.privateExponent = privateExponent
    }

    /// x^d mod n (signing in the EMV sense: the card or CA "encrypts" the formatted data).
    public func sign(_ input: [UInt8]) throws -> [UInt8] {
        guard input.count == publicKey.modulus.count else { throw CryptoError.invalidDataLength(input.count) }
        return try RSAMath.modExp(input, privateExponent, publicKey.modulus, constantTime: true)
    }
}

enum RSAMath {
    static func modExp(_ x: [UInt8], _ e: [UInt8], _ n: [UInt8], constantTime: Bool) throws -> [UInt8] {
        guard let ctx = BN_CTX_new() else { throw CryptoError.openssl("BN_CTX_new") }
        defer { BN_CTX_free(ctx) }
        guard let bx = BN_bin2bn(x, Int32(x.count), nil), let be = BN_bin2bn(e, Int32(e.count), nil),
            let bn = BN_bin2bn(n, Int32(n.count), nil), let r = BN_new()
        else {
            throw CryptoError.openssl("BN_bin2bn")
        }
        defer {
            BN_free(bx)
            BN_clear_free(be)
            BN_free(bn)
            BN_free(r)
        }
        guard BN_cmp(bx, bn) < 0 else { throw CryptoError.inputNotLessThanModulus }
        let ok = constantTime ? BN_mod_exp_mont_consttime(r, bx, be, bn, ctx, nil) : BN_mod_exp(r, bx, be, bn, ctx)
        guard ok == 1 else { throw CryptoError.openssl("BN_mod_exp") }
        return bytes(r, length: n.count)
    }

    static func bytes(_ b: OpaquePointer, length: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        _ = BN_bn2binpad(b, &out, Int32(length))
        return out
    }
}

/// Cryptographically strong random bytes (unpredictable numbers, entropy for relay resistance, keys).
public func secureRandomBytes(_ count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    guard RAND_bytes(&out, Int32(count)) == 1 else {
        fatalError("libcrypto: RAND_bytes failed; refusing to continue without randomness")
    }
    return out
}
