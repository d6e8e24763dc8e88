// Everything the point of sale can watch: transaction state changes and user-interface requests, readers coming and
// going, the acquirer link going up or down, risk alerts. The hub never waits for a listener: each subscriber has a
// bounded buffer, and one that falls too far behind loses its oldest events (and is told so by the gap in `seq`),
// so a slow or stuck client can never hold up a transaction.
import Foundation

/// One event the point of sale can watch; `seq` numbers events in the order they were published.
public struct TapdEvent: Codable, Sendable, Equatable {
    /// What an event is about.
    public enum Kind: String, Codable, Sendable {
        /// A sale's state changed (`transaction`), or a sale asks for a message to be shown (`ui`).
        case transaction, ui
        /// A reader was attached; `detail` names its backend.
        case readerAttached = "reader_attached"
        /// A reader was detached.
        case readerDetached = "reader_detached"
        /// A card or phone entered a reader's field.
        case cardPresent = "card_present"
        /// The card or phone left a reader's field.
        case cardRemoved = "card_removed"
        /// A reader failed; `detail` says why.
        case readerError = "reader_error"
        /// The link to the acquirer came up.
        case linkUp = "link_up"
        /// The link to the acquirer went down; `detail` carries its last error.
        case linkDown = "link_down"
        /// Risk management raised an alert during a sale; `detail` gives its kind and message.
        case riskAlert = "risk_alert"
        /// Money needs a person: a reversal or advice the acquirer keeps refusing, a stored message that does not open.
        case moneyAlert = "money_alert"
    }
    /// Increases by one per event; a gap tells a subscriber it missed some.
    public var seq: Int
    /// What the event is about.
    public var type: Kind
    /// When the event was published.
    public var at: Date
    /// The sale it concerns, if any.
    public var transactionID: String?
    /// The sale's status for `transaction` events; for money alerts, the state of what needs attention.
    public var status: String?
    /// For `ui`: the EMV Book A standard message ("Present card", "See phone", …).
    public var message: String?
    /// The reader it concerns, if any.
    public var reader: String?
    /// Free text behind the event (a reason, an error, an alert), if any.
    public var detail: String?

    enum CodingKeys: String, CodingKey {
        case seq, type, at
        case transactionID = "transaction_id"
        case status, message, reader, detail
    }
}

/// Hands every event to every subscriber without ever waiting for one; a subscriber that falls behind loses its oldest.
public final class EventHub: @unchecked Sendable {
    private let lock = NSLock()
    private var seq = 0
    private var subscribers: [UUID: AsyncStream<TapdEvent>.Continuation] = [:]
    private var recent: [TapdEvent] = []
    /// Events a subscriber may fall behind by before its oldest are dropped.
    public let bufferLimit: Int

    /// A hub whose subscribers may each fall `bufferLimit` events behind.
    public init(bufferLimit: Int = 256) { self.bufferLimit = bufferLimit }

    /// Numbers an event, keeps it for replay and hands it to every subscriber; never blocks.
    public func publish(
        _ type: TapdEvent.Kind, transactionID: String? = nil, status: String? = nil, message: String? = nil,
        reader: String? = nil, detail: String? = nil
    ) {
        lock.lock()
        seq += 1
        let e = TapdEvent(
            seq: seq, type: type, at: Date(), transactionID: transactionID, status: status, message: message,
            reader: reader, detail: detail)
        recent.append(e)
        if recent.count > 64 { recent.removeFirst(recent.count - 64) }
        let targets = Array(subscribers.values)
        lock.unlock()
        for c in targets { c.yield(e) }
    }

    /// A stream of events from now on (plus the last `replay` ones, for a client reconnecting).
    public func subscribe(replay: Int = 0) -> AsyncStream<TapdEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: TapdEvent.self, bufferingPolicy: .bufferingNewest(bufferLimit))
        let id = UUID()
        lock.lock()
        for e in recent.suffix(max(0, min(replay, 64))) { continuation.yield(e) }
        subscribers[id] = continuation
        lock.unlock()
        continuation.onTermination = { [weak self] _ in self?.remove(id) }
        return stream
    }

    private func remove(_ id: UUID) { lock.withLock { _ = subscribers.removeValue(forKey: id) } }

    /// How many streams are subscribed now.
    public var subscriberCount: Int { lock.withLock { subscribers.count } }

    /// Ends every stream (shutdown).
    public func finish() {
        let all = lock.withLock { () -> [AsyncStream<TapdEvent>.Continuation] in
            let a = Array(subscribers.values)
            subscribers = [:]
            return a
        }
        for c in all { c.finish() }
    }
}
