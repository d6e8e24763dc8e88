// What `GET /metrics` exposes (Prometheus text format, swift-prometheus): transactions by outcome and scheme,
// tap-to-outcome and online round-trip histograms, ODA failures, reader errors, the store-and-forward depth.
import CProcess
import Foundation
import Prometheus

/// The daemon's Prometheus metrics, served at `GET /metrics`.
public final class TapdMetrics: Sendable {
    /// The registry holding all of tapd's metrics.
    public let registry = PrometheusCollectorRegistry()
    private let tapToOutcome: DurationHistogram
    private let onlineRoundTrip: DurationHistogram
    private let odaFailures: Counter
    private let safDepth: Gauge
    private let apiRequests: Counter
    private let safQuarantinedNow: Gauge
    private let safQuarantines: Counter
    private let safRejections: Counter
    private let frozenScopes: Gauge
    private let linkUp: Gauge
    private let safOldestAge: Gauge
    private let clockUnsynchronised: Gauge
    private let clockMaxError: Gauge

    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
    ]

    /// Creates the histograms, counters and gauges in `registry` (their names start with `tapd_`).
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
        linkUp = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "acquirer_link_up", unitName: "",
                helpText: "1 when the acquirer can be reached (kept connection up, or the last attempt succeeded)"))
        safOldestAge = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "saf_oldest_age", unitName: "seconds",
                helpText: "Age of the oldest store-and-forward message still waiting (0 when none waits)"))
        clockUnsynchronised = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "clock_unsynchronised", unitName: "",
                helpText: "1 when the kernel says the system clock is not disciplined by NTP (adjtimex)"))
        clockMaxError = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "clock_max_error", unitName: "seconds",
                helpText: "The kernel's maximum error of the system clock (adjtimex maxerror)"))
        frozenScopes = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "risk_frozen_scopes", unitName: "",
                helpText: "Freezes that stop acceptance now"))
        apiRequests = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "api_requests", unitName: "total",
                helpText: "Requests served by the local API"))
    }

    /// Counts a sale that reached a final status (`tapd_transactions_total`); a nil scheme counts as "unknown".
    public func transaction(status: String, scheme: String?) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "transactions", unitName: "total",
                helpText: "Transactions by final status and scheme"),
            labels: [("status", status), ("scheme", scheme ?? "unknown")]
        ).increment()
    }

    /// Counts one error of the named reader (`tapd_reader_errors_total`).
    public func readerError(_ reader: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "reader_errors", unitName: "total",
                helpText: "Reader and reader-stack errors"),
            labels: [("reader", reader)]
        ).increment()
    }

    /// Records the time from card detected to the kernel's outcome (`tapd_tap_to_outcome_seconds`).
    public func tapToOutcome(_ d: Duration) { tapToOutcome.record(d) }
    /// Records one authorisation request's round trip, journal writes included (`tapd_online_round_trip_seconds`).
    public func onlineRoundTrip(_ d: Duration) { onlineRoundTrip.record(d) }
    /// Counts one offline data authentication failure (`tapd_oda_failures_total`).
    public func odaFailure() { odaFailures.increment() }
    /// Sets how many store-and-forward messages are waiting for delivery (`tapd_saf_depth`).
    public func setSAFDepth(_ n: Int) { safDepth.set(Double(n)) }
    /// Sets how many store-and-forward messages wait in quarantine for an operator (`tapd_saf_quarantined`).
    public func setSAFQuarantined(_ n: Int) { safQuarantinedNow.set(Double(n)) }
    /// Counts one store-and-forward message quarantined (`tapd_saf_quarantines_total`).
    public func safQuarantined() { safQuarantines.increment() }
    /// Counts one acquirer answer that refused a store-and-forward message (`tapd_saf_rejections_total`).
    public func safRejected() { safRejections.increment() }
    /// Counts one request served by the local API (`tapd_api_requests_total`).
    public func apiRequest() { apiRequests.increment() }

    /// One risk alert of `kind` (tapd_risk_alerts_total{kind}).
    public func riskAlert(_ kind: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "tapd", metricName: "risk_alerts", unitName: "total",
                helpText: "Risk alerts raised, by kind"), labels: [("kind", kind)]
        ).increment()
    }

    /// The acquirer link's reachability, the queue's oldest age and the clock's state, set at each scrape.
    public func setScrapeGauges(linkUp up: Bool?, safOldestAge age: TimeInterval?) {
        if let up { linkUp.set(Double(up ? 1 : 0)) }
        safOldestAge.set(max(0, age ?? 0))
        var maxError = 0
        var unsynchronised: Int32 = 0
        if tapd_clock_state(&maxError, &unsynchronised) == 0 {
            clockUnsynchronised.set(Double(unsynchronised))
            clockMaxError.set(Double(maxError) / 1_000_000)
        }
    }

    /// How many freezes stop acceptance now (tapd_risk_frozen_scopes).
    public func setFrozenScopes(_ n: Int) { frozenScopes.set(Double(n)) }

    /// Every metric in the Prometheus text format, as `GET /metrics` serves it.
    public func exposition() -> String { registry.emitToString() }
}

extension Duration {
    /// The duration in whole milliseconds (rounded down), as the journal records a tap's and an online request's time.
    var wholeMilliseconds: Int { Int(components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000) }
}
