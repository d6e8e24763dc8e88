// What the coordinator needs from readers: a pool that lends one reader per transaction. ReaderManager is the real
// one (PC/SC and libnfc); the demo's in-process virtual reader is another.
import Readers

/// Readers the coordinator can lease, one per transaction.
public protocol CardReaderPool: Sendable {
    /// Lends a reader for one transaction: the named one, or any free one when nil; throws when none can be lent.
    func lease(_ name: String?) async throws -> any CardReaderSession
    /// Every reader in the pool and its state now.
    func snapshot() async -> [ReaderSnapshot]
}

/// One leased reader for one transaction; `finish` gives it back.
public protocol CardReaderSession: AnyObject, Sendable {
    /// The reader's name.
    var reader: String { get }
    /// Waits for a card or phone: nil after `timeout`; throws `CardError.cancelled` after `cancel()`.
    func waitForCard(timeout: Duration) async throws -> TappedCard?
    /// Ends a wait for a card in progress.
    func cancel()
    /// Shows a user-interface status on the reader's LEDs and buzzer, where it has them.
    func signal(_ s: UISignal) async
    /// Waits until the card has left the field (true) or `timeout` passes (false).
    func waitForRemoval(timeout: Duration) async -> Bool
    /// Gives the reader back; a non-nil `failure` marks it as faulty in its status.
    func finish(failure: String?) async
}

extension ReaderManager: CardReaderPool {
    /// Leases a reader through `acquire`: the named one, else the preferred one, else the first idle one.
    public func lease(_ name: String?) async throws -> any CardReaderSession { try acquire(name) }
}

extension ReaderLease: CardReaderSession {}
