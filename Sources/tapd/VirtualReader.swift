// The demo's reader when there is no hardware: one in-process reader that "taps" virtual cards and phones from the
// simulators. Each sale gets the next card of the script (or a Visa card when the script is empty, so an integrator's
// `tapctl sale` works against a running demo); a phone that asks to "see phone" is tapped again, as a cardholder would.

import APDU
import Foundation
import Readers
import Simulators
import TapdCore

final class VirtualReaderPool: CardReaderPool, @unchecked Sendable {
    static let name = "tapd virtual reader"
    private let lock = NSLock()
    private var script: [CardProfile] = []
    private var leased = false
    let executor = ReaderExecutor(label: "tapd.virtual.reader")
    /// How long after the reader asks a card arrives (the cardholder's hand).
    let tapDelay: Duration

    init(tapDelay: Duration = .milliseconds(400)) { self.tapDelay = tapDelay }

    /// The card or phone the next sale gets.
    func present(_ profile: CardProfile) { lock.withLock { script.append(profile) } }

    func next() -> CardProfile { lock.withLock { script.isEmpty ? .visaCard() : script.removeFirst() } }

    func lease(_ name: String?) async throws -> any CardReaderSession {
        if let name, name != Self.name, !Self.name.hasPrefix(name) { throw ReaderManagerError.unknownReader(name) }
        try lock.withLock {
            guard !leased else { throw ReaderManagerError.busy(Self.name) }
            leased = true
        }
        return VirtualSession(pool: self)
    }

    func release() { lock.withLock { leased = false } }

    func snapshot() async -> [ReaderSnapshot] {
        [
            ReaderSnapshot(
                name: Self.name, backend: .virtual, state: lock.withLock { leased } ? .inUse : .idle,
                model: "virtual (simulators)")
        ]
    }
}

final class VirtualSession: CardReaderSession, @unchecked Sendable {
    let pool: VirtualReaderPool
    var reader: String { VirtualReaderPool.name }
    private let lock = NSLock()
    private var card: VirtualCard?
    private var cancelled = false
    private var signals: [UISignal] = []

    init(pool: VirtualReaderPool) { self.pool = pool }

    func waitForCard(timeout: Duration) async throws -> TappedCard? {
        let deadline = ContinuousClock.now + min(timeout, pool.tapDelay)
        while ContinuousClock.now < deadline {
            if lock.withLock({ cancelled }) { throw CardError.cancelled }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if lock.withLock({ cancelled }) { throw CardError.cancelled }
        guard timeout >= pool.tapDelay else { return nil }
        let c = try lock.withLock { () throws -> VirtualCard in
            if let c = card { return c }
            let c = try VirtualCard(pool.next())
            card = c
            return c
        }
        return TappedCard(channel: c, answerToSelect: VPCDBridge.contactlessATR, executor: pool.executor)
    }

    func cancel() { lock.withLock { cancelled = true } }
    func signal(_ s: UISignal) async { lock.withLock { signals.append(s) } }
    func waitForRemoval(timeout: Duration) async -> Bool { true }
    func finish(failure: String?) async { pool.release() }
}
