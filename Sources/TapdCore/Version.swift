/// tapd's version, shown by `tapd --version`, `tapctl --version`, `GET /v1/status` and the demo.
public enum TapdVersion {
    /// The product version (semantic versioning; "-dev" until a release is tagged).
    public static let string = "0.1.0-dev"
}
