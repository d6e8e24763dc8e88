// The TLS client of the acquirer link, failing closed: TLS 1.2 at least (swift-nio-ssl's client default is
// TLS 1.0, ../shared/notes/acquirer-link.md §9.2), the acquirer's CA as the only trust root, full certificate
// verification with the host name, this terminal's client certificate, and an optional SPKI pin checked on
// top of the normal verification.
import Foundation
import NIOCore
import NIOSSL
import EMVCrypto

public enum AcquirerTLS {
    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func clientContext(_ c: AcquirerConfiguration) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        do {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(c.caFile))
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(c.clientCertificateFile).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: c.clientKeyFile, format: .pem))
        } catch {
            throw SetupError(description: "cannot load the TLS files (ca \(c.caFile), certificate \(c.clientCertificateFile), key \(c.clientKeyFile)): \(error)")
        }
        return try NIOSSLContext(configuration: tls)
    }

    public struct PinMismatch: Error, CustomStringConvertible {
        public var description: String { "the server's public key does not match the configured SPKI pin" }
    }

    /// The TLS handler for one connection: the host name is checked against the certificate (and sent as SNI)
    /// unless it is an IP address; with a pin, the verified leaf's SPKI hash must match as well. The pin check is
    /// additional: it runs only after BoringSSL's full verification has succeeded (swift-nio-ssl's
    /// `_makeSSLClientHandler`), so a pin can never weaken verification.
    public static func handler(context: NIOSSLContext, host: String, pin: String?) throws -> NIOSSLClientHandler {
        let isIP = host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil } || host.contains(":")
        let name = isIP ? nil : host
        guard let pin else { return try NIOSSLClientHandler(context: context, serverHostname: name) }
        return try NIOSSLClientHandler._makeSSLClientHandler(context: context, serverHostname: name) { leaf, channel in
            guard let spki = try? leaf.extractPublicKey().toSPKIBytes() else { return channel.eventLoop.makeFailedFuture(PinMismatch()) }
            let digest = Data(Digest.sha256(spki)).base64EncodedString()
            return digest == pin ? channel.eventLoop.makeSucceededVoidFuture() : channel.eventLoop.makeFailedFuture(PinMismatch())
        }
    }

    /// The pin of a certificate file, for configuration: base64 SHA-256 of its SubjectPublicKeyInfo.
    public static func spkiPin(ofPEMFile path: String) throws -> String {
        guard let cert = try NIOSSLCertificate.fromPEMFile(path).first else { throw SetupError(description: "no certificate in \(path)") }
        return Data(Digest.sha256(try cert.extractPublicKey().toSPKIBytes())).base64EncodedString()
    }
}
