import Crypto
import EODCompression
import EODCore
import EODRender
import Foundation

/// One check of one file, with what was found.
public struct Check: Sendable, Equatable {
  /// `skipped`: could not be checked (said why); `not_applicable`: nothing to check (an
  /// uncompressed file's gzip check, data_quality's totals).
  public enum Status: String, Sendable {
    case passed, failed, skipped
    case notApplicable = "not_applicable"
  }

  /// `present`, `bytes`, `sha256`, `gzip`, `parse`, `header`, `rows`, `control_total`,
  /// `control_totals_by_currency`, `accounts`.
  public var name: String
  public var status: Status
  public var detail: String

  public init(_ name: String, _ status: Status, _ detail: String) {
    self.name = name
    self.status = status
    self.detail = detail
  }
}

/// Every check of one listed file.
public struct FileReport: Sendable {
  public var name: String
  public var extract: String
  public var checks: [Check]
  public var ok: Bool { !checks.contains { $0.status == .failed } }
}

/// The result of verifying a set.
public struct VerifyReport: Sendable {
  public var set: String
  public var manifest: SetManifest
  public var files: [FileReport]
  /// Names in the folder the manifest does not list (hidden `.part` temporaries included), sorted.
  public var unlisted: [String]
  public var ok: Bool { files.allSatisfy(\.ok) && unlisted.isEmpty }
}

/// What a set is read from: a local folder, or (in the command line) a folder on an SFTP server.
public protocol SetStore {
  /// How the set is shown in reports.
  var location: String { get }
  /// Every name in the set's folder, hidden ones included; an error when the folder cannot be
  /// listed.
  func names() throws(VerifyError) -> [String]
  /// What `name` is: a regular file (with its size, if known), something else (a link, folder or
  /// device: never read), or absent.
  func kind(_ name: String) -> SetEntryKind
  /// Reads the regular file `name` chunk by chunk; an error says why it could not be read.
  func read(_ name: String, chunk: (UnsafeRawBufferPointer) -> Void) throws(VerifyError)
}

public enum SetEntryKind: Sendable, Equatable {
  case regular(size: Int?)
  case other
  case missing
}

/// A set in a local folder.
public struct LocalSetStore: SetStore {
  public let directory: String

  public init(directory: String) { self.directory = directory }

  public var location: String { directory }

  public func names() throws(VerifyError) -> [String] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
    else {
      throw VerifyError(path: directory, detail: "not a folder")
    }
    do { return try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
      throw VerifyError(path: directory, detail: "cannot list the folder: \(error.localizedDescription)")
    }
  }

  public func kind(_ name: String) -> SetEntryKind {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name) else {
      return .missing
    }
    guard attributes[.type] as? FileAttributeType == .typeRegular else { return .other }
    return .regular(size: attributes[.size] as? Int)
  }

  public func read(_ name: String, chunk: (UnsafeRawBufferPointer) -> Void) throws(VerifyError) {
    let path = directory + "/" + name
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw VerifyError(path: path, detail: "cannot be opened for reading")
    }
    defer { try? handle.close() }
    while true {
      let data: Data
      do {
        guard let next = try handle.read(upToCount: 1 << 20), !next.isEmpty else { return }
        data = next
      } catch {
        throw VerifyError(path: path, detail: "cannot be read: \(error.localizedDescription)")
      }
      data.withUnsafeBytes { chunk($0) }
    }
  }
}

/// Verifies a delivered set against its manifest: every listed file present, of the listed size
/// and sha256, decompressing cleanly, parsing with the listed rows, the header of its named
/// template, and footing to the manifest's control totals (exact decimals). Files are streamed
/// (one chunk and one record at a time).
public struct SetVerifier {
  public var store: any SetStore
  public var templates: TemplateLibrary?
  /// Where the templates were looked for (named when one is missing).
  public var templatesDirectory: String
  public var manifestName: String?

  public init(
    store: any SetStore, templates: TemplateLibrary?, templatesDirectory: String, manifestName: String?
  ) {
    self.store = store
    self.templates = templates
    self.templatesDirectory = templatesDirectory
    self.manifestName = manifestName
  }

  /// A set in a local folder.
  public init(
    directory: String, templates: TemplateLibrary?, templatesDirectory: String, manifestName: String?
  ) {
    self.init(
      store: LocalSetStore(directory: directory), templates: templates,
      templatesDirectory: templatesDirectory,
      manifestName: manifestName)
  }

  /// The largest manifest read (a real one is a few kilobytes).
  static let maxManifestBytes = 16 << 20

  /// The manifest's file name: the one given, else the only `*_manifest_*.json` in the folder.
  func findManifest(in names: [String]) throws(VerifyError) -> String {
    if let manifestName {
      guard Self.isPlainName(manifestName) else {
        throw VerifyError(path: manifestName, detail: "--manifest must be a file name in the set's folder")
      }
      guard names.contains(manifestName) else {
        throw VerifyError(path: store.location, detail: "no manifest \(manifestName) in the folder")
      }
      return manifestName
    }
    let manifests = names.filter { $0.contains("_manifest_") && $0.hasSuffix(".json") && !$0.hasPrefix(".") }
      .sorted()
    guard let first = manifests.first else {
      throw VerifyError(
        path: store.location, detail: "no manifest (<firm>_manifest_<date>.json) in the folder")
    }
    guard manifests.count == 1 else {
      throw VerifyError(
        path: store.location,
        detail: "several manifests (\(manifests.joined(separator: ", "))): choose one with --manifest NAME")
    }
    return first
  }

  /// Reads the manifest: an error (the set cannot be verified) when it is missing or unreadable.
  func readManifest(in names: [String]) throws(VerifyError) -> SetManifest {
    let name = try findManifest(in: names)
    let path = store.location + "/" + name
    guard case .regular(let size) = store.kind(name) else {
      throw VerifyError(path: path, detail: "the manifest is not a regular file")
    }
    let tooLarge = VerifyError(path: path, detail: "the manifest is larger than 16 MiB: not a manifest")
    if let size, size > Self.maxManifestBytes { throw tooLarge }
    var data = Data()
    var overflow = false
    try store.read(name) { chunk in
      if data.count + chunk.count > Self.maxManifestBytes { overflow = true }
      if !overflow { data.append(contentsOf: chunk) }
    }
    if overflow { throw tooLarge }
    return try SetManifest.parse(data, fileName: name)
  }

  /// The set's manifest, found and read as `verify` does (the one given, else the only one in the
  /// folder); an error when it is missing or unreadable. Used by `reconcile --ours sftp://…`.
  public func manifest() throws(VerifyError) -> SetManifest {
    try readManifest(in: try store.names())
  }

  /// Verifies the set. Throws only when the set cannot be verified (no folder, no manifest, an
  /// unreadable one); every problem of the files is in the report.
  public func verify() throws(VerifyError) -> VerifyReport {
    let present = try store.names()
    let manifest = try readManifest(in: present)
    var files: [FileReport] = []
    for entry in manifest.files { files.append(verify(entry, manifest: manifest)) }
    let listed = Set(manifest.files.map(\.name) + [manifest.fileName])
    let unlisted = present.filter { !listed.contains($0) }.sorted()
    return VerifyReport(set: store.location, manifest: manifest, files: files, unlisted: unlisted)
  }

  /// A name that stays in the set's folder: no `/`, not `.` or `..`, no NUL.
  public static func isPlainName(_ name: String) -> Bool {
    !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
  }

  func verify(_ entry: ManifestEntry, manifest: SetManifest) -> FileReport {
    var report = FileReport(name: entry.name, extract: entry.extract, checks: [])
    func add(_ name: String, _ status: Check.Status, _ detail: String) {
      report.checks.append(Check(name, status, detail))
    }
    guard Self.isPlainName(entry.name) else {
      add(
        "present", .failed,
        "the manifest names '\(entry.name)', not a file name in the set's folder: not read")
      return report
    }
    let path = store.location + "/" + entry.name
    switch store.kind(entry.name) {
    case .missing:
      add("present", .failed, "missing from the set")
      return report
    case .other:
      add("present", .failed, "not a regular file (a link, folder or device): not read")
      return report
    case .regular: break
    }

    let gzip = entry.compression.map { $0 == "gzip" } ?? entry.name.hasSuffix(".gz")
    let format: ExtractFormatName =
      entry.format.map { $0 == "json" ? .json : .csv } ?? (entry.name.contains(".json") ? .json : .csv)
    let content = ContentChecker(entry: entry, format: format, template: template(for: entry))
    var hasher = SHA256()
    var byteCount = 0
    var stream: GunzipStream?
    var gzipError: String?
    if gzip {
      do { stream = try GunzipStream(path: path) } catch { gzipError = "\(error)" }
    }
    var readError: String?
    do {
      try store.read(entry.name) { raw in
        byteCount += raw.count
        hasher.update(bufferPointer: raw)
        if !gzip {
          content.feed(raw)
        } else if let active = stream, gzipError == nil {
          do { try active.feed(raw) { content.feed($0) } } catch { gzipError = "\(error)" }
        }
      }
    } catch {
      readError = error.detail
    }
    if let readError {
      add("present", .failed, readError)
      return report
    }
    add("present", .passed, "present")
    add(
      "bytes", byteCount == entry.bytes ? .passed : .failed,
      byteCount == entry.bytes
        ? "\(byteCount) bytes" : "manifest says \(entry.bytes) bytes, the file has \(byteCount)")
    let digest = Hex.lowercase(hasher.finalize())
    add(
      "sha256", digest == entry.sha256.lowercased() ? .passed : .failed,
      digest == entry.sha256.lowercased() ? digest : "manifest says \(entry.sha256), the file has \(digest)")
    if gzip {
      if gzipError == nil, let stream {
        do { try stream.finish() } catch { gzipError = "\(error)" }
      }
      if let gzipError {
        add("gzip", .failed, "does not decompress: \(gzipError)")
        for name in ["parse", "header", "rows", "control_total", "control_totals_by_currency", "accounts"] {
          add(name, .skipped, "not checked: the file does not decompress")
        }
        return report
      }
      add("gzip", .passed, "every member decompresses and its CRC-32 and length match")
    } else {
      add("gzip", .notApplicable, "not compressed (compression none)")
    }
    content.finish()
    report.checks.append(contentsOf: content.checks(schema: manifest.schemaVersion))
    return report
  }

  /// The template the entry names, or why it cannot be used.
  func template(for entry: ManifestEntry) -> Result<Template, TemplateProblem> {
    guard let name = entry.template else {
      return .failure(TemplateProblem(detail: "the manifest names no template for this file"))
    }
    guard let templates else {
      return .failure(TemplateProblem(detail: "no templates could be read from \(templatesDirectory)"))
    }
    guard let template = templates.templates[name] else {
      return .failure(
        TemplateProblem(
          detail:
            "template \(name) is not in \(templatesDirectory) (pass --templates with the firm's templates)"))
    }
    guard template.extract.rawValue == entry.extract else {
      return .failure(
        TemplateProblem(detail: "template \(name) is for \(template.extract.rawValue), not \(entry.extract)"))
    }
    return .success(template)
  }
}

struct TemplateProblem: Error {
  var detail: String
}

enum ExtractFormatName { case csv, json }
