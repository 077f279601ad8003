import EODCore
import EODDelivery
import EODOps
import EODRender
import Foundation
import Logging

/// What a caller asks of a night, as values: the command line parses its arguments into one, a
/// program or a test makes one directly, and ``NightlyRun/run(_:)-(NightRequest)`` does the rest
/// (``PrepareNight``, the night's stages, a shard's finish). The library reads nothing of the
/// command line; of the environment only what a request names (a passphrase's variable,
/// ``Delivery/sftp(url:identityFile:knownHosts:passphrase:trustOnFirstUse:createDirectories:)``)
/// and, for ``workerCount``'s default, the number of cores.
public struct NightRequest {
  /// Where the night's inputs and settings come from.
  public enum Source {
    /// A job configuration file (the nightly entry point); `date` is the business date's form
    /// (``RunPlan/dateForms``; nil: the previous business day).
    case configuration(path: String, date: String?)
    /// Everything given: the snapshot (its own date), the state store (a file or a `postgres://`
    /// URL), the output directory, every firm's settings, and a destination for every firm (nil:
    /// nothing is delivered).
    case paths(
      snapshot: String, state: String, outputDirectory: String, settings: FirmSettings,
      destination: Delivery?)
  }

  /// Where a night from ``Source/paths(snapshot:state:outputDirectory:settings:destination:)``
  /// delivers every firm.
  public enum Delivery {
    /// An SFTP server, `sftp://USER@HOST[:PORT]/PATH` (files go to PATH/<firm_id>/<date>/), with
    /// the private key (ed25519 or ECDSA), the known_hosts file holding the server's key, the
    /// key's passphrase if any, whether an unknown host key is accepted and recorded (trust on
    /// first use, never the default) and whether missing remote directories are created.
    case sftp(
      url: String, identityFile: String, knownHosts: String, passphrase: SecretSource?, trustOnFirstUse: Bool,
      createDirectories: Bool)
    /// A destination the caller made.
    case destination(any Destination)
  }

  public var source: Source
  /// The firms asked for (empty: the configuration's, or every firm of the snapshot).
  public var firms: [String] = []
  /// The templates directory asked for; nil: the configuration's `templates_dir`, else
  /// ``standardTemplatesDirectory``.
  public var templatesDirectory: String?
  /// Where the standard templates are, asked only when neither ``templatesDirectory`` nor the
  /// configuration names a directory (it throws when there are none).
  public var standardTemplatesDirectory: () throws -> String
  /// Carry performance across a gap in the history instead of refusing the date.
  public var allowGap = false
  /// Create a missing state store (`--init-state`; with a configuration, `state_store.create`
  /// does too). Without it a missing store stops the night naming its path.
  public var createState = false
  /// Run only this shard of the date's stored plan (made and stored first if there is none):
  /// needs a configuration.
  public var shard: ShardSelection?
  /// With ``shard``: the shard that records the night's last finish finalizes the night.
  public var finalizeIfLast = false
  /// Send again what was delivered already (and re-issue a restatement's later dates).
  public var resend = false
  /// An on-demand request's idempotency key (a UUIDv4): the same key within 72 hours returns the
  /// first result without re-delivering; used again for another request (other firms, snapshot or
  /// settings), it is refused.
  public var idempotencyKey: String?
  /// Compression threads, shared by every file of the night (default: the number of cores).
  public var workerCount = ProcessInfo.processInfo.activeProcessorCount
  /// The modes of what the night creates; nil: the configuration's, else 0640/0750.
  public var fileMode: UInt32?
  public var directoryMode: UInt32?
  /// The instant the night takes as now (ISO 8601, such as `2026-12-02T01:15:00Z`; the command
  /// line's `EOD_NOW`): the business date of `previous-business-day` and the idempotency window
  /// are reckoned from it. One that does not parse stops the night (exit 2): a re-run must not
  /// silently take the real now. Nil: the system clock.
  public var fixedNow: String?
  /// Told of each firm as it completes (a progress bar).
  public var progress: (@Sendable (Int, Int, FirmOutcome) -> Void)?
  /// Wraps the night's destinations (the command line's test hooks; identity by default).
  public var wrapDestinations: ([String: any Destination]) -> [String: any Destination] = { $0 }
  /// Runs once the state store is open and locked, before anything else (the command line's
  /// test hook for an internal error).
  public var afterLock: () throws -> Void = {}
  /// The night's run id (its log lines, its runs and failures in the store).
  public var runID: String
  public var logger: Logger
  /// Each line of the summary, as it is made.
  public var say: (String) -> Void = { _ in }

  public init(
    source: Source, runID: String, logger: Logger, standardTemplatesDirectory: @escaping () throws -> String
  ) {
    self.source = source
    self.runID = runID
    self.logger = logger
    self.standardTemplatesDirectory = standardTemplatesDirectory
  }

  /// The configuration file's path, for a night from one.
  var configurationPath: String? {
    if case .configuration(let path, _) = source { return path }
    return nil
  }
}
