// What the coordinator needs from readers: a pool that lends one reader per transaction. ReaderManager is the real
// one (PC/SC and libnfc); the demo's in-process virtual reader is another.
import Readers

public protocol CardReaderPool: Sendable {
    func lease(_ name: String?) async throws -> any CardReaderSession
    func snapshot() async -> [ReaderSnapshot]
}

public protocol CardReaderSession: AnyObject, Sendable {
    var reader: String { get }
    func waitForCard(timeout: Duration) async throws -> TappedCard?
    func cancel()
    func signal(_ s: UISignal) async
    func waitForRemoval(timeout: Duration) async -> Bool
    func finish(failure: String?) async
}

extension ReaderManager: CardReaderPool {
    public func lease(_ name: String?) async throws -> any CardReaderSession { try acquire(name) }
}

extension ReaderLease: CardReaderSession {}
