// Test tool, not part of an installation: plays a tapd that dies at a chosen moment of the online leg, so the
// crash tests can SIGKILL a real process and check what a restart does.
//   tapd-crash-helper STAGE JOURNAL KEYHEX HOST PORT CA CERT KEY
// STAGE "persisted": the request is persisted, then "READY" is printed and the process waits to be killed.
// STAGE "sent": the request is persisted and sent (the acquirer is expected not to answer); the process waits.
import Foundation
import TLV
import ISO8583
import Journal
import Acquirer

@main
struct CrashHelper {
    static func main() async throws {
        let a = CommandLine.arguments
        guard a.count == 9, let port = Int(a[5]), let key = [UInt8](hex: a[3]) else {
            FileHandle.standardError.write(Data("usage: tapd-crash-helper STAGE JOURNAL KEYHEX HOST PORT CA CERT KEY\n".utf8))
            exit(2)
        }
        let journal = try Journal(path: a[2], key: try JournalKey(bytes: key))
        var config = AcquirerConfiguration(host: a[4], port: port, caFile: a[6], clientCertificateFile: a[7], clientKeyFile: a[8],
                                           terminalID: "TAPD0001", merchantID: "TAPD00000000001")
        config.responseTimeout = 3600
        let card = CardTransaction(pan: "4761739001010119", track2: "4761739001010119D2812201", expiry: "2812", panSequenceNumber: "001",
                                   amount: 4242, currencyCode: 978, iccData: [])
        let (t, _) = try journal.createTransaction(idempotencyKey: "crash-\(a[1])", amount: 4242, currency: 978)
        try journal.update(t.id, to: .cardRead)
        switch a[1] {
        case "persisted":
            let stan = try journal.nextSTAN()
            let m = Messages.request("0200", card, terminal: config.identity, stan: stan, rrn: "600000" + stan)
            try journal.persistRequest(t.id, mti: "0200", stan: stan, rrn: "600000" + stan, message: try ISO8583Codec(spec: .iso87ASCII).pack(m))
            FileHandle.standardOutput.write(Data("READY \(t.id)\n".utf8))
            try await Task.sleep(for: .seconds(3600))
        case "sent":
            FileHandle.standardOutput.write(Data("SENDING \(t.id)\n".utf8))
            let service = AcquirerService(link: try AcquirerLink(configuration: config), journal: journal)
            _ = await service.authorize(transactionID: t.id, card: card)
        default:
            exit(2)
        }
    }
}
