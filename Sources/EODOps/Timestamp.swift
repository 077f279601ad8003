import Foundation

/// RFC 3339 in UTC: how every time the job writes is written (manifests, run and delivery
/// records, metrics, log lines, webhook events). The time is truncated, not rounded, as
/// Foundation's `ISO8601DateFormatter` writes it; no formatter is made.
public enum Timestamp {
  /// `2025-01-02T01:15:00Z`, or with `milliseconds` `2025-01-02T01:15:00.123Z`.
  public static func rfc3339(_ date: Date, milliseconds: Bool = false) -> String {
    let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    var seconds = time_t(millis / 1000 - (millis % 1000 < 0 ? 1 : 0))
    let fraction = ((millis % 1000) + 1000) % 1000
    var parts = tm()
    gmtime_r(&seconds, &parts)
    let text = String(
      format: "%04ld-%02ld-%02ldT%02ld:%02ld:%02ld", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    return milliseconds ? text + String(format: ".%03ldZ", Int(fraction)) : text + "Z"
  }
}
