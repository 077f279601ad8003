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
}
