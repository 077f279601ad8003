import EODCore
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A holidays file that could not be used, in words: the path and why.
public struct CalendarFileError: Error, Sendable, CustomStringConvertible {
  public var path: String
  public var detail: String

  public init(path: String, detail: String) {
    self.path = path
    self.detail = detail
  }

  public var description: String { "holidays file \(path): \(detail)" }
}

extension BusinessCalendar {
  /// Reads and parses a holidays file (one `YYYY-MM-DD` a line, or iCalendar).
  public static func load(contentsOf path: String) throws(CalendarFileError) -> BusinessCalendar {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw CalendarFileError(path: path, detail: "does not exist")
    }
    guard !isDirectory.boolValue else {
      throw CalendarFileError(path: path, detail: "is a directory, not a file")
    }
    guard access(path, R_OK) == 0 else { throw CalendarFileError(path: path, detail: "permission denied") }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CalendarFileError(path: path, detail: "cannot be read")
    }
    guard data.count <= 4 << 20 else {
      throw CalendarFileError(path: path, detail: "is larger than 4 MiB; a holidays file is a few lines")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw CalendarFileError(path: path, detail: "is not UTF-8 text")
    }
    do { return try BusinessCalendar.parse(text, source: path) } catch {
      throw CalendarFileError(path: path, detail: "line \(error.line): \(error.detail)")
    }
  }
}

extension CalendarConfiguration {
  /// The configured calendar: the holidays file read now, or weekends only.
  public func load() throws(CalendarFileError) -> BusinessCalendar {
    guard let holidaysFile else { return .weekendsOnly }
    return try BusinessCalendar.load(contentsOf: holidaysFile)
  }

  /// The calendar date of `instant` in the configured time zone.
  public func civilDate(at instant: Date) -> CivilDate? {
    guard let zone = TimeZone(identifier: timeZone) else { return nil }
    let parts = Calendar(identifier: .gregorian).dateComponents(in: zone, from: instant)
    guard let y = parts.year, let m = parts.month, let d = parts.day else { return nil }
    return CivilDate(year: y, month: m, day: d)
  }
}
