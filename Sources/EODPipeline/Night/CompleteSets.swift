import Logging

/// A stage of the night (docs/architecture.md): each firm's set completed, in the snapshot's order. Its files (already
/// compressed by the pool while the snapshot was read) are finished under temporary names, the
/// snapshot's verdict is waited for, then its history is recorded in the night's transaction and
/// its files renamed into place with the manifest last (``FirmRun/finish(gate:reader:history:)``).
/// A firm that fails here fails alone: its temporary files are removed and its rows taken out.
enum CompleteSets {
  static func run(
    _ pass: SnapshotPass.Pass, history: NightHistory, snapshot: OpenedSnapshot, options: JobOptions
  ) -> [FirmOutcome] {
    var outcomes: [FirmOutcome] = []
    for run in pass.runs {
      let outcome = run.finish(gate: snapshot.gate, reader: snapshot.reader, history: history)
      outcomes.append(outcome)
      if let error = outcome.error, error.code != .badSnapshot { run.logger.error("firm failed: \(error)") }
      options.progress?(outcomes.count, pass.runs.count, outcome)
    }
    return outcomes
  }
}
