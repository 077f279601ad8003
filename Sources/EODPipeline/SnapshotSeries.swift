import EODCore
import EODOps
import EODSnapshot
import Foundation

/// The snapshot files of a folder, in business-date order.
public enum SnapshotSeries {
  public struct Entry: Sendable {
    public var path: String
    public var date: CivilDate
  }

  /// Reads each `*.sqlite` file's `snapshot_info.business_date`; two files of one date are an error.
  public static func scan(directory: String) throws(PipelineError) -> [Entry] {
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory).filter {
        $0.hasSuffix(".sqlite")
      }
    } catch {
      throw PipelineError(
        code: .badConfiguration,
        detail: "cannot list snapshots in \(directory): \(SystemErrorText.reason(error))", cause: error)
    }
    var entries: [Entry] = []
    var seen: [CivilDate: String] = [:]
    for name in names.sorted() {
      let path = directory + "/" + name
      let date: CivilDate
      do { date = try SnapshotReader(path: path).businessDate } catch { throw PipelineError(snapshot: error) }
      if let other = seen[date] {
        throw PipelineError(
          code: .badSnapshot, detail: "\(other) and \(path) are both for business date \(date)")
      }
      seen[date] = path
      entries.append(Entry(path: path, date: date))
    }
    return entries.sorted { $0.date < $1.date }
  }
}
