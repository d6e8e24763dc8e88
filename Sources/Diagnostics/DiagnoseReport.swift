// What `tapctl diagnose --json` prints and the support bundle's report.json holds: a versioned document a fleet
// tool can collect. Version 1 ("tapd-diagnose/1"): fields may be added within a version; a field removed, renamed
// or changed in meaning makes the next version. The JSON Schema below is the contract (README, "tapctl diagnose");
// the tests check real reports against it.

import Foundation
import Journal
import TapdCore

/// `tapctl diagnose --json`: the findings with what a fleet tool needs to file them.
public struct DiagnoseReport: Codable, Sendable, Equatable {
    /// The schema this document follows, "tapd-diagnose/1".
    public static let currentSchema = "tapd-diagnose/1"

    /// `tapd-diagnose/1`.
    public var schema: String
    /// The tapctl (and tapd) version that made the report.
    public var tapdVersion: String
    /// The machine's host name.
    public var host: String
    /// When the report was made, ISO 8601 in UTC.
    public var generatedAt: String
    /// The worst verdict of all findings (the exit code follows it: PASS 0, WARN 1, FAIL 2).
    public var verdict: Verdict
    /// How many findings of each verdict.
    public var counts: Counts
    /// Each check, in the order it ran.
    public var findings: [Finding]

    /// PASS, WARN and FAIL counts.
    public struct Counts: Codable, Sendable, Equatable {
        /// Checks that passed.
        public var pass: Int
        /// Checks that warn.
        public var warn: Int
        /// Checks that failed.
        public var fail: Int
    }

    enum CodingKeys: String, CodingKey {
        case schema, host, verdict, counts, findings
        case tapdVersion = "tapd_version"
        case generatedAt = "generated_at"
    }

    /// The report of `findings`, made now on this host.
    public init(findings: [Finding], host: String = ProcessInfo.processInfo.hostName, now: Date = Date()) {
        schema = Self.currentSchema
        tapdVersion = TapdVersion.string
        self.host = host
        generatedAt = UTCTime.iso8601(now)
        verdict = Diagnostics.worst(findings)
        counts = Counts(
            pass: findings.filter { $0.verdict == .pass }.count, warn: findings.filter { $0.verdict == .warn }.count,
            fail: findings.filter { $0.verdict == .fail }.count)
        self.findings = findings
    }

    /// The JSON Schema (draft 2020-12) of version 1; `tapctl diagnose --schema` prints it.
    public static let jsonSchema = """
        {
          "$schema": "https://json-schema.org/draft/2020-12/schema",
          "$id": "https://tapd.invalid/schemas/tapd-diagnose-1.json",
          "title": "tapctl diagnose --json, version 1",
          "type": "object",
          "additionalProperties": false,
          "required": ["schema", "tapd_version", "host", "generated_at", "verdict", "counts", "findings"],
          "properties": {
            "schema": {"type": "string", "enum": ["tapd-diagnose/1"]},
            "tapd_version": {"type": "string"},
            "host": {"type": "string"},
            "generated_at": {"type": "string", "format": "date-time"},
            "verdict": {"type": "string", "enum": ["PASS", "WARN", "FAIL"]},
            "counts": {
              "type": "object",
              "additionalProperties": false,
              "required": ["pass", "warn", "fail"],
              "properties": {
                "pass": {"type": "integer", "minimum": 0},
                "warn": {"type": "integer", "minimum": 0},
                "fail": {"type": "integer", "minimum": 0}
              }
            },
            "findings": {
              "type": "array",
              "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["check", "verdict", "summary", "evidence"],
                "properties": {
                  "check": {"type": "string"},
                  "verdict": {"type": "string", "enum": ["PASS", "WARN", "FAIL"]},
                  "summary": {"type": "string"},
                  "evidence": {"type": "array", "items": {"type": "string"}},
                  "fix": {"type": "string"}
                }
              }
            }
          }
        }
        """
}
