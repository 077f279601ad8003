import Foundation

/// Foundation's file errors in words. `NSCocoaErrorDomain Code=260` or "error 512" mean nothing to
/// an operator: every error shown to a person goes through ``words(_:)``, which names the path and
/// says what the operating system said ("no such file or directory", "permission denied", "is not
/// a directory").
public enum SystemErrorText {
  /// The error in words: a Foundation file error as the path and the system's reason; any other
  /// error as its own description.
  public static func words(_ error: any Error) -> String {
    let bridged = error as NSError
    if bridged.domain == "NSURLErrorDomain" { return networkReason(bridged.code) }
    guard bridged.domain == NSCocoaErrorDomain || bridged.domain == NSPOSIXErrorDomain else {
      return "\(error)"
    }
    let path =
      (bridged.userInfo[NSFilePathErrorKey] as? String)
      ?? (bridged.userInfo[NSURLErrorKey] as? URL)?.path
    let reason = reason(bridged)
    return path.map { "\($0): \(reason)" } ?? reason
  }

  /// The reason alone, without the path.
  public static func reason(_ error: any Error) -> String {
    let bridged = error as NSError
    if bridged.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(bridged.code))) }
    if let underlying = bridged.userInfo[NSUnderlyingErrorKey] as? any Error,
      (underlying as NSError).domain == NSPOSIXErrorDomain
    {
      return String(cString: strerror(Int32((underlying as NSError).code)))
    }
    guard bridged.domain == NSCocoaErrorDomain else { return "\(error)" }
    switch bridged.code {
    case CocoaError.fileNoSuchFile.rawValue, CocoaError.fileReadNoSuchFile.rawValue:
      return "no such file or directory"
    case CocoaError.fileReadNoPermission.rawValue, CocoaError.fileWriteNoPermission.rawValue,
      CocoaError.fileLocking.rawValue:
      return "permission denied"
    case CocoaError.fileWriteFileExists.rawValue: return "already exists"
    case CocoaError.fileWriteOutOfSpace.rawValue: return "no space left on the device"
    case CocoaError.fileWriteVolumeReadOnly.rawValue: return "read-only file system"
    case CocoaError.fileReadInvalidFileName.rawValue, CocoaError.fileWriteInvalidFileName.rawValue:
      return "invalid file name"
    case CocoaError.fileReadCorruptFile.rawValue: return "the file is damaged or not in the expected format"
    case CocoaError.fileReadTooLarge.rawValue: return "the file is too large"
    case CocoaError.fileReadInapplicableStringEncoding.rawValue,
      CocoaError.fileWriteInapplicableStringEncoding
      .rawValue:
      return "the text is not in the expected encoding"
    default:
      return bridged.code >= 512 && bridged.code < 640 ? "cannot write" : "cannot read"
    }
  }

  /// A URL-loading failure (webhooks) in words, by its `URLError` code.
  static func networkReason(_ code: Int) -> String {
    switch code {
    case -1001: return "timed out"
    case -1003: return "host name not found"
    case -1004: return "connection refused (cannot connect to the host)"
    case -1005: return "the connection was lost"
    case -1006: return "DNS lookup failed"
    case -1009: return "no network"
    case -1000, -1002: return "bad or unsupported URL"
    case -1200: return "TLS handshake failed"
    case -1201, -1202, -1203, -1204: return "the server's TLS certificate is not trusted"
    case -1206: return "the server asked for a client certificate"
    case -999: return "cancelled"
    default: return "network error (URL error \(code))"
    }
  }
}
