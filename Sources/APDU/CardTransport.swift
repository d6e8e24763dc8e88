// The terminal transport layer over any CardChannel: EMV Book 1 §9.3 rules plus what phones need.
//  - 61xx → GET RESPONSE with Le = xx, data concatenated (Book 1 §9.3.1.3), bounded in count and size;
//  - 6Cxx → the same command again with Le = xx (Book 1 §9.3.1.2), once;
//  - 6700 / 6F00 to a command that carried Le → once more without Le (phones that reject Le; proxmark3 PR #1237);
//  - a response under 2 bytes is an error, never an empty success;
//  - GET PROCESSING OPTIONS, GENERATE AC, EXCHANGE RELAY RESISTANCE DATA and RECOVER AC are never sent twice:
//    each changes the card's state (ATC, cryptogram, relay timing), so a 6Cxx/6700/6F00 answer to them goes back to
//    the kernel as it is (Book C-2 and C-3 send each once; a resend could make a second cryptogram).
import TLV

public struct CardTransport: Sendable {
    public let channel: any CardChannel
    /// Largest response accepted after GET RESPONSE chaining (extended APDU maximum).
    public static let maxResponseLength = 65536
    /// Most GET RESPONSE rounds for one command.
    public static let maxGetResponseRounds = 64

    public init(channel: any CardChannel) { self.channel = channel }

    /// Sends one command and applies the transport rules. Throws `CardError` for transport faults; card status
    /// words (including errors such as 6A82) come back in the response for the caller to judge.
    public func send(_ command: CommandAPDU) async throws -> ResponseAPDU {
        var response = try await exchange(command)
        let resendable = !Self.isSentOnce(command)

        // Book 1 §9.3.1.2: 6Cxx — wrong Le, xx bytes available: re-issue with the right Le.
        if resendable, response.status.sw1 == 0x6C {
            var again = command
            again.le = response.status.sw2 == 0 ? 256 : Int(response.status.sw2)
            response = try await exchange(again)
        }

        // Phones: some answer 6700 or 6F00 to a command with Le and accept it without.
        if resendable, command.le != nil, response.status == .wrongLength || response.status == .noPreciseDiagnosis {
            var again = command
            again.le = nil
            let retry = try await exchange(again)
            if retry.status != .wrongLength && retry.status != .noPreciseDiagnosis { response = retry }
        }

        // Book 1 §9.3.1.3: 61xx — more data available: GET RESPONSE until the card says 9000 (or an error).
        var data = response.data
        var rounds = 0
        while response.status.sw1 == 0x61 {
            rounds += 1
            guard rounds <= Self.maxGetResponseRounds else { throw CardError.responseTooLong(Self.maxResponseLength) }
            response = try await exchange(.getResponse(response.status.sw2))
            data += response.data
            guard data.count <= Self.maxResponseLength else { throw CardError.responseTooLong(Self.maxResponseLength) }
        }
        return rounds == 0 ? response : ResponseAPDU(data: data, status: response.status)
    }

    /// Commands that change the card's state and must reach it at most once: GET PROCESSING OPTIONS (80 A8),
    /// GENERATE AC (80 AE), EXCHANGE RELAY RESISTANCE DATA (80 EA), RECOVER AC (80 D0).
    public static func isSentOnce(_ c: CommandAPDU) -> Bool {
        c.cla & 0xF0 == 0x80 && [0xA8, 0xAE, 0xEA, 0xD0].contains(c.ins)
    }

    private func exchange(_ command: CommandAPDU) async throws -> ResponseAPDU {
        let raw = try await channel.transmit(try command.encoded())
        guard raw.count <= Self.maxResponseLength + 2 else { throw CardError.responseTooLong(Self.maxResponseLength) }
        return try ResponseAPDU(bytes: raw)
    }
}
