import ArgumentParser
import Foundation
import ISO8583
import Simulators

struct AcquirerSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acquirer-sim",
        abstract:
            "Run the acquirer host simulator: ISO 8583 over mutual TLS, ARQC verification with the TEST issuer key.",
        discussion: """
            Answers 0100/0200 requests (amount ending in .51 → declined 51, .91 → no answer, .92 → connection dropped,
            .93 → answer after 3 s, otherwise approved when the ARQC verifies, with the ARPC in DE 55 tag 91),
            reversals, advices and echo tests. With --generate-certs DIR it first writes a test CA, a server
            certificate for localhost/127.0.0.1 and a client certificate for the terminal, and uses them.
            Listens on loopback by default. Stops on Ctrl-C.
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0 picks a free one).") var port = 8583
    @Option(help: "Message profile: iso87-ascii or iso87-bcd.") var profile = "iso87-ascii"
    @Option(help: "Server certificate (PEM).") var cert: String?
    @Option(help: "Server private key (PEM).") var key: String?
    @Option(help: "CA that signs the terminals' client certificates (PEM).") var clientCA: String?
    @Option(help: "Generate test certificates into this directory and use them.") var generateCerts: String?

    func run() async throws {
        guard let spec = MessageSpec.named(profile) else { throw ValidationError("unknown profile \(profile)") }
        var certFile = cert
        var keyFile = key
        var caFile = clientCA
        if let dir = generateCerts {
            let c = try TestCertificates.generate(in: dir)
            certFile = c.serverCertificateFile
            keyFile = c.serverKeyFile
            caFile = c.caFile
            say("test CA:            \(c.caFile)")
            say("client certificate: \(c.clientCertificateFile)")
            say("client key:         \(c.clientKeyFile)")
        }
        guard let certFile, let keyFile, let caFile else {
            throw ValidationError("give --cert, --key and --client-ca, or --generate-certs DIR")
        }
        let sim = try AcquirerSimulator(spec: spec, certificateFile: certFile, keyFile: keyFile, clientCAFile: caFile)
        let bound = try await sim.start(host: host, port: port)
        say("acquirer simulator listening on \(host):\(bound) (\(profile), mutual TLS)")
        // Wait for Ctrl-C or SIGTERM.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let (stopped, cont) = AsyncStream<Void>.makeStream()
        let sources = [SIGINT, SIGTERM].map { s in
            let src = DispatchSource.makeSignalSource(signal: s, queue: .global())
            src.setEventHandler { cont.yield() }
            src.resume()
            return src
        }
        for await _ in stopped { break }
        sources.forEach { $0.cancel() }
        await sim.stop()
        say("stopped")
    }

    /// Unbuffered, so a pipe or a log file sees each line at once.
    func say(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }
}
