// Checks JSON answers against the schemas of the OpenAPI document the API serves: types, required properties, no
// undocumented properties (additionalProperties false), enums, patterns, array items, $ref. Enough of JSON Schema for
// the document tapd ships; anything it does not understand is a test failure, not a silent pass.
import Foundation

struct OpenAPIValidator {
    let document: [String: Any]

    init(_ data: Data) throws {
        guard let d = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw NSError(domain: "OpenAPI", code: 1)
        }
        document = d
    }

    var paths: [String] { ((document["paths"] as? [String: Any]) ?? [:]).keys.sorted() }

    func schema(_ name: String) -> [String: Any] {
        ((document["components"] as? [String: Any])?["schemas"] as? [String: Any])?[name] as? [String: Any] ?? [:]
    }

    /// Problems found in `value` against `schema` (empty when valid).
    func validate(_ value: Any, against schema: [String: Any], at path: String = "$") -> [String] {
        if let ref = schema["$ref"] as? String {
            guard ref.hasPrefix("#/components/schemas/") else { return ["\(path): unsupported $ref \(ref)"] }
            return validate(value, against: self.schema(String(ref.dropFirst("#/components/schemas/".count))), at: path)
        }
        var problems: [String] = []
        if let e = schema["enum"] as? [Any], !e.contains(where: { "\($0)" == "\(value)" }) {
            problems.append("\(path): \(value) not in \(e)")
        }
        switch schema["type"] as? String {
        case "object"?:
            guard let o = value as? [String: Any] else { return ["\(path): expected an object"] }
            let props = schema["properties"] as? [String: Any] ?? [:]
            for r in schema["required"] as? [String] ?? [] where o[r] == nil {
                problems.append("\(path): missing \(r)")
            }
            for (k, v) in o {
                if let p = props[k] as? [String: Any] {
                    problems += validate(v, against: p, at: "\(path).\(k)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(path): undocumented property \(k)")
                }
            }
        case "array"?:
            guard let a = value as? [Any] else { return ["\(path): expected an array"] }
            if let items = schema["items"] as? [String: Any] {
                for (i, v) in a.enumerated() { problems += validate(v, against: items, at: "\(path)[\(i)]") }
            }
        case "string"?:
            guard let s = value as? String else { return ["\(path): expected a string"] }
            if let p = schema["pattern"] as? String, s.range(of: p, options: .regularExpression) == nil {
                problems.append("\(path): \(s) does not match \(p)")
            }
            if schema["format"] as? String == "date-time", ISO8601DateFormatter().date(from: s) == nil {
                problems.append("\(path): not a date-time")
            }
        case "integer"?:
            guard !(value is String), let n = value as? NSNumber, n.doubleValue == n.doubleValue.rounded() else {
                return ["\(path): expected an integer"]
            }
        case "number"?:
            guard !(value is String), value is NSNumber else { return ["\(path): expected a number"] }
        case "boolean"?:
            guard value as? Bool != nil, !(value is String) else { return ["\(path): expected a boolean"] }
        case nil:
            break
        case let t?:
            problems.append("\(path): unsupported type \(t)")
        }
        return problems
    }
}
