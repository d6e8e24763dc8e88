// A small release-mode benchmark harness: warm up, then several timed samples; report the median and the best,
// and heap allocations per operation.
import CAllocCounter

struct BenchResult {
    let name: String
    let nsPerOp: Double  // median of the samples
    let bestNsPerOp: Double
    let allocsPerOp: Double
    let bytesPerOp: Int?

    var mbPerSecond: Double? { bytesPerOp.map { Double($0) / nsPerOp * 1e9 / 1e6 } }
}

@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

/// Warm-up and calibration (an iteration count that fills a sample), then timed samples with their allocations.
/// On the main actor, like the top-level code that calls it: no executor hop per iteration.
@MainActor
func measure(
    _ name: String, bytesPerOp: Int? = nil, samples: Int = 11, minSampleTime: Duration = .milliseconds(200),
    _ body: () async throws -> Void
) async rethrows -> BenchResult {
    let clock = ContinuousClock()
    var iterations = 1
    while true {
        let start = clock.now
        for _ in 0..<iterations { try await body() }
        if clock.now - start >= minSampleTime || iterations >= 1 << 20 { break }
        iterations *= 2
    }
    var times: [Double] = []
    var allocs: UInt64 = 0
    for _ in 0..<samples {
        tapd_alloc_reset()
        let start = clock.now
        for _ in 0..<iterations { try await body() }
        let t = clock.now - start
        allocs += tapd_alloc_count()
        times.append(Double(t.components.seconds) * 1e9 + Double(t.components.attoseconds) / 1e9)
    }
    times.sort()
    let perOp = times.map { $0 / Double(iterations) }
    return BenchResult(
        name: name, nsPerOp: perOp[perOp.count / 2], bestNsPerOp: perOp[0],
        allocsPerOp: Double(allocs) / Double(samples * iterations), bytesPerOp: bytesPerOp)
}

func report(_ r: BenchResult) {
    func f(_ v: Double, _ digits: Int = 2) -> String {
        let p = pow10(digits)
        return String(Double((v * p).rounded()) / p)
    }
    var line =
        "\(r.name): median \(f(r.nsPerOp / 1000)) µs/op (best \(f(r.bestNsPerOp / 1000)) µs), \(f(r.allocsPerOp, 1)) allocations/op"
    if let mb = r.mbPerSecond, let b = r.bytesPerOp { line += ", \(b) bytes/op → \(f(mb, 0)) MB/s" }
    print(line)
}

private func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { x, _ in x * 10 } }
