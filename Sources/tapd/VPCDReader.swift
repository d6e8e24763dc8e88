// The demo's reader through the real stack, when this machine has one: the system's pcscd with the vpcd driver
// (Debian's vsmartcard-vpcd, which `make demo` installs). Each sale's virtual card is served to vpcd by a VPCDBridge,
// so the sale goes through libpcsclite, pcscd and the reader manager exactly as with a USB reader. Without pcscd or
// vpcd the demo uses the in-process virtual reader instead.

import APDU
import Foundation
import Readers
import Simulators
import TapdCore

final class VPCDReaderPool: CardReaderPool, @unchecked Sendable {
    static let reader = "Virtual PCD 00 00"
    static let port: UInt16 = 35963
    let manager: ReaderManager
    let script: VirtualReaderPool

    init(script: VirtualReaderPool) {
        self.script = script
        manager = ReaderManager(
            configuration: ReaderManagerConfiguration(
                pcsc: true, exclusive: true, preferred: Self.reader,
                ignore: ["Virtual PCD 00 01"], signals: false,
                virtualReaders: true))
    }

    /// pcscd answers, lists the vpcd reader, and vpcd accepts a card on its port.
    static func available() -> Bool {
        guard let ctx = try? PCSCContext(), (try? ctx.readers())?.contains(reader) == true else { return false }
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { return false }
        defer { close(s) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let rv = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rv == 0
    }

    func lease(_ name: String?) async throws -> any CardReaderSession {
        VPCDSession(lease: try await manager.acquire(name), script: script)
    }

    func snapshot() async -> [ReaderSnapshot] { await manager.snapshot() }
}

final class VPCDSession: CardReaderSession, @unchecked Sendable {
    let lease: ReaderLease
    let script: VirtualReaderPool
    private let lock = NSLock()
    private var bridge: VPCDBridge?
    var reader: String { lease.reader }

    init(lease: ReaderLease, script: VirtualReaderPool) {
        self.lease = lease
        self.script = script
    }

    func waitForCard(timeout: Duration) async throws -> TappedCard? {
        if lock.withLock({ bridge }) == nil {
            try await Task.sleep(for: script.tapDelay)  // the cardholder's hand
            let b = VPCDBridge(card: try VirtualCard(script.next()))
            try await b.connect(port: VPCDReaderPool.port, patience: .seconds(2))
            lock.withLock { bridge = b }
            Task { _ = try? await b.serve() }
        }
        return try await lease.waitForCard(timeout: timeout)
    }

    func cancel() { lease.cancel() }

    func signal(_ s: UISignal) async {
        // The cardholder takes the card away when asked to.
        if s == .removeCard {
            lock.withLock {
                let b = bridge
                bridge = nil
                return b
            }?.close()
        }
        await lease.signal(s)
    }

    func waitForRemoval(timeout: Duration) async -> Bool {
        // "See phone": the phone stays in the field (vpcd keeps it present) and is read again.
        guard lock.withLock({ bridge }) == nil else { return true }
        return await lease.waitForRemoval(timeout: timeout)
    }

    func finish(failure: String?) async {
        lock.withLock {
            let b = bridge
            bridge = nil
            return b
        }?.close()
        await lease.finish(failure: failure)
    }
}
