// Checks that talk to the hardware, run only when tapd is not running (otherwise they would fight it for the
// readers): pcscd reachability with its readers and their firmware, and the RF test (`tapctl diagnose --tap N`):
// a card or phone within N seconds → its ATR/ATS, SELECT PPSE and the applications it offers, with per-APDU
// timing. Nothing beyond the PPSE is read, so no card data is touched.

import APDU
import Foundation
import Readers
import TLV
import TapdCore

extension Diagnostics {
    /// pcscd answers SCardEstablishContext, and what it says about its readers (firmware where the reader tells).
    public static func livePCSC() async -> Finding {
        let ctx: PCSCContext
        do { ctx = try PCSCContext() } catch {
            return Finding(
                "pcscd (live)", .fail, "SCardEstablishContext failed: \(error)",
                fix: "systemctl enable --now pcscd.socket; a polkit refusal shows up here too (see polkit)")
        }
        let readers: [String]
        do { readers = try ctx.readers() } catch {
            return Finding("pcscd (live)", .fail, "SCardListReaders failed: \(error)", fix: "journalctl -u pcscd")
        }
        guard !readers.isEmpty else {
            return Finding(
                "pcscd (live)", .fail, "pcscd runs but has no reader (SCARD_E_NO_READERS_AVAILABLE)",
                fix: "see the USB reader checks: driver, kernel module, cable")
        }
        var ev: [String] = []
        let states = (try? await ctx.waitForChange([:], readers: readers, timeout: .milliseconds(100))) ?? []
        for r in readers {
            var line = r
            if let s = states.first(where: { $0.name == r }) {
                line += s.cardPresent ? " — card present, ATR \(Hex.encode(s.atr))" : " — empty"
            }
            // The reader's own firmware, where it has a command for it (direct connection, no card needed).
            if r.contains("ACR122"), let card = try? PCSCCard(context: ctx, reader: r, direct: true) {
                if let fw = (try? card.control(PCSCControlCode.ccidEscape, ReaderCommands.acr122uFirmware)).flatMap(
                    ReaderCommands.firmwareText)
                {
                    line += ", firmware \(fw)"
                } else {
                    line += ", firmware query refused (escape not enabled)"
                }
                card.disconnect()
            } else if r.contains("ACR1252"), let card = try? PCSCCard(context: ctx, reader: r, direct: true) {
                if let fw = (try? card.control(PCSCControlCode.ccidEscape, ReaderCommands.acr1252Firmware)).flatMap(
                    ReaderCommands.firmwareText)
                {
                    line += ", firmware \(fw)"
                } else {
                    line += ", firmware query refused (escape not enabled)"
                }
                card.disconnect()
            }
            ev.append(line)
        }
        return Finding("pcscd (live)", .pass, "pcscd answers with \(readers.count) reader(s)", evidence: ev)
    }

    /// The RF test: waits up to `seconds` for a card or phone on the configured readers and talks to it.
    public static func rfTest(_ configuration: ReaderManagerConfiguration, seconds: Int) async -> Finding {
        let manager = ReaderManager(configuration: configuration, libnfcCheckInterval: .seconds(60))
        await manager.start()
        let finding = await rfTest(manager, seconds: seconds)
        await manager.stop()
        return finding
    }

    static func rfTest(_ manager: ReaderManager, seconds: Int) async -> Finding {
        var names: [String] = []
        for _ in 0..<60 {
            names = await manager.snapshot().map(\.name)
            if !names.isEmpty { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        guard !names.isEmpty else {
            return Finding("RF test", .fail, "no reader to test", fix: "see the reader checks above")
        }
        let lease: ReaderLease
        do { lease = try await manager.acquire() } catch {
            return Finding("RF test", .fail, "\(error)", fix: "stop whatever uses the reader")
        }
        var ev = ["reader: \(lease.reader)"]
        let tapped: TappedCard?
        do { tapped = try await lease.waitForCard(timeout: .seconds(Int64(seconds))) } catch {
            await lease.finish()
            return Finding(
                "RF test", .fail, "reader error while waiting for a card: \(error)", evidence: ev,
                fix: "replug the reader; see the reader checks")
        }
        guard let card = tapped else {
            await lease.finish()
            return Finding(
                "RF test", .fail, "no card or phone within \(seconds) s", evidence: ev,
                fix:
                    "hold a card flat on the reader's marked area (not near metal); a phone must be unlocked with its wallet set up; try another card"
            )
        }
        ev.append((lease.backend == .libnfc ? "ATS " : "ATR ") + Hex.encode(card.answerToSelect))
        if lease.backend == .libnfc { ev.append("FWI \(FrameWaitingTime(atsAfterTL: card.answerToSelect).fwi)") }
        let recorder = RecordingChannel(card.channel)
        let transport = CardTransport(channel: recorder)
        var verdict = Verdict.pass
        var summary = "the card answers"
        do {
            let ppse = try await transport.send(.select(name: CommandAPDU.ppseName))
            ev.append("SELECT PPSE: \(ppse.status)")
            if ppse.status == .success {
                let tree = (try? TLVParser.parse(ppse.data)) ?? []
                var apps: [String] = []
                func walk(_ ts: [TLV]) {
                    for t in ts {
                        if t.tag == 0x61, let aid = t.first(0x4F) {
                            let label = t.first(0x50).map {
                                String(decoding: $0.bytes.filter { (0x20...0x7E).contains($0) }, as: UTF8.self)
                            }
                            apps.append(Hex.encode(aid.bytes) + (label.map { " (\($0))" } ?? ""))
                        }
                        walk(t.children)
                    }
                }
                walk(tree)
                ev.append("applications: " + (apps.isEmpty ? "none listed" : apps.joined(separator: ", ")))
                if apps.isEmpty {
                    verdict = .warn
                    summary = "the card answers but lists no payment application"
                }
            } else {
                verdict = .warn
                summary = "the card answers but has no contactless payment directory (not a payment card?)"
            }
        } catch {
            verdict = .fail
            summary = "the card did not complete SELECT PPSE: \(error)"
        }
        let timings = await recorder.exchanges.map { e -> String in
            let ms = Double(e.duration.components.seconds) * 1000 + Double(e.duration.components.attoseconds) / 1e15
            return String(format: "%.1f ms", ms)
        }
        ev.append("per-APDU time: " + timings.joined(separator: ", "))
        await lease.finish()
        return Finding(
            "RF test", verdict, summary, evidence: ev,
            fix: verdict == .pass
                ? nil
                : verdict == .warn
                    ? "try a payment card"
                    : "hold the card still on the reader; if it keeps failing, see the reader checks")
    }
}
