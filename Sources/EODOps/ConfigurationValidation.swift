import Crypto
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The result of checking a configuration file: the configuration if it parsed, and every
/// problem found, structural and against this machine.
public struct ConfigurationCheck: Sendable {
  public var configuration: JobConfiguration?
  public var problems: [ConfigurationProblem]
  /// True when there is no error (warnings allowed).
  public var isValid: Bool { configuration != nil && !problems.contains { $0.severity == .error } }
}

extension JobConfiguration {
  /// Loads a file and validates it offline; never throws. For `eod-extract check-config FILE`.
  public static func check(
    path: String, environment: [String: String] = ProcessInfo.processInfo.environment,
    vocabulary: ConfigurationVocabulary = .standard, templatesDirectory: String? = nil
  ) -> ConfigurationCheck {
    do {
      let configuration = try load(contentsOf: path, vocabulary: vocabulary)
      let problems =
        configuration.parseWarnings
        + configuration.validate(environment: environment, templatesDirectory: templatesDirectory)
      return ConfigurationCheck(configuration: configuration, problems: problems)
    } catch {
      let problems =
        error.problems.isEmpty ? [ConfigurationProblem(path: "", message: error.detail)] : error.problems
      return ConfigurationCheck(configuration: nil, problems: problems)
    }
  }

  /// Checks, offline, what depends on this machine: directories and files exist with usable
  /// permissions, private keys and secret files are not group/other-readable, keys are of a
  /// type libssh2 can use, `known_hosts` lists each SFTP host (before any line libssh2 cannot
  /// parse), secret environment variables are set, template files exist. Returns every problem.
  ///
  /// - Parameter templatesDirectory: Used when the configuration sets no `templates_dir`.
  public func validate(
    environment: [String: String] = ProcessInfo.processInfo.environment, templatesDirectory: String? = nil
  ) -> [ConfigurationProblem] {
    var checker = EnvironmentChecker(lines: sourceLines, environment: environment)
    checker.directoryOfPattern(snapshotPattern, "snapshot", what: "snapshot directory")
    if JobConfiguration.isPostgresURL(stateStore) {
      // A database: reached (and its schema checked) when the run opens it.
    } else if FileSystem.isDirectory(stateStore) {
      checker.problem("state_store", "\(stateStore) is a directory; give the state store file")
    }
    if !JobConfiguration.isPostgresURL(stateStore) {
      checker.parentWritable(stateStore, "state_store", what: "state store")
    }
    if !stateStoreCreate, !JobConfiguration.isPostgresURL(stateStore),
      !FileManager.default.fileExists(atPath: stateStore)
    {
      checker.problem(
        "state_store",
        "\(stateStore) does not exist and state_store.create is not true: the run will stop (exit 2); "
          + "for the first night set state_store: {path: ..., create: true} or run once with --init-state",
        severity: .warning)
    }
    checker.directoryCreatable(outputDirectory, "output_dir")
    if let metricsFile { checker.parentWritable(metricsFile, "metrics_file", what: "metrics file") }
    if let calendar {
      do {
        let loaded = try calendar.load()
        // The current year missing from the file would silently have no holidays.
        if calendar.holidaysFile != nil, let today = calendar.civilDate(at: Date()), !loaded.covers(today) {
          let years = loaded.coveredYears.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "no year"
          checker.problem(
            "calendar.holidays",
            "the holidays file covers \(years), not this year (\(today.year)): only weekends would be non-business days",
            severity: .warning)
        }
      } catch {
        checker.problem("calendar.holidays", "\(error)")
      }
    }

    let templates = self.templatesDirectory ?? templatesDirectory
    if let templates {
      if !FileSystem.isDirectory(templates) {
        checker.problem(
          "templates_dir", "templates directory \(templates) does not exist or is not a directory")
      } else {
        for (index, firm) in firms.enumerated() {
          for (name, version) in firm.orderedExtracts {
            let file = "\(templates)/\(name).v\(version).tmpl"
            if !FileManager.default.isReadableFile(atPath: file) {
              checker.problem(
                "firms[\(index)].extracts.\(name)", "no template \(name).v\(version) (\(file) missing)")
            }
          }
        }
      }
    } else {
      checker.problem(
        "templates_dir", "not set: the built-in templates are used and template versions were not checked",
        severity: .warning)
    }

    for (index, endpoint) in webhooks.endpoints.enumerated() {
      checker.secret(endpoint.secret, "webhooks.endpoints[\(index)]", prefix: "secret")
      // The address rule the run applies, checked here too (a host name is looked up).
      if let host = URL(string: endpoint.url)?.host, !host.isEmpty,
        case .failure(let refusal) = webhooks.addresses.check(host: host)
      {
        // A name that does not resolve here may resolve where the job runs: a warning.
        checker.problem(
          "webhooks.endpoints[\(index)].url", refusal.description,
          severity: refusal.unresolved ? .warning : .error)
      }
    }

    var destinations: [String: Int] = [:]
    for (index, firm) in firms.enumerated() {
      let path = "firms[\(index)].destination"
      switch firm.destination {
      case .local(let directory):
        checker.directoryOfPattern(
          directory, path + ".local_dir", what: "destination directory", creatable: true)
      case .sftp(let sftp):
        checker.sftp(sftp, path + ".sftp")
      }
      let key = firm.destination.resolved(firmID: firm.firmID, businessDate: "{date}").description
      if let other = destinations[key] {
        checker.problem(
          path, "firms[\(other)] delivers to the same destination \(key); their files would mix",
          severity: .warning)
      } else {
        destinations[key] = index
      }
    }
    if allFirms, let defaultDestination, case .local(let directory) = defaultDestination {
      checker.directoryOfPattern(
        directory, "default_destination.local_dir", what: "default destination directory", creatable: true)
    }
    return checker.problems
  }
}
