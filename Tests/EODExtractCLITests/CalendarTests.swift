import Foundation
import Testing

/// Business dates through the built binary: the calendar, `--date previous-business-day` with
/// `EOD_NOW`, non-business nights, the gap check across holidays.
@Suite(.serialized) struct CalendarTests {
  static var root: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
  }
  /// The England and Wales bank holidays shipped in cron/.
  static var holidays: String { root.appendingPathComponent("cron/holidays-england-wales.txt").path }
  static var templates: String { root.appendingPathComponent("templates").path }

  /// Written out here, independently of the code under test: the bank holidays in the range.
  static let holidaysInRange: Set<String> = [
    "2026-12-25", "2026-12-28", "2027-01-01", "2027-03-26", "2027-03-29",
  ]

  static let utc: Calendar = {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
    return calendar
  }()

  static func date(_ text: String) throws -> Date {
    let parts = text.split(separator: "-").compactMap { Int($0) }
    return try #require(
      utc.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: 12)))
  }

  static func text(_ date: Date) -> String {
    let c = utc.dateComponents([.year, .month, .day], from: date)
    return String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
  }

  /// The calendar days from `first` to `last`, both included.
  static func days(_ first: String, _ last: String) throws -> [String] {
    var out: [String] = []
    var day = try date(first)
    let end = try date(last)
    while day <= end {
      out.append(text(day))
      day = day.addingTimeInterval(86_400)
    }
    return out
  }

  static func isBusinessDay(_ text: String) throws -> Bool {
    let weekday = utc.component(.weekday, from: try date(text))  // 1 Sunday … 7 Saturday
    return weekday != 1 && weekday != 7 && !holidaysInRange.contains(text)
  }

  /// `01:15` London time on `day`, as an instant (`EOD_NOW`).
  static func nightAt0115London(_ day: String) throws -> String {
    var london = Calendar(identifier: .gregorian)
    london.timeZone = try #require(TimeZone(identifier: "Europe/London"))
    let parts = day.split(separator: "-").compactMap { Int($0) }
    let instant = try #require(
      london.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: 1, minute: 15)))
    let formatter = ISO8601DateFormatter()
    return formatter.string(from: instant)
  }

  /// A folder with a configuration using the shipped calendar (London time) and one firm.
  static func writeConfig(_ dir: String, calendar: String? = nil) throws -> String {
    let config = dir + "/config.yaml"
    try FileManager.default.createDirectory(atPath: dir + "/snap", withIntermediateDirectories: true)
    let calendarLines =
      calendar
      ?? "calendar:\n  holidays: \(holidays)\n  time_zone: Europe/London\n"
    let yaml = """
      version: 1
      snapshot: \(dir)/snap/ledger-{date}.sqlite
      state_store: {path: \(dir)/state.sqlite, create: true}
      output_dir: \(dir)/out
      templates_dir: \(templates)
      compression: 1
      \(calendarLines)
      firms:
        - firm_id: FIRM001
          destination:
            local_dir: \(dir)/dest

      """
    try yaml.write(toFile: config, atomically: true, encoding: .utf8)
    return config
  }

  static func generate(_ dir: String, start: String, days: Int) throws {
    let generated = try Binary.run([
      "generate", dir + "/snap", "--start", start, "--days", "\(days)", "--accounts", "3", "--firms", "1",
      "--instruments", "4", "--positions", "2", "--calendar", holidays,
    ])
    try #require(generated.status == 0, "generate: \(generated.stderr)")
  }

  static func run(_ arguments: [String], now: String? = nil) throws -> Binary.Result {
    var environment = OpsJob.environment([:])
    environment["EOD_NOW"] = now
    let logs = NSTemporaryDirectory() + "eod-calendar-\(UUID().uuidString.prefix(8))"
    defer {
      try? FileManager.default.removeItem(atPath: logs + ".out")
      try? FileManager.default.removeItem(atPath: logs + ".err")
    }
    return try Launched(arguments, environment: environment, executable: Binary.path, logs: logs).wait()
  }

  /// The dates a run processed, from its summary lines (`YYYY-MM-DD FIRM001: positions=…`).
  static func processed(_ result: Binary.Result) -> [String] {
    result.stdout.split(separator: "\n").compactMap { line in
      line.contains(" FIRM001: positions=") ? String(line.prefix(10)) : nil
    }
  }

  /// A quarter and more of nights, 2026-11-29 to 2027-04-11, each started as the every-day
  /// schedule starts it (`run --config`, 01:15 London time via EOD_NOW): weekends, Christmas and
  /// the Boxing Day substitute, New Year's Day (a Friday), Good Friday and Easter Monday, the
  /// change to summer time. Every business date is processed exactly once, on the night after
  /// it; no night reports a gap; nothing runs for a weekend day or a holiday.
  @Test func aQuarterOfNights() async throws {
    // Minutes of child processes: on a thread of its own, not one of the few shared ones.
    try await offPool { try Self.quarterOfNights() }
  }

  static func quarterOfNights() throws {
    let dir = try Binary.scratch("calendar-quarter")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let config = try Self.writeConfig(dir)
    let nights = try Self.days("2026-11-29", "2027-04-11")
    let expected = try Self.days("2026-11-30", "2027-04-09").filter(Self.isBusinessDay)
    // The history starts on Friday 2026-11-27 (backfill creates the store); the generator skips
    // the calendar's holidays.
    try Self.generate(dir, start: "2026-11-27", days: expected.count + 1)
    let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/snap").filter {
      $0.hasSuffix(".sqlite")
    }.sorted()
    #expect(files == (["2026-11-27"] + expected).map { "ledger-\($0).sqlite" })
    let seeded = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/state.sqlite", "--to",
      "2026-11-27",
    ])
    try #require(seeded.status == 0, "backfill: \(seeded.stderr)")

    var done: [String] = []
    for night in nights {
      let result = try Self.run(["run", "--config", config], now: try Self.nightAt0115London(night))
      let yesterday = Self.text(try Self.date(night).addingTimeInterval(-86_400))
      #expect(result.status == 0, "night of \(night): \(result.stderr)")
      #expect(!result.stderr.contains("gap"), "night of \(night): \(result.stderr)")
      let dates = Self.processed(result)
      if try Self.isBusinessDay(yesterday) {
        #expect(dates == [yesterday], "night of \(night): \(result.stdout)")
      } else {
        #expect(dates.isEmpty, "night of \(night) ran \(dates)")
        #expect(result.stdout.contains("\(yesterday) is not a business day"), "night of \(night)")
        #expect(result.stderr.contains("\"level\":\"notice\""), "night of \(night): \(result.stderr)")
      }
      done += dates
    }
    #expect(done == expected)
    #expect(Set(done).count == done.count)
    let delivered = try FileManager.default.contentsOfDirectory(atPath: dir + "/dest/FIRM001").sorted()
    #expect(delivered == expected)
  }

  /// After Christmas and the Boxing Day substitute the next business date needs no --allow-gap;
  /// a business date that was not run is still refused, naming it.
  @Test func theGapCheckStepsOverHolidaysAndNamesAMissingBusinessDay() throws {
    let dir = try Binary.scratch("calendar-gap")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let config = try Self.writeConfig(dir)
    // 21, 22, 23, 24, 29, 30, 31 December 2026.
    try Self.generate(dir, start: "2026-12-21", days: 7)
    let seeded = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/state.sqlite", "--to",
      "2026-12-24",
      "--calendar", Self.holidays,
    ])
    try #require(seeded.status == 0, "backfill: \(seeded.stderr)")
    let afterHolidays = try Self.run(["run", "--config", config, "--date", "2026-12-29"])
    #expect(afterHolidays.status == 0, "\(afterHolidays.stderr)")
    #expect(Self.processed(afterHolidays) == ["2026-12-29"])
    let skipped = try Self.run(["run", "--config", config, "--date", "2026-12-31"])
    #expect(skipped.status == 2)
    #expect(skipped.stderr.contains("2026-12-30 has not been run"), "\(skipped.stderr)")
    // An explicit non-business date does nothing and says so.
    let holiday = try Self.run(["run", "--config", config, "--date", "2026-12-25"])
    #expect(holiday.status == 0, "\(holiday.stderr)")
    #expect(holiday.stdout.contains("2026-12-25 is not a business day (a holiday in the calendar)"))
    #expect(Self.processed(holiday).isEmpty)
  }

  /// backfill --calendar: a business day missing from the folder is a gap, with its date.
  @Test func backfillWithACalendarNamesAMissingSnapshot() throws {
    let dir = try Binary.scratch("calendar-backfill")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.generate(dir, start: "2026-12-21", days: 7)
    try FileManager.default.removeItem(atPath: dir + "/snap/ledger-2026-12-30.sqlite")
    let result = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/state.sqlite",
      "--calendar", Self.holidays,
    ])
    #expect(result.status == 2, "\(result.stdout)")
    #expect(result.stderr.contains("2026-12-30 has not been run"), "\(result.stderr)")
    #expect(result.stdout.contains("2026-12-29"))
  }

  /// "Yesterday" is taken in the configured time zone: 23:30 UTC on 6 April 2027 is already
  /// 7 April in London (summer time).
  @Test func previousBusinessDayIsTakenInTheConfiguredTimeZone() throws {
    let dir = try Binary.scratch("calendar-zone")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let london = try Self.writeConfig(dir)
    let result = try Self.run(
      ["check-config", london, "--date", "previous-business-day"], now: "2027-04-06T23:30:00Z")
    #expect(result.stdout.contains("Business date 2027-04-06"), "\(result.stdout)")
    let utcDir = dir + "/utc"
    try FileManager.default.createDirectory(atPath: utcDir, withIntermediateDirectories: true)
    let utc = try Self.writeConfig(utcDir, calendar: "calendar:\n  holidays: \(Self.holidays)\n")
    let inUTC = try Self.run(
      ["check-config", utc, "--date", "previous-business-day"], now: "2027-04-06T23:30:00Z")
    #expect(inUTC.stdout.contains("Business date 2027-04-05"), "\(inUTC.stdout)")
  }

  /// A date outside the years the holidays file lists is warned about (it would silently have
  /// no holidays); a malformed EOD_NOW is refused rather than replaced by the real time.
  @Test func aYearMissingFromTheFileIsWarnedAboutAndABadNowRefused() throws {
    let dir = try Binary.scratch("calendar-years")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let config = try Self.writeConfig(dir)
    let outside = try Self.run(["run", "--config", config], now: "2029-01-07T01:15:00Z")
    #expect(outside.status == 0, "\(outside.stderr)")
    #expect(outside.stderr.contains("covers 2025-2028, not 2029"), "\(outside.stderr)")
    #expect(outside.stdout.contains("2029-01-06 is not a business day (a Saturday)"))
    // check-config warns when the current year is missing from the file.
    let oldFile = dir + "/holidays-2020.txt"
    try "2020-12-25\n".write(toFile: oldFile, atomically: true, encoding: .utf8)
    let stale = try Self.writeConfig(dir, calendar: "calendar:\n  holidays: \(oldFile)\n")
    let checked = try Binary.run(["check-config", stale])
    #expect(checked.status == 0, "\(checked.stdout)")
    #expect(checked.stdout.contains("warning: calendar.holidays"), "\(checked.stdout)")
    #expect(checked.stdout.contains("covers 2020-2020, not this year"), "\(checked.stdout)")
    // backfill --calendar warns for each year of its dates the file does not cover.
    let generated = try Binary.run([
      "generate", dir + "/snap", "--days", "1", "--accounts", "3", "--firms", "1", "--instruments", "4",
    ])
    try #require(generated.status == 0)
    let backfilled = try Binary.run([
      "backfill", "--init-state", "--snapshots", dir + "/snap", "--state", dir + "/backfill.sqlite",
      "--calendar", oldFile,
    ])
    #expect(backfilled.status == 0, "\(backfilled.stderr)")
    #expect(backfilled.stderr.contains("does not cover 2026"), "\(backfilled.stderr)")
    let bad = try Self.run(["run", "--config", config], now: "next tuesday")
    #expect(bad.status == 2)
    #expect(bad.stderr.contains("EOD_NOW 'next tuesday' is not an ISO 8601 instant"), "\(bad.stderr)")
    // Every command that reckons a date from now refuses it too, and so does a run without a
    // configuration (its idempotency window and manifests take the same clock).
    for arguments in [
      ["plan", "--config", config, "--shards", "2"], ["finalize", "--config", config],
      [
        "run", "--snapshot", dir + "/snap/ledger-2026-10-01.sqlite", "--state", dir + "/bad-now.sqlite",
        "--init-state", "--out", dir + "/bad-now-out",
      ],
    ] {
      let refused = try Self.run(arguments, now: "next tuesday")
      #expect(refused.status == 2, "\(arguments[0]): \(refused.stderr)")
      #expect(
        refused.stderr.contains("EOD_NOW 'next tuesday' is not an ISO 8601 instant"), "\(refused.stderr)")
    }
    #expect(!FileManager.default.fileExists(atPath: dir + "/bad-now-out"))
    let badFile = dir + "/bad-holidays.txt"
    try "2026-12-25\nChristmas\n".write(toFile: badFile, atomically: true, encoding: .utf8)
    let broken = try Self.writeConfig(dir, calendar: "calendar:\n  holidays: \(badFile)\n")
    let refused = try Binary.run(["check-config", broken])
    #expect(refused.status == 2)
    #expect(
      refused.stdout.contains("calendar.holidays") && refused.stdout.contains("line 2"), "\(refused.stdout)")
  }
}
