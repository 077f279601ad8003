import Crypto
import EODCore
import EODOps
import Foundation
import Logging

/// Delivers to a directory on this machine (a mounted share, a pickup folder): the same
/// protocol as SFTP — hidden temporary name, size check, rename, manifest last.
public struct LocalDirectoryDestination: Destination {
  /// Files go to `base/<firm_id>/<business_date>/`, or to `base` itself when not mirroring.
  public var base: String
  public var mirrorLocalLayout: Bool

  public init(base: String, mirrorLocalLayout: Bool = true) {
    self.base = base
    self.mirrorLocalLayout = mirrorLocalLayout
  }

  public var displayName: String { "file://" + base }

  public func deliver(_ set: DeliverySet, resend: Bool, logger: Logger) async throws(DeliveryError)
    -> [DeliveredFile]
  {
    let directory = mirrorLocalLayout ? "\(base)/\(set.firmID)/\(set.businessDate)" : base
    var done: [DeliveredFile] = []
    func fail(_ code: DeliveryError.Code, _ file: String?, _ detail: String) -> DeliveryError {
      DeliveryError(code: code, destination: displayName, fileName: file, completed: done, detail: detail)
    }
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw fail(.remoteRefused, nil, "cannot create \(directory): \(SystemErrorText.reason(error))")
    }
    func sha256(_ bytes: Data) -> String {
      Hex.lowercase(SHA256.hash(data: bytes))
    }
    let manifestTarget = directory + "/" + set.manifest.fileName
    if let existing = FileManager.default.contents(atPath: manifestTarget) {
      if resend {
        // A different manifest is removed before any data file is replaced: a consumer never
        // sees it beside new data.
        if sha256(existing) != set.manifest.sha256 { unlink(manifestTarget) }
      } else {
        guard let ours = FileManager.default.contents(atPath: set.manifest.localPath) else {
          throw fail(.localFile, set.manifest.fileName, "cannot read \(set.manifest.localPath)")
        }
        let decision = ManifestRecognition.decide(
          set, existing: Array(existing), ours: Array(ours), target: manifestTarget,
          path: { directory + "/" + $0 }, logger: logger
        ) { item, target in
          guard let bytes = FileManager.default.contents(atPath: target) else { return "is missing" }
          return sha256(bytes) == item.sha256 ? nil : "holds different bytes"
        }
        switch decision {
        case .recognised(let found): return found
        case .refused(let fileName, let detail): throw fail(.conflictingFile, fileName, detail)
        }
      }
    }
    for item in set.files + [set.manifest] {
      let target = directory + "/" + item.fileName
      if let existing = FileManager.default.contents(atPath: target) {
        let sha = sha256(existing)
        if sha == item.sha256 {
          done.append(
            DeliveredFile(
              fileName: item.fileName, remotePath: target, sha256: sha, attempts: 0, outcome: .alreadyPresent)
          )
          continue
        }
        if !resend {
          throw fail(
            .conflictingFile, item.fileName,
            "\(target) already holds different bytes; pass --resend to replace it")
        }
      }
      guard let bytes = FileManager.default.contents(atPath: item.localPath) else {
        throw fail(.localFile, item.fileName, "cannot read \(item.localPath)")
      }
      guard bytes.count == item.byteCount else {
        throw fail(
          .localFile, item.fileName,
          "\(item.localPath) is \(bytes.count) bytes, the set says \(item.byteCount)")
      }
      let temporary = directory + "/." + item.fileName + ".part-" + set.runID
      do {
        try bytes.write(to: URL(fileURLWithPath: temporary))
        let size = (try FileManager.default.attributesOfItem(atPath: temporary)[.size] as? NSNumber)?.intValue
        guard size == item.byteCount else {
          try? FileManager.default.removeItem(atPath: temporary)
          throw fail(.remoteRefused, item.fileName, "size check failed for \(temporary)")
        }
        if rename(temporary, target) != 0 {
          let reason = String(cString: strerror(errno))
          try? FileManager.default.removeItem(atPath: temporary)
          throw fail(.remoteRefused, item.fileName, "cannot rename into \(target): \(reason)")
        }
      } catch let error as DeliveryError {
        throw error
      } catch {
        try? FileManager.default.removeItem(atPath: temporary)
        throw fail(
          .remoteRefused, item.fileName, "cannot write \(temporary): \(SystemErrorText.reason(error))")
      }
      done.append(
        DeliveredFile(
          fileName: item.fileName, remotePath: target, sha256: item.sha256, attempts: 1, outcome: .delivered))
    }
    return done
  }
}
