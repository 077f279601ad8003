import EODCompression
import EODCore
import EODOps
import EODRender
import EODSnapshot
import EODState
import Foundation
import Logging

/// The extract part of a night over one snapshot, as stages (Sources/EODPipeline/Night/; the
/// whole night, delivery and notices included, is ``NightlyRun``).
public enum ExtractJob {
  /// Runs the snapshot. Throws only when nothing can be done (bad snapshot, unknown firm, gap);
  /// one firm's failure is in its ``FirmOutcome`` and does not stop the others.
  public static func run(_ options: JobOptions, store: any StateStoring, logger: Logger) throws(PipelineError)
    -> RunReport
  {
    var logger = logger
    logger[metadataKey: "run_id"] = "\(options.runID)"
    let snapshot = try OpenedSnapshot.open(options, logger: logger)
    logger[metadataKey: "date"] = "\(snapshot.reader.businessDate)"
    let plan = try Preflight.run(options, snapshot: snapshot, store: store)
    let outcomes = try SnapshotPass.run(
      plan, snapshot: snapshot, options: options, store: store, logger: logger
    ) {
      pass throws(PipelineError) in
      let history = NightHistory(pass: pass, store: store, date: plan.date, logger: logger)
      defer { history.rollback() }
      let completed = CompleteSets.run(pass, history: history, snapshot: snapshot, options: options)
      let outcomes = CommitHistory.run(
        history, outcomes: completed, pass: pass, snapshot: snapshot,
        sharedStateStore: options.sharedStateStore, logger: logger)
      if let refused = snapshot.refusal() {
        // Only the directories this run made (and OUT if it made it) go, if empty.
        if case .success(let tree) = pass.tree { tree.removeCreatedDirectories() }
        throw refused
      }
      return outcomes
    }
    return ExtractReport.make(outcomes, plan: plan, options: options, logger: logger)
  }

  static func fileName(
    firmID: String, kind: String, date: CivilDate, format: ExtractFormat, encoding: OutputEncoding
  )
    -> String
  {
    let suffix: String
    if case .none = encoding { suffix = "" } else { suffix = ".gz" }
    return "\(firmID)_\(kind)_\(date.compact).\(format.fileExtension)\(suffix)"
  }
}
