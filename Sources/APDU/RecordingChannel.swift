// A channel that records every exchange with its timing, for traces, diagnostics and `tapctl replay` files.
import TLV

public struct RecordedExchange: Sendable, Equatable {
    public let command: [UInt8]
    /// The raw response, or nil when the exchange failed (see `error`).
    public let response: [UInt8]?
    public let error: CardError?
    public let duration: Duration
}

public final class RecordingChannel: CardChannel {
    private let inner: any CardChannel
    private let log = Log()

    public init(_ inner: any CardChannel) { self.inner = inner }

    public func transmit(_ command: [UInt8]) async throws -> [UInt8] {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let r = try await inner.transmit(command)
            await log.append(RecordedExchange(command: command, response: r, error: nil, duration: clock.now - start))
            return r
        } catch let e as CardError {
            await log.append(RecordedExchange(command: command, response: nil, error: e, duration: clock.now - start))
            throw e
        }
    }

    /// Everything exchanged so far, in order.
    public var exchanges: [RecordedExchange] { get async { await log.items } }

    private actor Log {
        var items: [RecordedExchange] = []
        func append(_ e: RecordedExchange) { items.append(e) }
    }
}
