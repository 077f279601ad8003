import EODCore
import EODSnapshot
import Logging

/// A stage of the night (docs/architecture.md): the report, one outcome per firm selected, in the snapshot's
/// order, with a failed one for each firm whose id is invalid and, after them, each configured
/// firm the snapshot does not have.
enum ExtractReport {
  static func make(
    _ outcomes: [FirmOutcome], plan: NightPlan, options: JobOptions, logger: Logger
  ) -> RunReport {
    var reported = withInvalidFirms(outcomes, selected: plan.selected, logger: logger)
    for configured in plan.missing {
      let id = FirmIdentifier.displayed(configured)
      let error = PipelineError(
        code: .unknownFirm, firmID: id,
        detail: "firm \(id) is configured but not in snapshot \(options.snapshotPath); the other firms ran")
      var firmLogger = logger
      firmLogger[metadataKey: "firm"] = "\(id)"
      firmLogger.error("firm failed: \(error)")
      var outcome = FirmOutcome(firmID: id, directory: "")
      outcome.error = error
      reported.append(outcome)
    }
    return RunReport(
      runID: options.runID, businessDate: plan.date, snapshotPath: options.snapshotPath, firms: reported)
  }

  /// The outcomes of the valid firms with a failed one for each firm whose id is not a valid
  /// firm id, in the snapshot's order. Such a firm's id is shown escaped (``FirmIdentifier/displayed(_:)``)
  /// everywhere, in its outcome too: nothing is written or delivered for it.
  static func withInvalidFirms(_ outcomes: [FirmOutcome], selected: [Firm], logger: Logger) -> [FirmOutcome] {
    guard outcomes.count != selected.count else { return outcomes }
    var valid = outcomes.makeIterator()
    var merged: [FirmOutcome] = []
    for firm in selected {
      if let problem = FirmIdentifier.problem(firm.id) {
        let shown = FirmIdentifier.displayed(firm.id)
        var outcome = FirmOutcome(firmID: shown, directory: "")
        outcome.error = PipelineError(
          code: .invalidFirmID, firmID: shown,
          detail: "\(problem): the firm is not processed and nothing is written or delivered for it "
            + "(a firm id names directories and files: 1-64 of A-Z, a-z, 0-9, '-', '_')")
        var firmLogger = logger
        firmLogger[metadataKey: "firm"] = "\(shown)"
        firmLogger.error("firm failed: \(outcome.error.map(\.description) ?? "")")
        merged.append(outcome)
      } else if let next = valid.next() {
        merged.append(next)
      }
    }
    return merged
  }
}
