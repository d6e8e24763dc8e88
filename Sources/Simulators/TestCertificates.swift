// Certificates for the acquirer link in the demo and the tests, generated fresh with libcrypto (the daemon's one
// general-purpose crypto library): a test CA, a server certificate for localhost and 127.0.0.1, a client
// certificate for the terminal, and the broken variants the tests need (expired, signed by another CA). P-256
// keys, ECDSA with SHA-256, X.509 v3 with the extensions RFC 5280 asks of a CA and of TLS end entities.
// Written as PEM files.

import COpenSSL
import Foundation

/// TEST certificates and keys for the acquirer link's mutual TLS, as PEM files in one directory.
public struct TestCertificates: Sendable {
    /// The directory that holds the files.
    public let directory: String
    /// The test CA's certificate, which signs the server and client certificates.
    public var caFile: String { directory + "/ca.pem" }
    /// The acquirer server's certificate, for localhost and 127.0.0.1.
    public var serverCertificateFile: String { directory + "/server.pem" }
    /// The server's private key (mode 0600).
    public var serverKeyFile: String { directory + "/server.key" }
    /// The terminal's client certificate (common name TAPD0001).
    public var clientCertificateFile: String { directory + "/client.pem" }
    /// The terminal's private key (mode 0600).
    public var clientKeyFile: String { directory + "/client.key" }
    /// A server certificate from the same CA and key that expired a day before generation.
    public var expiredServerCertificateFile: String { directory + "/server-expired.pem" }
    /// A server certificate signed by a CA the terminal does not trust.
    public var foreignServerCertificateFile: String { directory + "/server-foreign.pem" }
    /// The private key of the foreign server certificate (mode 0600).
    public var foreignServerKeyFile: String { directory + "/server-foreign.key" }

    /// Generates everything into `directory` (created if needed; keys written with mode 0600).
    public static func generate(in directory: String, now: Date = Date()) throws -> TestCertificates {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let c = TestCertificates(directory: directory)
        let start = now.addingTimeInterval(-3600)
        let end = now.addingTimeInterval(86_400 * 30)

        /// A self-signed CA that signs end entities only (path length 0).
        func authority(_ name: String, key: KeyPair) throws -> X509Certificate {
            let cert = try X509Certificate(subject: name, key: key, notBefore: start, notAfter: end)
            try cert.addExtension(NID_basic_constraints, "critical,CA:TRUE,pathlen:0")
            try cert.addExtension(NID_key_usage, "critical,keyCertSign,cRLSign")
            try cert.addExtension(NID_subject_key_identifier, "hash")
            try cert.sign(with: key)
            return cert
        }
        let caKey = try KeyPair()
        let ca = try authority("tapd test acquirer CA", key: caKey)
        try write(ca.pem(), to: c.caFile, mode: 0o644)

        func leaf(
            _ cn: String, server: Bool, key: KeyPair, issuer: X509Certificate, issuerKey: KeyPair,
            notBefore: Date, notAfter: Date
        ) throws -> X509Certificate {
            let cert = try X509Certificate(
                subject: cn, key: key, notBefore: notBefore, notAfter: notAfter, issuer: issuer)
            try cert.addExtension(NID_basic_constraints, "critical,CA:FALSE")
            try cert.addExtension(NID_key_usage, "critical,digitalSignature")
            try cert.addExtension(NID_ext_key_usage, server ? "serverAuth" : "clientAuth")
            if server { try cert.addExtension(NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") }
            try cert.addExtension(NID_subject_key_identifier, "hash")
            try cert.addExtension(NID_authority_key_identifier, "keyid:always")
            try cert.sign(with: issuerKey)
            return cert
        }
        let serverKey = try KeyPair()
        try write(
            try leaf(
                "localhost", server: true, key: serverKey, issuer: ca, issuerKey: caKey, notBefore: start, notAfter: end
            ).pem(),
            to: c.serverCertificateFile, mode: 0o644)
        try write(serverKey.pem(), to: c.serverKeyFile, mode: 0o600)
        try write(
            try leaf(
                "localhost", server: true, key: serverKey, issuer: ca, issuerKey: caKey,
                notBefore: now.addingTimeInterval(-86_400 * 60), notAfter: now.addingTimeInterval(-86_400)
            ).pem(),
            to: c.expiredServerCertificateFile, mode: 0o644)
        let clientKey = try KeyPair()
        try write(
            try leaf(
                "TAPD0001", server: false, key: clientKey, issuer: ca, issuerKey: caKey, notBefore: start, notAfter: end
            ).pem(),
            to: c.clientCertificateFile, mode: 0o644)
        try write(clientKey.pem(), to: c.clientKeyFile, mode: 0o600)
        // A server certificate from a CA the terminal does not trust.
        let otherKey = try KeyPair()
        let other = try authority("some other CA", key: otherKey)
        let foreignKey = try KeyPair()
        try write(
            try leaf(
                "localhost", server: true, key: foreignKey, issuer: other, issuerKey: otherKey, notBefore: start,
                notAfter: end
            ).pem(),
            to: c.foreignServerCertificateFile, mode: 0o644)
        try write(foreignKey.pem(), to: c.foreignServerKeyFile, mode: 0o600)
        return c
    }

    /// Why a certificate or key could not be generated or written.
    public struct GenerationError: Error, CustomStringConvertible {
        /// What failed, in words.
        public let description: String
    }

    /// Replaces `path` with `text`, created with `mode` from the start (a key is never readable by others, not even
    /// briefly): written to a temporary file beside it and renamed over it.
    static func write(_ text: String, to path: String, mode: mode_t) throws {
        let tmp = path + ".tmp-\(getpid())"
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw GenerationError(description: "cannot create \(tmp): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw GenerationError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// A P-256 key pair held by libcrypto.
final class KeyPair {
    let pkey: OpaquePointer
    init() throws {
        guard let p = tapd_ec_p256_generate() else {
            throw TestCertificates.GenerationError(description: "libcrypto could not generate a P-256 key")
        }
        pkey = p
    }
    deinit { EVP_PKEY_free(pkey) }

    /// PKCS #8 PEM ("BEGIN PRIVATE KEY"), unencrypted: the form NIOSSL and OpenSSL read.
    func pem() throws -> String {
        try memoryBIO { PEM_write_bio_PrivateKey($0, pkey, nil, nil, 0, nil, nil) == 1 }
    }
}

/// An X.509 v3 certificate being built: subject, key, validity and a random positive 127-bit serial number
/// (RFC 5280 §4.1.2.2: positive, at most 20 octets); extensions are added, then it is signed.
final class X509Certificate {
    let x509: OpaquePointer

    /// Self-issued when `issuer` is nil.
    init(subject: String, key: KeyPair, notBefore: Date, notAfter: Date, issuer: X509Certificate? = nil) throws {
        guard let x = X509_new() else { throw TestCertificates.GenerationError(description: "X509_new failed") }
        x509 = x
        let serial = BN_new()
        defer { BN_free(serial) }
        guard X509_set_version(x, 2) == 1,  // v3
            BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1, BN_is_zero(serial) == 0,
            BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) != nil,
            ASN1_TIME_set(X509_getm_notBefore(x), time_t(notBefore.timeIntervalSince1970)) != nil,
            ASN1_TIME_set(X509_getm_notAfter(x), time_t(notAfter.timeIntervalSince1970)) != nil,
            tapd_x509_set_common_name(x, subject) == 1,
            X509_set_issuer_name(x, X509_get_subject_name(issuer?.x509 ?? x)) == 1,
            X509_set_pubkey(x, key.pkey) == 1
        else {
            throw TestCertificates.GenerationError(description: "cannot fill in the certificate for \(subject)")
        }
        self.issuer = issuer
    }
    private let issuer: X509Certificate?
    deinit { X509_free(x509) }

    func addExtension(_ nid: Int32, _ value: String) throws {
        guard tapd_x509_add_extension(x509, issuer?.x509 ?? x509, nid, value) == 1 else {
            throw TestCertificates.GenerationError(description: "cannot add the extension \(value)")
        }
    }

    func sign(with key: KeyPair) throws {
        guard X509_sign(x509, key.pkey, EVP_sha256()) > 0 else {
            throw TestCertificates.GenerationError(description: "cannot sign the certificate")
        }
    }

    func pem() throws -> String {
        try memoryBIO { PEM_write_bio_X509($0, x509) == 1 }
    }
}

/// Runs `write` against a memory BIO and returns what it wrote.
private func memoryBIO(_ write: (OpaquePointer) -> Bool) throws -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { throw TestCertificates.GenerationError(description: "BIO_new failed") }
    defer { BIO_free(bio) }
    guard write(bio) else { throw TestCertificates.GenerationError(description: "PEM encoding failed") }
    var data: UnsafePointer<CChar>?
    let n = tapd_bio_mem_data(bio, &data)
    guard n > 0, let data else { throw TestCertificates.GenerationError(description: "PEM encoding is empty") }
    return String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
}
