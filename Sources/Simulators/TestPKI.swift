// A test public-key infrastructure for the virtual cards: a test CA, issuers and cards whose RSA keys are
// generated for the purpose. Only the simulators hold private keys; the terminal sees the CA public key through
// the CA key store in test mode. Certificate formats: EMV 4.4 Book 2 Tables 6, 7, 14 and 17.

import EMVCrypto
import EMVKernel
import TLV

/// One signer in the EMV chain (CA, issuer or card) with the formats it signs.
public struct EMVSigner: Sendable {
    /// The signer's RSA key pair, private half included (a TEST key).
    public let keyPair: RSAKeyPair
    /// The public half of the key pair.
    public var publicKey: RSAPublicKey { keyPair.publicKey }
    /// The modulus length in bytes, which is also the length of every signature.
    public var modulusLength: Int { keyPair.publicKey.modulus.count }

    /// A signer using an existing key pair.
    public init(keyPair: RSAKeyPair) { self.keyPair = keyPair }

    /// A signer with a freshly generated RSA TEST key of `bits` bits; throws if generation fails.
    public static func generate(bits: Int, exponent: UInt = 3) throws -> EMVSigner {
        EMVSigner(keyPair: try RSAKeyPair.generate(bits: bits, exponent: exponent))
    }

    /// Signs 6A ‖ body ‖ SHA-1(body ‖ hashExtra) ‖ BC, padding `body` with BB up to the modulus length.
    /// `body` starts with the format byte (Book 2 §5.1: the signed part is recovered from format to hash).
    public func sign(body: [UInt8], hashExtra: [[UInt8]]) throws -> [UInt8] {
        let n = modulusLength
        precondition(body.count <= n - 22, "signed body too long for the key")
        let padded = body + [UInt8](repeating: 0xBB, count: n - 22 - body.count)
        let hash = Digest.sha1(parts: [padded] + hashExtra)
        return try keyPair.sign([0x6A] + padded + hash + [0xBC])
    }

    /// Splits a public key for a certificate with `room` bytes: (part in the certificate, remainder).
    static func split(_ key: RSAPublicKey, room: Int) -> (part: [UInt8], remainder: [UInt8]) {
        let m = key.modulus
        return m.count <= room ? (m, []) : (Array(m.prefix(room)), Array(m.dropFirst(room)))
    }

    /// Book 2 Table 6: an issuer public key certificate (format 02) signed by this CA.
    public func issuerCertificate(
        for issuerKey: RSAPublicKey, issuerIdentifier: String, expiryMMYY: [UInt8],
        serial: [UInt8] = [0x00, 0x00, 0x01]
    ) throws -> (certificate: [UInt8], remainder: [UInt8]) {
        let (part, remainder) = Self.split(issuerKey, room: modulusLength - 36)
        var id = BCD.packDigits(issuerIdentifier) ?? []
        id += [UInt8](repeating: 0xFF, count: max(0, 4 - id.count))
        let body =
            [0x02] + id.prefix(4) + expiryMMYY + serial + [
                0x01, 0x01,
                UInt8(issuerKey.modulus.count), UInt8(issuerKey.exponent.count),
            ] + part
        return (try sign(body: body, hashExtra: [remainder, issuerKey.exponent]), remainder)
    }

    /// Book 2 Table 14: an ICC public key certificate (format 04) signed by this issuer; the hash covers the
    /// static data to be authenticated.
    public func iccCertificate(
        for iccKey: RSAPublicKey, pan: String, expiryMMYY: [UInt8], serial: [UInt8] = [0x00, 0x00, 0x01],
        staticData: [UInt8]
    ) throws -> (certificate: [UInt8], remainder: [UInt8]) {
        let (part, remainder) = Self.split(iccKey, room: modulusLength - 42)
        var panBytes = BCD.packDigits(pan) ?? []
        panBytes += [UInt8](repeating: 0xFF, count: max(0, 10 - panBytes.count))
        let body =
            [0x04] + panBytes.prefix(10) + expiryMMYY + serial + [
                0x01, 0x01,
                UInt8(iccKey.modulus.count), UInt8(iccKey.exponent.count),
            ] + part
        return (try sign(body: body, hashExtra: [remainder, iccKey.exponent, staticData]), remainder)
    }

    /// Book 2 Table 7: Signed Static Application Data (format 03) with a Data Authentication Code.
    public func signedStaticData(dataAuthenticationCode dac: [UInt8], staticData: [UInt8]) throws -> [UInt8] {
        try sign(body: [0x03, 0x01] + dac, hashExtra: [staticData])
    }

    /// Book 2 Table 17: Signed Dynamic Application Data (format 05) over the ICC dynamic data, hashed with the
    /// terminal dynamic data.
    /// `format` is the Signed Data Format: 05 (Book 2), or 95 as phones sign fDDA.
    public func signedDynamicData(iccDynamicData: [UInt8], terminalDynamicData: [UInt8], format: UInt8 = 0x05) throws
        -> [UInt8]
    {
        try sign(body: [format, 0x01, UInt8(iccDynamicData.count)] + iccDynamicData, hashExtra: [terminalDynamicData])
    }
}

/// A complete test chain: CA → issuer → card, with the CA public key ready for a `CAKeyStore`.
public struct TestPKI: Sendable {
    /// The RID (scheme identifier) the test CA key is registered under.
    public let rid: [UInt8]
    /// The CA public key index of the test CA under `rid`.
    public let caIndex: UInt8
    /// The test certification authority, which signs the issuer certificate.
    public let ca: EMVSigner
    /// The test issuer, which signs the card's ICC public key certificate.
    public let issuer: EMVSigner
    /// The card's own key, which signs its dynamic data (fDDA, CDA).
    public let icc: EMVSigner

    /// Key sizes default to what real cards carry: CA 1408 bits, issuer 1152, card 1024 (exponent 3).
    public init(rid: [UInt8], caIndex: UInt8, caBits: Int = 1408, issuerBits: Int = 1152, iccBits: Int = 1024) throws {
        self.rid = rid
        self.caIndex = caIndex
        ca = try .generate(bits: caBits)
        issuer = try .generate(bits: issuerBits)
        icc = try .generate(bits: iccBits)
    }

    /// A chain from existing signers (as `load(_:)` rebuilds one from exported text).
    public init(rid: [UInt8], caIndex: UInt8, ca: EMVSigner, issuer: EMVSigner, icc: EMVSigner) {
        self.rid = rid
        self.caIndex = caIndex
        self.ca = ca
        self.issuer = issuer
        self.icc = icc
    }

    /// The chain as text (one line per key: RID INDEX ROLE MODULUS EXPONENT PRIVATE-EXPONENT, hex), for sharing
    /// one test PKI between processes. Test keys only.
    public func export() -> String {
        [("ca", ca), ("issuer", issuer), ("icc", icc)].map { role, s in
            "\(Hex.encode(rid)) \(Hex.encode([caIndex])) \(role) \(Hex.encode(s.publicKey.modulus)) \(Hex.encode(s.publicKey.exponent)) \(Hex.encode(s.keyPair.privateExponentForTestFixtures))\n"
        }.joined()
    }

    /// Chains from `export()` text, in file order.
    public static func load(_ text: String) throws -> [TestPKI] {
        var out: [TestPKI] = []
        var pending: [String: EMVSigner] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            if f.count > 2, f[2].hasPrefix("sm2-") { continue }  // an SM2 chain's line (TestSM2PKI)
            guard f.count == 6, let rid = [UInt8](hex: f[0]), let idx = [UInt8](hex: f[1]), idx.count == 1,
                let n = [UInt8](hex: f[3]),
                let e = [UInt8](hex: f[4]), let d = [UInt8](hex: f[5])
            else { throw CryptoError.invalidKey("test PKI file: bad line") }
            pending[f[2]] = EMVSigner(keyPair: try RSAKeyPair(modulus: n, publicExponent: e, privateExponent: d))
            if let ca = pending["ca"], let issuer = pending["issuer"], let icc = pending["icc"] {
                out.append(TestPKI(rid: rid, caIndex: idx[0], ca: ca, issuer: issuer, icc: icc))
                pending = [:]
            }
        }
        return out
    }

    /// The CA public key as a line of a .capk file (RID INDEX EXPONENT EXPIRY MODULUS CHECKSUM LABEL).
    public var capkLine: String {
        let k = ca.publicKey
        return "\(Hex.encode(rid)) \(Hex.encode([caIndex])) \(Hex.encode(k.exponent)) - \(Hex.encode(k.modulus)) "
            + "\(Hex.encode(CAPublicKey.checksum(rid: rid, index: caIndex, modulus: k.modulus, exponent: k.exponent))) tapd simulator test CA\n"
    }

    /// Registers the test CA's public key in `store` as a test key.
    public func register(in store: inout CAKeyStore) throws {
        try store.add(rid: rid, index: caIndex, key: ca.publicKey, label: "tapd simulator test CA", isTest: true)
    }
}
