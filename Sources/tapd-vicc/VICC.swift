// Test and demo tool: a virtual card or phone served to a real pcscd through the vpcd driver.
//   tapd-vicc PROFILE PORT [vanish-after=N | slow-gpo=MS]
// PROFILE: a name of the persona catalogue (CardProfile.catalogue): SCHEME-card, SCHEME-offline, SCHEME-phone,
// SCHEME-tampered, SCHEME-expired-cert, SCHEME-unknown-ca for visa, mastercard, amex, jcb, discover and unionpay, and
// unionpay-sm-card / unionpay-sm-offline. The test CA public key of the card's chain is printed first ("CA RID INDEX
// EXPONENT MODULUS", hex; "CA RID INDEX SM2 X‖Y" for an SM2 chain) so the terminal under test can trust it.
import Foundation
import Simulators
import TLV

@main
struct VICC {
    static func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    static func main() async throws {
        let a = CommandLine.arguments
        guard a.count >= 3, let profile = CardProfile.catalogue[a[1]], let port = UInt16(a[2]) else {
            FileHandle.standardError.write(Data("usage: tapd-vicc PROFILE PORT [vanish-after=N | slow-gpo=MS]\n".utf8))
            exit(2)
        }
        var persona = VPCDBridge.Persona.normal
        if a.count > 3 {
            let kv = a[3].split(separator: "=")
            if kv.count == 2, kv[0] == "vanish-after", let n = Int(kv[1]) {
                persona = .vanishAfter(n)
            } else if kv.count == 2, kv[0] == "slow-gpo", let n = Int(kv[1]) {
                persona = .slowGPO(milliseconds: n)
            } else {
                FileHandle.standardError.write(Data("unknown persona \(a[3])\n".utf8))
                exit(2)
            }
        }
        if profile.nationalAlgorithms {
            let pki = VirtualCard.sm2PKI
            say("CA \(Hex.encode(pki.rid)) \(Hex.encode([pki.caIndex])) SM2 \(Hex.encode(pki.ca.publicKey.point))")
        } else {
            let pki = VirtualCard.pki(for: profile.scheme)
            say(
                "CA \(Hex.encode(pki.rid)) \(Hex.encode([pki.caIndex])) \(Hex.encode(pki.ca.publicKey.exponent)) \(Hex.encode(pki.ca.publicKey.modulus))"
            )
        }
        let bridge = VPCDBridge(card: try VirtualCard(profile), persona: persona)
        try await bridge.connect(port: port)
        say("CONNECTED")
        let n = try await bridge.serve()
        say("DONE \(n)")
    }
}
