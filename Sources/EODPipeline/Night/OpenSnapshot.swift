import EODSnapshot
import Foundation
import Logging

/// A stage of the night (docs/architecture.md): the snapshot opened twice (the pass's connection and the syntax check's),
/// the syntax check started on a thread of its own, and the verdict that gates every rename and
/// the commit of the history.
///
/// Both connections are opened first, each in one read transaction held for the run, and must
/// find the file as the first found it; each checks it again when its reading is done, before
/// anything is put in place (a file changed meanwhile is refused).
///
/// Every value's syntax is checked on the check's thread while the firms are rendered to
/// temporary files; nothing is renamed into place or recorded until it has passed. When the pass
/// reads every row (all firms, or several), it checks the tables it reads in full as it goes
/// (part 1 of the verdict) and the thread checks the others (part 0). Part 2: the file unchanged
/// after the pass.
final class OpenedSnapshot {
  /// The pass's connection.
  let reader: SnapshotReader
  /// The firms the pass reads (nil: every firm).
  let passFirms: Set<String>?
  /// Whether the pass checks the tables it reads in full (every firm, or several).
  let checkedInPass: Bool
  /// The tables the pass checks itself (left out of the separate check).
  let skipped: Set<String>
  let gate: ValidationGate

  /// Opens both connections and starts the syntax check. Throws a refused snapshot.
  static func open(_ options: JobOptions, logger: Logger) throws(PipelineError) -> OpenedSnapshot {
    let reader: SnapshotReader
    let validation: ValidationReader
    do {
      reader = try SnapshotReader(path: options.snapshotPath)
      validation = ValidationReader(
        try SnapshotReader(path: options.snapshotPath, expecting: reader.identity))
    } catch {
      throw PipelineError(snapshot: error)
    }
    let opened = OpenedSnapshot(reader: reader, firmIDs: options.firmIDs)
    let skipped = opened.skipped
    let gate = opened.gate
    let validationLogger = logger
    let snapshotPath = options.snapshotPath
    Thread.detachNewThread {
      let started = Date()
      do throws(SnapshotError) {
        try validation.reader.validate(skipping: skipped)
        try validation.reader.verifyUnchanged()
        gate.finish(part: 0, nil)
        validationLogger.info(
          "snapshot validated",
          metadata: [
            "step": "validate", "snapshot": "\(snapshotPath)",
            "duration_ms": .stringConvertible(Int(Date().timeIntervalSince(started) * 1000)),
            "checked_in_pass": "\(skipped.sorted().joined(separator: ","))",
          ])
      } catch {
        gate.finish(part: 0, error)
      }
    }
    return opened
  }

  private init(reader: SnapshotReader, firmIDs: [String]) {
    self.reader = reader
    passFirms = firmIDs.isEmpty ? nil : Set(firmIDs)
    checkedInPass = AccountCursor.checksRows(firmIDs: passFirms)
    skipped = checkedInPass ? SnapshotReader.checkedWhileRead : []
    gate = ValidationGate(parts: checkedInPass ? 3 : 2)
  }

  /// The tables the pass did not get to check, checked here (an early exit, a failed read).
  func checkSkippedTables() -> SnapshotError? {
    let others = Set(SnapshotSchema.tables.map(\.name)).subtracting(skipped)
    do throws(SnapshotError) {
      try reader.validate(skipping: others)
      return nil
    } catch {
      return error
    }
  }

  func unchanged() -> SnapshotError? {
    do throws(SnapshotError) {
      try reader.verifyUnchanged()
      return nil
    } catch {
      return error
    }
  }

  /// The snapshot's verdict, waited for (on every early exit it comes first): the parts the pass
  /// did not finish are finished here.
  func refusal() -> PipelineError? {
    if checkedInPass && !gate.isFinished(part: 1) { gate.finish(part: 1, checkSkippedTables()) }
    if !gate.isFinished(part: 2) { gate.finish(part: 2, unchanged()) }
    return gate.wait().map { PipelineError(snapshot: $0) }
  }
}

/// The syntax-check thread's own connection to the snapshot.
/// `@unchecked Sendable`: a SQLite connection (C handle) handed to the syntax-check thread, used by it alone.
final class ValidationReader: @unchecked Sendable {
  let reader: SnapshotReader
  init(_ reader: SnapshotReader) { self.reader = reader }
}
