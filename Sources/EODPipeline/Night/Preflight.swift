import EODCore
import EODRender
import EODSnapshot
import EODState
import Logging

/// What the night will do, decided before any file is written: the firms (selected, with invalid
/// ids and configured firms missing from the snapshot set aside), their templates, the gaps
/// carried, and whether the history can be written during the pass.
struct NightPlan {
  let date: CivilDate
  let reference: ReferenceData
  /// The firms selected, in the snapshot's order, invalid ids included (for the report).
  let selected: [Firm]
  /// The firms the pass processes: the selected ones with a valid id.
  let firms: [Firm]
  /// Configured firms the snapshot does not have (each fails alone).
  let missing: [String]
  let templates: [String: [(ExtractKind, Template)]]
  /// Per firm, the last stored date when performance is carried across a gap (`--allow-gap`).
  let gaps: [String: CivilDate]
  /// No selected firm has run this date or a later one: the nightly case, whose history can be
  /// written during the pass (the pass also checks that no record of the date is stored).
  let writeDuringPass: Bool
}

/// A stage of the night (docs/architecture.md): the checks made before anything is written. Throws (after the
/// snapshot's verdict, which comes first) when nothing can be done: an unknown firm asked for on
/// the command line, a template that cannot be used, a gap in the history, a state store that
/// cannot be read.
enum Preflight {
  static func run(
    _ options: JobOptions, snapshot: OpenedSnapshot, store: any StateStoring
  ) throws(PipelineError) -> NightPlan {
    let reader = snapshot.reader
    let date = reader.businessDate
    let allFirms: [Firm]
    let reference: ReferenceData
    do {
      allFirms = try reader.firms()
      reference = try reader.referenceData()
    } catch {
      throw snapshot.refusal() ?? PipelineError(snapshot: error)
    }
    let (selected, missing) = try selectFirms(allFirms, options: options, snapshot: snapshot)
    // A firm id names directories and files: one that is not 1-64 of [A-Za-z0-9_-] fails its
    // firm alone, before any path is made from it (its accounts are skipped by the pass).
    let firms = selected.filter { FirmIdentifier.isValid($0.id) }
    let templates = try checkTemplates(firms, options: options, snapshot: snapshot)
    // Before anything of the date is read or written: a second writer of a firm's date stops here.
    do { try store.lockWriters(firmIDs: firms.map(\.id), date: date, runID: options.runID) } catch {
      throw PipelineError(state: error)
    }
    let (gaps, writeDuringPass) = try checkGaps(
      firms, date: date, options: options, snapshot: snapshot, store: store)
    return NightPlan(
      date: date, reference: reference, selected: selected, firms: firms, missing: missing,
      templates: templates, gaps: gaps, writeDuringPass: writeDuringPass)
  }

  /// The firms asked for, in the snapshot's order, and the configured ones it does not have. An
  /// unknown firm asked for on the command line ends the run.
  static func selectFirms(
    _ allFirms: [Firm], options: JobOptions, snapshot: OpenedSnapshot
  ) throws(PipelineError) -> (selected: [Firm], missing: [String]) {
    guard !options.firmIDs.isEmpty else { return (allFirms, []) }
    var missing: [String] = []
    let known = Set(allFirms.map(\.id))
    for id in options.firmIDs where !known.contains(id) {
      if options.missingFirmsFailAlone {
        missing.append(id)
        continue
      }
      if let refused = snapshot.refusal() { throw refused }
      throw PipelineError(
        code: .unknownFirm, firmID: FirmIdentifier.displayed(id),
        detail: "firm \(FirmIdentifier.displayed(id)) is not in snapshot \(options.snapshotPath)")
    }
    let wanted = Set(options.firmIDs)
    return (allFirms.filter { wanted.contains($0.id) }, missing)
  }

  /// Every template, checked now, before any file is written.
  static func checkTemplates(
    _ firms: [Firm], options: JobOptions, snapshot: OpenedSnapshot
  ) throws(PipelineError) -> [String: [(ExtractKind, Template)]] {
    var templates: [String: [(ExtractKind, Template)]] = [:]
    for firm in firms {
      let settings = options.settings(for: firm.id)
      var list: [(ExtractKind, Template)] = []
      for kind in ExtractKind.allCases where settings.extracts?.contains(kind) ?? true {
        do {
          var template = try options.templates.template(kind, version: settings.templateVersions[kind] ?? 1)
          if settings.formulaSafe { template.formulaSafe = true }
          list.append((kind, template))
        } catch {
          throw snapshot.refusal() ?? PipelineError(template: error)
        }
      }
      templates[firm.id] = list
    }
    return templates
  }

  /// Gaps in the history, refused before anything is written (or carried, with `allowGap`), and
  /// whether this is the nightly case (no firm has run this date or a later one).
  static func checkGaps(
    _ firms: [Firm], date: CivilDate, options: JobOptions, snapshot: OpenedSnapshot, store: any StateStoring
  ) throws(PipelineError) -> (gaps: [String: CivilDate], writeDuringPass: Bool) {
    var gaps: [String: CivilDate] = [:]
    var writeDuringPass = true
    for firm in firms {
      let latest: CivilDate?
      do { latest = try store.latestRunDate(firmID: firm.id) } catch {
        throw snapshot.refusal() ?? PipelineError(state: error)
      }
      if let latest, latest >= date { writeDuringPass = false }
      guard let latest, latest < date else { continue }
      let previous = options.previousBusinessDate ?? options.calendar.previousBusinessDay(before: date)
      if latest < previous {
        let missing = options.calendar.nextBusinessDay(after: latest)
        if !options.allowGap {
          if let refused = snapshot.refusal() { throw refused }
          throw PipelineError(
            code: .historyGap, firmID: firm.id,
            detail:
              "the history of \(firm.id) ends at \(latest) but \(date) follows \(previous): \(missing) has not been run. "
              + "Run the missing dates first (eod-extract backfill), or pass --allow-gap to carry performance across the gap"
          )
        }
        gaps[firm.id] = latest
      }
    }
    return (gaps, writeDuringPass)
  }
}
