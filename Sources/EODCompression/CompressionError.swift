#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A typed compression error: what failed, on which file, at which step, and the underlying
/// zlib or operating-system code and message.
///
/// ```
/// write-failed: writing block 12 (251733 bytes) (file: /out/positions.csv.gz): No space left on device (errno 28)
/// ```
public struct CompressionError: Error, CustomStringConvertible, Sendable {
  /// The kind of failure. Extensible: new codes can be added without breaking callers that switch
  /// on the ones they know.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// The code's stable name, kebab-case like every error code of the job (`write-failed`).
    public let rawValue: String

    /// Makes a code with the given stable name.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }

    /// A configuration value (level, block size, worker count) is out of range.
    public static let invalidConfiguration = Code("invalid-configuration")
    /// The output file could not be created or opened.
    public static let openFailed = Code("open-failed")
    /// Writing to the output file failed.
    public static let writeFailed = Code("write-failed")
    /// `fsync` of the output file failed.
    public static let syncFailed = Code("sync-failed")
    /// `close` of the output file failed.
    public static let closeFailed = Code("close-failed")
    /// Reading an input file failed.
    public static let readFailed = Code("read-failed")
    /// zlib refused to initialise or failed while compressing or decompressing.
    public static let zlibFailed = Code("zlib-failed")
    /// The compressed input is not valid gzip data (bad header, bad CRC, bad length, garbage).
    public static let corruptInput = Code("corrupt-input")
    /// The compressed input ended before a gzip member was complete (or held no member at all).
    public static let truncatedInput = Code("truncated-input")
    /// The writer was used after `finish()` or `abandon()`, or after an earlier failure.
    public static let writerClosed = Code("writer-closed")
  }

  /// The kind of failure.
  public var code: Code
  /// The step that failed, in words: "opening output file for writing", "compressing block 3", …
  public var step: String
  /// The file involved, when there is one.
  public var path: String?
  /// zlib's return code, when zlib reported the failure.
  public var zlibCode: Int32?
  /// zlib's message (`strm->msg` or `zError`), when zlib reported the failure.
  public var zlibMessage: String?
  /// The `errno` value, when the operating system reported the failure.
  public var systemErrno: Int32?

  /// Makes an error. Prefer the specific fields over folding details into `step`.
  public init(
    code: Code, step: String, path: String? = nil, zlibCode: Int32? = nil, zlibMessage: String? = nil,
    systemErrno: Int32? = nil
  ) {
    self.code = code
    self.step = step
    self.path = path
    self.zlibCode = zlibCode
    self.zlibMessage = zlibMessage
    self.systemErrno = systemErrno
  }

  public var description: String {
    var text = "\(code): \(step)"
    if let path { text += " (file: \(path))" }
    if let zlibCode {
      text += ": zlib error \(zlibCode)"
      if let zlibMessage { text += " (\(zlibMessage))" }
    } else if let zlibMessage {
      text += ": \(zlibMessage)"
    }
    if let systemErrno {
      text += ": \(Self.systemMessage(systemErrno)) (errno \(systemErrno))"
    }
    return text
  }

  static func systemMessage(_ code: Int32) -> String {
    guard let message = strerror(code) else { return "system error" }
    return String(cString: message)
  }
}
