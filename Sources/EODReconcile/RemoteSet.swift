import EODVerify
import Foundation

/// A set that is not a local folder (`--ours sftp://…`): read through a ``SetStore`` (the one
/// `verify` reads it with), its manifest and the one file it lists for the extract are copied into
/// a local folder and reconciled from there. The store is only read (listed once, two files read).
public enum RemoteSet {
  /// Copies the set's manifest and its `extract` file from `store` into `folder` (created; the
  /// caller removes it) and returns the copied manifest's path, to give as
  /// ``ReconcileRequest/oursSet``. The manifest is found and read as `verify` does (the only
  /// `<firm>_manifest_<date>.json` of the folder, at most 16 MiB).
  public static func copy(from store: any SetStore, extract: ReconcileExtract, into folder: String) throws
    -> String
  {
    let manifest: SetManifest
    do throws(VerifyError) {
      manifest = try SetVerifier(store: store, templates: nil, templatesDirectory: "", manifestName: nil)
        .manifest()
    } catch {
      throw ReconcileError.manifest(path: error.path, reason: error.detail)
    }
    let manifestPath = store.location + "/" + manifest.fileName
    guard let entry = manifest.files.first(where: { $0.extract == extract.rawValue }),
      SetVerifier.isPlainName(entry.name), !entry.name.hasPrefix(".")
    else {
      throw ReconcileError.manifest(path: manifestPath, reason: "lists no \(extract.rawValue) file")
    }
    guard case .regular = store.kind(entry.name) else {
      throw ReconcileError.unreadable(
        path: store.location + "/" + entry.name, reason: "missing from the set, or not a regular file")
    }
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw ReconcileError.cannotWrite(path: folder, reason: "cannot create the folder")
    }
    for name in [manifest.fileName, entry.name] {
      let path = folder + "/" + name
      guard FileManager.default.createFile(atPath: path, contents: nil),
        let handle = FileHandle(forWritingAtPath: path)
      else { throw ReconcileError.cannotWrite(path: path, reason: "cannot create the file") }
      defer { try? handle.close() }
      var writeError: (any Error)?
      do throws(VerifyError) {
        try store.read(name) { chunk in
          guard writeError == nil else { return }
          do { try handle.write(contentsOf: Data(chunk)) } catch { writeError = error }
        }
      } catch {
        throw ReconcileError.unreadable(path: error.path, reason: error.detail)
      }
      if let writeError { throw ReconcileError.cannotWrite(path: path, reason: "\(writeError)") }
    }
    return folder + "/" + manifest.fileName
  }
}
