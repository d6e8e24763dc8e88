// Certificates for the acquirer link in the demo and the tests, generated fresh with swift-certificates: a test
// CA, a server certificate for localhost and 127.0.0.1, a client certificate for the terminal, and the broken
// variants the tests need (expired, signed by another CA). Written as PEM files.
import Foundation
import Crypto
import X509
import SwiftASN1

public struct TestCertificates: Sendable {
    public let directory: String
    public var caFile: String { directory + "/ca.pem" }
    public var serverCertificateFile: String { directory + "/server.pem" }
    public var serverKeyFile: String { directory + "/server.key" }
    public var clientCertificateFile: String { directory + "/client.pem" }
    public var clientKeyFile: String { directory + "/client.key" }
    public var expiredServerCertificateFile: String { directory + "/server-expired.pem" }
    public var foreignServerCertificateFile: String { directory + "/server-foreign.pem" }
    public var foreignServerKeyFile: String { directory + "/server-foreign.key" }

    /// Generates everything into `directory` (created if needed; keys written with mode 0600).
    public static func generate(in directory: String, now: Date = Date()) throws -> TestCertificates {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let c = TestCertificates(directory: directory)
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("tapd test acquirer CA") }
        let ca = try Certificate(version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
                                 notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86_400 * 30),
                                 issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
                                 extensions: try Certificate.Extensions {
                                     Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                                     Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                                 }, issuerPrivateKey: .init(caKey))
        try write(ca, to: c.caFile)

        func leaf(_ cn: String, server: Bool, key: P256.Signing.PrivateKey, issuer: Certificate, issuerKey: P256.Signing.PrivateKey,
                  notBefore: Date, notAfter: Date) throws -> Certificate {
            try Certificate(version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: notBefore, notValidAfter: notAfter,
                            issuer: issuer.subject, subject: try DistinguishedName { CommonName(cn) }, signatureAlgorithm: .ecdsaWithSHA256,
                            extensions: try Certificate.Extensions {
                                Critical(BasicConstraints.notCertificateAuthority)
                                Critical(KeyUsage(digitalSignature: true))
                                try ExtendedKeyUsage([server ? .serverAuth : .clientAuth])
                                if server { SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))]) }
                            }, issuerPrivateKey: .init(issuerKey))
        }
        let serverKey = P256.Signing.PrivateKey()
        try write(try leaf("localhost", server: true, key: serverKey, issuer: ca, issuerKey: caKey,
                           notBefore: now.addingTimeInterval(-3600), notAfter: now.addingTimeInterval(86_400 * 30)), to: c.serverCertificateFile)
        try writeKey(serverKey, to: c.serverKeyFile)
        try write(try leaf("localhost", server: true, key: serverKey, issuer: ca, issuerKey: caKey,
                           notBefore: now.addingTimeInterval(-86_400 * 60), notAfter: now.addingTimeInterval(-86_400)), to: c.expiredServerCertificateFile)
        let clientKey = P256.Signing.PrivateKey()
        try write(try leaf("TAPD0001", server: false, key: clientKey, issuer: ca, issuerKey: caKey,
                           notBefore: now.addingTimeInterval(-3600), notAfter: now.addingTimeInterval(86_400 * 30)), to: c.clientCertificateFile)
        try writeKey(clientKey, to: c.clientKeyFile)
        // A server certificate from a CA the terminal does not trust.
        let otherKey = P256.Signing.PrivateKey()
        let otherName = try DistinguishedName { CommonName("some other CA") }
        let other = try Certificate(version: .v3, serialNumber: .init(), publicKey: .init(otherKey.publicKey),
                                    notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86_400 * 30),
                                    issuer: otherName, subject: otherName, signatureAlgorithm: .ecdsaWithSHA256,
                                    extensions: try Certificate.Extensions { Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0)) },
                                    issuerPrivateKey: .init(otherKey))
        let foreignKey = P256.Signing.PrivateKey()
        try write(try leaf("localhost", server: true, key: foreignKey, issuer: other, issuerKey: otherKey,
                           notBefore: now.addingTimeInterval(-3600), notAfter: now.addingTimeInterval(86_400 * 30)), to: c.foreignServerCertificateFile)
        try writeKey(foreignKey, to: c.foreignServerKeyFile)
        return c
    }

    static func write(_ cert: Certificate, to path: String) throws {
        try cert.serializeAsPEM().pemString.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func writeKey(_ key: P256.Signing.PrivateKey, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
