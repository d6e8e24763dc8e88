// A card that answers from a list of exchanges, so each kernel step can be tested against exact APDU scripts,
// malformed answers included (the style of openemv/emv-utils' scripted card reader tests).
//
// Two ways of matching:
//  - `.exact`: the commands must arrive in order, byte for byte. A mismatch is recorded and answered with an
//    error, and `mismatches` lets the test fail loudly instead of seeing a card fault.
//  - `.replay`: the format of `tapctl replay`: each command gets the response of the first unused exchange with
//    the same CLA INS P1 P2 (for SELECT, also the same data); no match → 6D00.
import TLV

public struct ScriptedExchange: Sendable, Equatable {
    public enum Answer: Sendable, Equatable {
        case bytes([UInt8])
        case error(CardError)
    }
    public let command: [UInt8]
    public let answer: Answer
    /// Time the card takes to answer (a slow phone, a card that times out).
    public let delay: Duration?

    public init(command: [UInt8], response: [UInt8], delay: Duration? = nil) {
        self.command = command
        self.answer = .bytes(response)
        self.delay = delay
    }
    public init(command: [UInt8], error: CardError, delay: Duration? = nil) {
        self.command = command
        self.answer = .error(error)
        self.delay = delay
    }
    /// From hex strings; traps on invalid hex (test fixtures only).
    public init(_ command: String, _ response: String) {
        self.init(command: [UInt8](hex: command)!, response: [UInt8](hex: response)!)
    }
}

public final class ScriptedChannel: CardChannel {
    public enum Matching: Sendable { case exact, replay }

    public struct Mismatch: Sendable, Equatable, CustomStringConvertible {
        public let index: Int
        public let expected: [UInt8]?
        public let received: [UInt8]
        public var description: String {
            "command \(index): expected \(expected.map(Hex.encode) ?? "<end of script>"), received \(Hex.encode(received))"
        }
    }

    private let state: State
    public let matching: Matching
    /// What a replay answers to a command it has no exchange for (6D00 unless the recording says otherwise).
    public let unmatchedResponse: [UInt8]

    public init(
        _ exchanges: [ScriptedExchange], matching: Matching = .exact, unmatchedResponse: [UInt8] = [0x6D, 0x00]
    ) {
        self.state = State(exchanges)
        self.matching = matching
        self.unmatchedResponse = unmatchedResponse
    }

    public func transmit(_ command: [UInt8]) async throws -> [UInt8] {
        let next = await state.take(command, matching: matching)
        if let delay = next?.delay { try await Task.sleep(for: delay) }
        switch next?.answer {
        case .bytes(let b)?: return b
        case .error(let e)?: throw e
        case nil:
            if matching == .replay { return unmatchedResponse }
            throw CardError.transport("script mismatch")
        }
    }

    /// Commands that did not match the script (exact mode). A correct test expects none.
    public var mismatches: [Mismatch] { get async { await state.mismatches } }
    /// Exchanges never asked for.
    public var remaining: Int { get async { await state.unusedCount } }
    /// Every command received, in order.
    public var received: [[UInt8]] { get async { await state.received } }

    private actor State {
        var exchanges: [ScriptedExchange]
        var used: [Bool]
        var cursor = 0
        var mismatches: [Mismatch] = []
        var received: [[UInt8]] = []

        init(_ e: [ScriptedExchange]) {
            exchanges = e
            used = Array(repeating: false, count: e.count)
        }

        var unusedCount: Int { used.filter { !$0 }.count }

        func take(_ command: [UInt8], matching: Matching) -> ScriptedExchange? {
            received.append(command)
            switch matching {
            case .exact:
                guard cursor < exchanges.count else {
                    mismatches.append(Mismatch(index: received.count - 1, expected: nil, received: command))
                    return nil
                }
                let e = exchanges[cursor]
                guard e.command == command else {
                    mismatches.append(Mismatch(index: received.count - 1, expected: e.command, received: command))
                    return nil
                }
                used[cursor] = true
                cursor += 1
                return e
            case .replay:
                for (i, e) in exchanges.enumerated() where !used[i] && Self.replayMatches(e.command, command) {
                    used[i] = true
                    return e
                }
                return nil
            }
        }

        /// Same CLA INS P1 P2; for SELECT (INS A4) also the same data field.
        static func replayMatches(_ recorded: [UInt8], _ sent: [UInt8]) -> Bool {
            guard recorded.count >= 4, sent.count >= 4, recorded.prefix(4).elementsEqual(sent.prefix(4)) else {
                return false
            }
            if sent[1] == 0xA4 {
                let a = CommandAPDU(bytes: recorded)?.data
                let b = CommandAPDU(bytes: sent)?.data
                return a != nil && a == b
            }
            return true
        }
    }
}
