// What `GET /metrics` exposes (Prometheus text format, swift-prometheus): transactions by outcome and scheme,
// tap-to-outcome and online round-trip histograms, ODA failures, reader errors, the store-and-forward depth.
import Foundation
import Prometheus

public final class TapdMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let tapToOutcome: DurationHistogram
    private let onlineRoundTrip: DurationHistogram
    private let odaFailures: Counter
    private let safDepth: Gauge
    private let apiRequests: Counter
    private let safQuarantinedNow: Gauge
    private let safQuarantines: Counter
    private let safRejections: Counter

    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
    ]

    public init() {
        tapToOutcome = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "tap_to_outcome", unitName: "seconds",
                helpText: "From card detected to the kernel's outcome (card time included, acquirer time excluded)"),
            labels: [], buckets: Self.latencyBuckets)
        onlineRoundTrip = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "online_round_trip", unitName: "seconds",
                helpText: "Authorisation request to answer, journal writes included"), labels: [],
            buckets: Self.latencyBuckets)
        odaFailures = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "oda_failures", unitName: "total",
                helpText: "Offline data authentication failures"))
        safDepth = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "saf_depth", unitName: "",
                helpText: "Reversals and advices waiting in store-and-forward"))
        safQuarantinedNow = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "saf_quarantined", unitName: "",
                helpText: "Store-and-forward messages waiting for an operator"))
        safQuarantines = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "saf_quarantines", unitName: "total",
                helpText: "Store-and-forward messages quarantined"))
        safRejections = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "saf_rejections", unitName: "total",
                helpText: "Store-and-forward answers that refused a message"))
        apiRequests = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "api_requests", unitName: "total",
                helpText: "Requests served by the local API"))
    }

    public func transaction(status: String, scheme: String?) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "transactions", unitName: "total",
                helpText: "Transactions by final status and scheme"),
            labels: [("status", status), ("scheme", scheme ?? "unknown")]
        ).increment()
    }

    public func readerError(_ reader: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "reader_errors", unitName: "total",
                helpText: "Reader and reader-stack errors"),
            labels: [("reader", reader)]
        ).increment()
    }

    public func tapToOutcome(_ d: Duration) { tapToOutcome.record(d) }
    public func onlineRoundTrip(_ d: Duration) { onlineRoundTrip.record(d) }
    public func odaFailure() { odaFailures.increment() }
    public func setSAFDepth(_ n: Int) { safDepth.set(Double(n)) }
    public func setSAFQuarantined(_ n: Int) { safQuarantinedNow.set(Double(n)) }
    public func safQuarantined() { safQuarantines.increment() }
    public func safRejected() { safRejections.increment() }
    public func apiRequest() { apiRequests.increment() }

    public func exposition() -> String { registry.emitToString() }
}
