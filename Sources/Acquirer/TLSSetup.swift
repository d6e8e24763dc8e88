// The TLS client of the acquirer link, failing closed: TLS 1.2 at least (swift-nio-ssl's client default is
// TLS 1.0), the acquirer's CA as the only trust root, full certificate
// verification with the host name, this terminal's client certificate, and an optional SPKI pin checked on
// top of the normal verification.

import EMVCrypto
import Foundation
import NIOCore
import NIOSSL

/// TLS for the acquirer link, failing closed: TLS 1.2 at least, the acquirer's CA as the only trust root, full
/// verification with the host name, this terminal's client certificate and an optional SPKI pin.
public enum AcquirerTLS {
    /// The TLS client context from `[acquirer] ca_file`, `client_certificate_file` and `client_key_file`; throws
    /// `LinkError.tlsSetup` when a file cannot be loaded or the key file breaks the key file rule.
    public static func clientContext(_ c: AcquirerConfiguration) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        // TLS 1.2: forward secrecy and authenticated encryption only (ECDHE with AES-GCM or ChaCha20-Poly1305);
        // TLS 1.3's suites are all of that kind.
        tls.cipherSuites = tls12CipherSuites
        do {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(c.caFile))
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(c.clientCertificateFile).map { .certificate($0) }
            // The TLS client key is a secret file like the journal key: the same rule (EMVCrypto.KeyFile).
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: try KeyFile.read(c.clientKeyFile), format: .pem))
        } catch CryptoError.keyFileRefused(let e) {
            throw LinkError.tlsSetup("the TLS client key \(e.description)")
        } catch {
            throw LinkError.tlsSetup(
                "cannot load the TLS files (ca \(c.caFile), certificate \(c.clientCertificateFile), key \(c.clientKeyFile)): \(error)"
            )
        }
        return try NIOSSLContext(configuration: tls)
    }

    /// The TLS 1.2 suites the link offers (OpenSSL names).
    public static let tls12CipherSuites = [
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    ].joined(separator: ":")

    /// A connection or TLS failure in words a merchant or technician can act on, never a library's error dump.
    public static func plain(_ error: any Error) -> String {
        if case .pinMismatch? = error as? LinkError { return LinkError.pinMismatch.description }
        let text = String(describing: error)
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            return "the acquirer's certificate is not trusted"
        }
        if text.contains("HOSTNAME") || text.contains("hostname") {
            return "the acquirer's certificate is for another host name"
        }
        if text.contains("WRONG_VERSION") || text.contains("UNSUPPORTED_PROTOCOL") || text.contains("PROTOCOL_VERSION")
        {
            return "the acquirer does not speak TLS 1.2 or later"
        }
        if text.contains("NO_SHARED_CIPHER") || text.contains("HANDSHAKE_FAILURE") {
            return "the acquirer refused the TLS handshake"
        }
        if text.contains("CERTIFICATE_REQUIRED") || text.contains("BAD_CERTIFICATE") || text.contains("UNKNOWN_CA") {
            return "the acquirer refused this terminal's certificate"
        }
        if text.contains("connectTimeout") || text.contains("timed out") { return "the connection timed out" }
        if text.contains("connection reset") || text.contains("Connection refused") || text.contains("refused") {
            return "the connection was refused"
        }
        if text.contains("closed during the TLS handshake") || text.contains("uncleanShutdown") {
            return "the acquirer closed the connection during the TLS handshake"
        }
        return "the connection failed"
    }

    /// The TLS handler for one connection: the host name is checked against the certificate (and sent as SNI)
    /// unless it is an IP address; with a pin, the verified leaf's SPKI hash must match as well. The pin check is
    /// additional: it runs only after BoringSSL's full verification has succeeded (swift-nio-ssl's
    /// `_makeSSLClientHandler`), so a pin can never weaken verification.
    public static func handler(context: NIOSSLContext, host: String, pin: String?) throws -> NIOSSLClientHandler {
        let isIP =
            host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
            || host.contains(":")
        let name = isIP ? nil : host
        guard let pin else { return try NIOSSLClientHandler(context: context, serverHostname: name) }
        return try NIOSSLClientHandler._makeSSLClientHandler(context: context, serverHostname: name) { leaf, channel in
            guard let spki = try? leaf.extractPublicKey().toSPKIBytes() else {
                return channel.eventLoop.makeFailedFuture(LinkError.pinMismatch)
            }
            let digest = Data(Digest.sha256(spki)).base64EncodedString()
            return digest == pin
                ? channel.eventLoop.makeSucceededVoidFuture()
                : channel.eventLoop.makeFailedFuture(LinkError.pinMismatch)
        }
    }

    /// The pin of a certificate file, for configuration: base64 SHA-256 of its SubjectPublicKeyInfo.
    public static func spkiPin(ofPEMFile path: String) throws -> String {
        guard let cert = try NIOSSLCertificate.fromPEMFile(path).first else {
            throw LinkError.tlsSetup("no certificate in \(path)")
        }
        return Data(Digest.sha256(try cert.extractPublicKey().toSPKIBytes())).base64EncodedString()
    }
}
