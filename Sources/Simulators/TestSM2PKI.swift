// A test SM2 chain for the virtual PBOC 3.0 cards that use China's national algorithms: a CA, an issuer and a card
// whose SM2 keys are generated for the purpose. Formats: JR/T 0025.17-2013 §5.2 — issuer certificate format 12, ICC
// certificate format 14, signed dynamic data format 15 — each the data in clear followed by the signer's SM2
// signature r ‖ s (the verifier's side is EMVKernel/ODA/SM2Authentication.swift).

import EMVCrypto
import EMVKernel
import TLV

/// A test SM2 chain: CA → issuer → card, its CA key ready for a `CAKeyStore`.
public struct TestSM2PKI: Sendable {
    /// The RID the CA key is filed under (UnionPay's).
    public let rid: [UInt8]
    /// The CA key index (a test index, never a scheme's).
    public let caIndex: UInt8
    /// The test CA, which signs the issuer certificate.
    public let ca: NationalAlgorithms.SM2KeyPair
    /// The test issuer, which signs the ICC certificate.
    public let issuer: NationalAlgorithms.SM2KeyPair
    /// The card's key, which signs its dynamic data.
    public let icc: NationalAlgorithms.SM2KeyPair

    /// Fresh keys on the SM2 curve.
    public init(rid: [UInt8], caIndex: UInt8) throws {
        try self.init(rid: rid, caIndex: caIndex, ca: .generate(), issuer: .generate(), icc: .generate())
    }

    /// A chain from existing key pairs (as `load(_:)` rebuilds one).
    public init(
        rid: [UInt8], caIndex: UInt8, ca: NationalAlgorithms.SM2KeyPair, issuer: NationalAlgorithms.SM2KeyPair,
        icc: NationalAlgorithms.SM2KeyPair
    ) throws {
        self.rid = rid
        self.caIndex = caIndex
        self.ca = ca
        self.issuer = issuer
        self.icc = icc
    }

    /// The fields every SM2 certificate shares after its subject: expiry MMYY, serial, signature algorithm 04 (SM2
    /// with SM3), encryption algorithm 00, curve 11 (SM2), key length 40, the key X ‖ Y.
    static func keyFields(_ key: NationalAlgorithms.SM2PublicKey, expiryMMYY: [UInt8], serial: [UInt8]) -> [UInt8] {
        expiryMMYY + serial + [0x04, 0x00, 0x11, 0x40] + key.point
    }

    /// Part 17 Table 4: the issuer public key certificate (tag 90), format 12, signed by the CA.
    public func issuerCertificate(issuerIdentifier: String, expiryMMYY: [UInt8], serial: [UInt8]) throws -> [UInt8] {
        var id = BCD.packDigits(issuerIdentifier) ?? []
        id += [UInt8](repeating: 0xFF, count: max(0, 4 - id.count))
        let body = [0x12] + id.prefix(4) + Self.keyFields(issuer.publicKey, expiryMMYY: expiryMMYY, serial: serial)
        return body + (try ca.sign(body))
    }

    /// Part 17 Table 6: the ICC public key certificate (tag 9F46), format 14, signed by the issuer over the
    /// certificate and the static data to be authenticated.
    public func iccCertificate(pan: String, expiryMMYY: [UInt8], staticData: [UInt8]) throws -> [UInt8] {
        var panBytes = BCD.packDigits(pan) ?? []
        panBytes += [UInt8](repeating: 0xFF, count: max(0, 10 - panBytes.count))
        let body =
            [0x14] + panBytes.prefix(10) + Self.keyFields(icc.publicKey, expiryMMYY: expiryMMYY, serial: [0, 0, 1])
        return body + (try issuer.sign(body + staticData))
    }

    /// Part 17 §5.2.4 / part 12 Annex B: Signed Dynamic Application Data (tag 9F4B), format 15: 15 ‖ LDD ‖ ICC
    /// dynamic data ‖ the card's signature over those and the terminal dynamic data.
    public func signedDynamicData(iccDynamicData: [UInt8], terminalDynamicData: [UInt8]) throws -> [UInt8] {
        let body = [0x15, UInt8(iccDynamicData.count)] + iccDynamicData
        return body + (try icc.sign(body + terminalDynamicData))
    }

    /// The chain as text, one key a line: RID INDEX ROLE X‖Y d (hex). Test keys only.
    public func export() -> String {
        [("sm2-ca", ca), ("sm2-issuer", issuer), ("sm2-icc", icc)].map { role, k in
            "\(Hex.encode(rid)) \(Hex.encode([caIndex])) \(role) \(Hex.encode(k.publicKey.point)) \(Hex.encode(k.privateKeyForTestFixtures))\n"
        }.joined()
    }

    /// The chain from `export()` lines (other lines are ignored); nil when the text holds none.
    public static func load(_ text: String) throws -> TestSM2PKI? {
        var found: [String: NationalAlgorithms.SM2KeyPair] = [:]
        var rid: [UInt8] = []
        var index: UInt8 = 0
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count == 5, f[2].hasPrefix("sm2-") else { continue }
            guard let r = [UInt8](hex: f[0]), let i = [UInt8](hex: f[1]), i.count == 1, let x = [UInt8](hex: f[3]),
                let d = [UInt8](hex: f[4])
            else { throw CryptoError.invalidKey("test PKI file: bad SM2 line") }
            found[f[2]] = try .init(publicKey: .init(point: x), privateKey: d)
            rid = r
            index = i[0]
        }
        guard let ca = found["sm2-ca"], let issuer = found["sm2-issuer"], let icc = found["sm2-icc"] else { return nil }
        return try TestSM2PKI(rid: rid, caIndex: index, ca: ca, issuer: issuer, icc: icc)
    }

    /// The CA key as a line of a .capk file (SM2 in the exponent column, X ‖ Y in the modulus column).
    public var capkLine: String {
        let checksum = CAPublicKey.checksum(rid: rid, index: caIndex, modulus: ca.publicKey.point, exponent: [])
        return "\(Hex.encode(rid)) \(Hex.encode([caIndex])) SM2 - \(Hex.encode(ca.publicKey.point)) "
            + "\(Hex.encode(checksum)) tapd simulator SM2 test CA\n"
    }

    /// Registers the CA key in `store` as a test key.
    public func register(in store: inout CAKeyStore) throws {
        try store.addSM2(
            rid: rid, index: caIndex, key: ca.publicKey, label: "tapd simulator SM2 test CA", isTest: true)
    }
}
