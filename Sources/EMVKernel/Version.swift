/// tapd's version, shown by `tapd --version` and `tapctl --version`. (Moves to TapdCore when that module exists.)
public enum TapdVersion {
    public static let string = "0.1.0-dev"
}
