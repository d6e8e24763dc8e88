// The demo's and the tests' certificates (made with libcrypto) read back with an independent X.509 implementation
// (swift-certificates): the extensions RFC 5280 asks of a CA and of TLS end entities, and the signatures.

import Foundation
import Simulators
import SwiftASN1
import X509
import XCTest

final class TestCertificateTests: XCTestCase {
    func testCertificatesAreWellFormedX509v3() throws {
        let dir = NSTemporaryDirectory() + "tapd-certs-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let now = Date()
        let c = try TestCertificates.generate(in: dir, now: now)
        func load(_ path: String) throws -> Certificate {
            try Certificate(pemEncoded: String(contentsOfFile: path, encoding: .utf8))
        }

        let ca = try load(c.caFile)
        XCTAssertEqual(ca.version, .v3)
        XCTAssertEqual(ca.subject, ca.issuer)
        XCTAssertEqual(try ca.extensions.basicConstraints, .isCertificateAuthority(maxPathLength: 0))
        XCTAssertEqual(try ca.extensions.keyUsage, KeyUsage(keyCertSign: true, cRLSign: true))
        XCTAssertTrue(ca.extensions.first { $0.oid == .X509ExtensionID.basicConstraints }?.critical == true)
        XCTAssertTrue(ca.publicKey.isValidSignature(ca.signature, for: ca))

        let server = try load(c.serverCertificateFile)
        XCTAssertEqual(server.issuer, ca.subject)
        XCTAssertEqual(try server.extensions.basicConstraints, .notCertificateAuthority)
        XCTAssertEqual(try server.extensions.extendedKeyUsage, try ExtendedKeyUsage([.serverAuth]))
        XCTAssertEqual(
            try server.extensions.subjectAlternativeNames,
            SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))]))
        XCTAssertNotNil(try server.extensions.authorityKeyIdentifier)
        XCTAssertTrue(ca.publicKey.isValidSignature(server.signature, for: server))
        XCTAssertTrue(server.notValidBefore < now && now < server.notValidAfter)
        XCTAssertGreaterThan(
            server.serialNumber.bytes.first ?? 0, 0, "a positive serial without a leading zero byte is below 2^127")

        let client = try load(c.clientCertificateFile)
        XCTAssertEqual(try client.extensions.extendedKeyUsage, try ExtendedKeyUsage([.clientAuth]))
        XCTAssertTrue(ca.publicKey.isValidSignature(client.signature, for: client))
        XCTAssertNotEqual(client.serialNumber, server.serialNumber)

        let expired = try load(c.expiredServerCertificateFile)
        XCTAssertLessThan(expired.notValidAfter, now)
        let foreign = try load(c.foreignServerCertificateFile)
        XCTAssertFalse(ca.publicKey.isValidSignature(foreign.signature, for: foreign))

        for key in [c.serverKeyFile, c.clientKeyFile, c.foreignServerKeyFile] {
            let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int)
            XCTAssertEqual(mode & 0o777, 0o600, key)
            XCTAssertTrue(try String(contentsOfFile: key, encoding: .utf8).hasPrefix("-----BEGIN PRIVATE KEY-----"))
        }
    }
}
