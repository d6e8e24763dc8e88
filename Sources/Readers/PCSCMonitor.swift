// Watches pcscd for readers and cards and survives pcscd going away: a restart, a crash, or socket activation
// that lets pcscd exit when idle. No polling: one SCardGetStatusChange over every reader plus the
// "\\?PnP?\Notification" pseudo-reader (which changes when a reader is attached or removed) blocks until something
// changes; stop() interrupts it with SCardCancel. When pcscd is unreachable (SCARD_E_NO_SERVICE,
// SCARD_E_SERVICE_STOPPED) the context is dropped and re-established with backoff (0.25 s doubling to 5 s).
import Foundation

/// What PCSCMonitor reports about pcscd, its readers and their cards; readers are named as pcscd lists them.
public enum ReaderEvent: Sendable, Equatable {
    case serviceUp
    case serviceDown(String)
    case attached(String)
    case detached(String)
    case cardPresent(String, atr: [UInt8])
    case cardRemoved(String)
}

/// Follows pcscd's readers and cards with SCardGetStatusChange (no polling), re-establishing the context with backoff
/// when pcscd goes away.
public final class PCSCMonitor: @unchecked Sendable {
    /// The reader and card events, in order; finishes when run() returns (the newest 1,024 are kept if nobody reads).
    public let events: AsyncStream<ReaderEvent>
    private let continuation: AsyncStream<ReaderEvent>.Continuation
    private let lock = NSLock()
    private var stopped = false
    private var finished = false
    private var context: PCSCContext?
    private var waitCount = 0
    /// How many times the monitor has asked pcscd to wait: stays still while nothing happens (no polling).
    public var waits: Int { lock.withLock { waitCount } }
    let initialBackoff: Duration
    let maximumBackoff: Duration

    /// Sets the reconnect backoff: `initialBackoff`, doubled after each failed SCardEstablishContext up to
    /// `maximumBackoff`. Nothing happens until run().
    public init(initialBackoff: Duration = .milliseconds(250), maximumBackoff: Duration = .seconds(5)) {
        (events, continuation) = AsyncStream.makeStream(of: ReaderEvent.self, bufferingPolicy: .bufferingNewest(1024))
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// Makes run() return, interrupting an SCardGetStatusChange in progress with SCardCancel (a backoff sleep is waited
    /// out). pcscd drops a cancel that arrives before the wait has begun, so the cancel is repeated every 50 ms until
    /// run() has returned (for at most 10 s): a stop between the loop's check and the wait is never lost.
    public func stop() {
        lock.withLock {
            stopped = true
            context?.cancel()
        }
        DispatchQueue.global().async { [self] in
            for _ in 0..<200 {
                let done = lock.withLock { () -> Bool in
                    if !finished { context?.cancel() }
                    return finished
                }
                if done { return }
                usleep(50_000)
            }
        }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    /// Runs until stop(); then finishes the event stream.
    public func run() async {
        defer {
            lock.withLock { finished = true }
            continuation.finish()
        }
        var delay = initialBackoff
        var serviceKnownDown = false
        while !isStopped {
            let ctx: PCSCContext
            do {
                ctx = try PCSCContext()
            } catch {
                if !serviceKnownDown {
                    continuation.yield(.serviceDown("\(error)"))
                    serviceKnownDown = true
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, maximumBackoff)
                continue
            }
            lock.withLock { context = ctx }
            delay = initialBackoff
            serviceKnownDown = false
            continuation.yield(.serviceUp)
            let reason = await watch(ctx)
            lock.withLock { context = nil }
            if isStopped { break }
            continuation.yield(.serviceDown(reason))
            serviceKnownDown = true
            try? await Task.sleep(for: delay)
        }
    }

    /// Follows one context until pcscd goes away (returns why) or stop().
    private func watch(_ ctx: PCSCContext) async -> String {
        var readers: [String] = []
        var known: [String: ReaderStatus] = [:]
        while !isStopped {
            do {
                let current = try ctx.readers()
                for r in current where !readers.contains(r) { continuation.yield(.attached(r)) }
                for r in readers where !current.contains(r) {
                    if known[r]?.cardPresent == true { continuation.yield(.cardRemoved(r)) }
                    known[r] = nil
                    continuation.yield(.detached(r))
                }
                readers = current
                let names = readers + [PCSCContext.plugAndPlayReader]
                lock.withLock { waitCount += 1 }
                let states = try await ctx.waitForChange(known, readers: names, timeout: .seconds(3600))
                for s in states {
                    defer { known[s.name] = s }
                    guard s.name != PCSCContext.plugAndPlayReader else { continue }
                    let was = known[s.name]
                    if s.cardPresent, was?.cardPresent != true || was?.eventCount != s.eventCount {
                        // swapped between calls
                        if was?.cardPresent == true { continuation.yield(.cardRemoved(s.name)) }
                        continuation.yield(.cardPresent(s.name, atr: s.atr))
                    } else if !s.cardPresent, was?.cardPresent == true {
                        continuation.yield(.cardRemoved(s.name))
                    }
                }
            } catch let e as PCSCError where e.serviceGone {
                for (r, s) in known where s.cardPresent && r != PCSCContext.plugAndPlayReader {
                    continuation.yield(.cardRemoved(r))
                }
                return e.description
            } catch let e as PCSCError where e.code == PCSCCode.cancelled {
                return "stopped"
            } catch {
                // A reader vanished between the list and the wait (SCARD_E_UNKNOWN_READER …): list again.
                known = known.filter { readers.contains($0.key) }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        return "stopped"
    }
}
