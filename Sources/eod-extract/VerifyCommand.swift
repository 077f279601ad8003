import ArgumentParser
import EODOps
import EODRender
import EODSFTP
import EODVerify
import Foundation
import Logging

/// `eod-extract verify SET`: proves a delivered set is complete and untouched (docs/reconciliation.md).
struct Verify: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Check a delivered set against its manifest: every file, its size, hash, rows, header and totals.",
    discussion: """
      SET is a folder holding <firm>_manifest_<date>.json and its files: a local one (e.g. \
      OUT/FIRM001/2026-10-01), or sftp://USER@HOST[:PORT]/PATH with --identity and --known-hosts (read only).
      Exit codes: 0 every check holds; 1 a check failed (the report names file and check); \
      2 the set cannot be verified (no manifest, an unreadable one, no connection); 64 usage.
      """)

  @Argument(help: "The set's folder: a local path, or sftp://USER@HOST[:PORT]/PATH.")
  var set: String

  @OptionGroup var sftp: SFTPSetOptions

  @Option(help: "The manifest's file name, when the folder holds several.")
  var manifest: String?

  @Option(
    help:
      "Directory of extract templates, for the header check (default: the places `run` searches: $EOD_TEMPLATES, ./templates, PREFIX/share/eod-extract/templates)."
  )
  var templates: String?

  @Flag(help: "One JSON document (docs/reconciliation.md) instead of lines for a person.")
  var json = false

  var isRemote: Bool { SFTPSetOptions.isRemote(self.set) }

  func validate() throws { try sftp.validate(self.set, named: "SET") }

  func run() async throws {
    try await withExitCodes {
      // Without the templates the header check fails, naming the template (docs/reconciliation.md).
      let directory = templates ?? (try? OutputOptions.standardTemplatesDirectory())
      let library = directory.flatMap { try? TemplateLibrary(directory: $0) }
      var connection: SFTPConnection?
      defer { connection?.disconnect() }
      let store: any SetStore
      if isRemote {
        let remote: SFTPSetStore
        do {
          remote = try sftp.connect(set, command: "verify", logger: makeLogger())
        } catch let failure as Failure {
          if json { print(VerifyError(path: set, detail: failure.message).json(set: set)) }
          throw failure
        }
        connection = remote.connection
        store = remote
      } else {
        store = LocalSetStore(directory: set)
      }
      let verifier = SetVerifier(
        store: store, templates: library,
        templatesDirectory: directory ?? "(no standard templates found; give --templates)",
        manifestName: manifest)
      let report: VerifyReport
      do throws(VerifyError) {
        report = try verifier.verify()
      } catch {
        if json { print(error.json(set: set)) }
        throw Failure(.nothingDone, "verify: \(error)", cause: error)
      }
      print(json ? report.json : report.text)
      return report.ok ? .success : .someFirmsFailed
    }
  }
}

/// The options of a set on an SFTP server (`verify sftp://…`, `reconcile --ours sftp://…`).
struct SFTPSetOptions: ParsableArguments {
  @Option(help: "With an sftp:// set: the private key (ed25519 or ECDSA, mode 0600).")
  var identity: String?

  @Option(help: "With an sftp:// set: the OpenSSH known_hosts file that must hold the server's key.")
  var knownHosts: String?

  @Option(help: "With an sftp:// set: the environment variable holding the key's passphrase.")
  var passphraseEnv: String?

  static func isRemote(_ set: String) -> Bool { set.lowercased().hasPrefix("sftp://") }

  /// A remote `set` needs the key and known_hosts; a local one takes none of these options.
  /// `named`: how the set is given (`SET`, `--ours`), for the message.
  func validate(_ set: String, named: String) throws {
    let remote = Self.isRemote(set)
    if remote && (identity == nil || knownHosts == nil) {
      throw ValidationError("an sftp:// \(named) needs --identity KEYFILE and --known-hosts FILE")
    }
    if !remote && (identity != nil || knownHosts != nil || passphraseEnv != nil) {
      throw ValidationError("--identity, --known-hosts and --passphrase-env go with an sftp:// \(named)")
    }
  }

  /// Connects to the set's server (`command` names the command in a failure's message).
  func connect(_ set: String, command: String, logger: Logger) throws -> SFTPSetStore {
    try SFTPSetStore.connect(
      set, identity: identity ?? "", knownHosts: knownHosts ?? "", passphraseEnv: passphraseEnv,
      command: command, logger: logger)
  }
}

/// A set in a folder on an SFTP server, read only: listed once, files streamed.
final class SFTPSetStore: SetStore {
  let connection: SFTPConnection
  let url: SFTPURL
  private var entries: [String: SFTPDirectoryEntry] = [:]

  init(connection: SFTPConnection, url: SFTPURL) {
    self.connection = connection
    self.url = url
  }

  /// Connects with the key and known_hosts given (an unknown or changed host key is refused).
  static func connect(
    _ text: String, identity: String, knownHosts: String, passphraseEnv: String?, command: String,
    logger: Logger
  ) throws -> SFTPSetStore {
    let url: SFTPURL
    do { url = try SFTPURL(parsing: text) } catch { throw ValidationError("\(error)") }
    var passphrase: String?
    if let passphraseEnv {
      guard let value = ProcessInfo.processInfo.environment[passphraseEnv] else {
        throw Failure(
          .nothingDone, "the environment variable \(passphraseEnv) for the key's passphrase is not set")
      }
      passphrase = value
    }
    do {
      let connection = try SFTPConnection.connect(
        to: url.endpoint, identity: SFTPIdentity(privateKeyPath: identity, passphrase: passphrase),
        hostKeys: SFTPHostKeyPolicy(knownHostsPath: knownHosts), logger: logger)
      return SFTPSetStore(connection: connection, url: url)
    } catch {
      throw Failure(.nothingDone, "\(command): \(error)", cause: error)
    }
  }

  /// The folder's path without a trailing `/`.
  var folder: String {
    var path = url.path
    while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
    return path
  }

  var location: String { url.description }

  func names() throws(VerifyError) -> [String] {
    do {
      let list = try connection.list(folder)
      entries = Dictionary(list.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
      return list.map(\.name)
    } catch {
      throw VerifyError(path: location, detail: "cannot list the folder: \(error)")
    }
  }

  func kind(_ name: String) -> SetEntryKind {
    guard let entry = entries[name] else { return .missing }
    return entry.isRegularFile ? .regular(size: entry.attributes.size) : .other
  }

  func read(_ name: String, chunk: (UnsafeRawBufferPointer) -> Void) throws(VerifyError) {
    let path = (folder == "/" ? "" : folder) + "/" + name
    do { try connection.read(path, chunk: chunk) } catch {
      throw VerifyError(path: path, detail: "cannot be read: \(error)")
    }
  }
}
