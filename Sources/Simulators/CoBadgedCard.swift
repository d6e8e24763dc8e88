// A co-badged card in software: several applications of different schemes on one card (UnionPay with Visa, as
// Chinese cards issued for travel abroad are; a debit scheme with an international one), each with its priority
// in the PPSE. SELECT of an application's AID makes that application answer the commands that follow.

import APDU
import TLV

/// Several virtual card applications behind one PPSE, each listed with an Application Priority Indicator.
public final class CoBadgedCard: CardChannel {
    private let applications: [(card: VirtualCard, priority: UInt8)]
    private let ppse: [UInt8]
    private let current = Current()

    /// `applications`: each virtual card with the priority (1 highest) its PPSE entry carries.
    public init(_ applications: [(VirtualCard, UInt8)]) {
        self.applications = applications.map { (card: $0.0, priority: $0.1) }
        let entries = applications.map { card, priority in
            TLV(
                tag: 0x61,
                children: [
                    TLV(tag: 0x4F, value: card.profile.aid), TLV(tag: 0x50, value: Array(card.profile.label.utf8)),
                    TLV(tag: 0x87, value: [priority]), TLV(tag: 0x9F2A, value: [card.profile.scheme.kernelID]),
                ])
        }
        ppse =
            TLV(
                tag: 0x6F,
                children: [
                    TLV(tag: 0x84, value: CommandAPDU.ppseName),
                    TLV(tag: 0xA5, children: [TLV(tag: 0xBF0C, children: entries)]),
                ]
            ).encoded + [0x90, 0x00]
    }

    /// Answers with the application the last SELECT chose; the PPSE lists them all.
    public func transmit(_ bytes: [UInt8]) async throws -> [UInt8] {
        guard let c = CommandAPDU(bytes: bytes) else { return [0x67, 0x00] }
        if c.cla == 0x00, c.ins == 0xA4 {
            if c.data == CommandAPDU.ppseName { return ppse }
            guard let i = applications.firstIndex(where: { c.data.starts(with: $0.card.profile.aid) }) else {
                return [0x6A, 0x82]
            }
            await current.set(i)
        }
        guard let i = await current.index else { return [0x69, 0x85] }
        return try await applications[i].card.transmit(bytes)
    }

    private actor Current {
        var index: Int?
        func set(_ i: Int) { index = i }
    }
}
