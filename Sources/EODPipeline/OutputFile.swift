import Crypto
import EODCompression
import EODOps
import EODRender
import Foundation

/// Hashes the bytes a writer puts in its file, in order.
final class HashBox: @unchecked Sendable {
  private var hasher = SHA256()
  private let lock = NSLock()

  func update(_ bytes: UnsafeRawBufferPointer) {
    lock.lock()
    hasher.update(bufferPointer: bytes)
    lock.unlock()
  }

  func hex() -> String {
    lock.lock()
    defer { lock.unlock() }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
  }
}

/// One extract file being written under a temporary name in its final directory.
final class ExtractFileWriter {
  let kind: ExtractKind
  let encoder: RowEncoder
  let finalPath: String
  let temporaryPath: String
  let fileName: String
  let writer: GzipFileWriter
  let hash = HashBox()
  /// Room for a flush's worth of rows and the largest account's next rows without growing.
  let buffer = ByteSink(capacity: ExtractFileWriter.flushSize + 16 * 1024)
  var rows = 0
  /// Rows are encoded here and handed to the gzip writer in chunks of this size (every firm's
  /// files are open at once: keep it small).
  static let flushSize = 32 * 1024

  init(
    kind: ExtractKind, encoder: RowEncoder, directory: String, fileName: String, runID: String,
    configuration: GzipFileWriter.Configuration, pool: CompressionPool? = nil
  ) throws(CompressionError) {
    self.kind = kind
    self.encoder = encoder
    self.fileName = fileName
    finalPath = directory + "/" + fileName
    temporaryPath = directory + "/." + fileName + ".part-" + runID
    let hash = self.hash
    writer = try GzipFileWriter(path: temporaryPath, configuration: configuration, pool: pool) {
      hash.update($0)
    }
    var header: [UInt8] = []
    encoder.header(into: &header)
    buffer.append(header)
  }

  func append(_ values: [String?]) throws(CompressionError) {
    var bytes: [UInt8] = []
    encoder.row(values, into: &bytes)
    buffer.append(bytes)
    rows += 1
    try flushIfFull()
  }

  /// Every row of `batch`.
  func append(_ batch: RowBuffer) throws(CompressionError) {
    guard !batch.isEmpty else { return }
    encoder.rows(batch, into: buffer)
    rows += batch.rowCount
    try flushIfFull()
  }

  private func flushIfFull() throws(CompressionError) {
    if buffer.count >= ExtractFileWriter.flushSize { try flush() }
  }

  /// Hands the encoded rows to the gzip writer.
  private func flush() throws(CompressionError) {
    guard buffer.count > 0 else { return }
    try writer.append(buffer.bytes)
    buffer.removeAll()
  }

  /// Hands every row written so far to the compression workers (no more rows will come).
  func submitPending() throws(CompressionError) {
    try flush()
    try writer.submitPending()
  }

  /// Completes the file under its temporary name; returns its size and SHA-256.
  func finish() throws(CompressionError) -> (bytes: Int64, sha256: String) {
    try flush()
    let summary = try writer.finish()
    return (summary.outputByteCount, hash.hex())
  }

  /// Stops and removes the temporary file (also after `finish`, before the rename).
  func abandon() {
    writer.abandon()
    unlink(temporaryPath)
  }
}

enum FileSystem {
  /// Creates a directory and its parents.
  static func makeDirectory(_ path: String) throws(PipelineError) {
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw PipelineError(
        code: .output, detail: "cannot create directory \(path): \(SystemErrorText.reason(error))")
    }
  }

  /// Atomically replaces `to` with `from` (same directory).
  static func rename(_ from: String, to: String) throws(PipelineError) {
    if Foundation.rename(from, to) != 0 {
      let reason = String(cString: strerror(errno))
      throw PipelineError(code: .output, detail: "cannot rename \(from) to \(to): \(reason)")
    }
  }

  /// Writes bytes to `path` via a temporary file, fsync and rename.
  static func writeAtomically(_ bytes: [UInt8], to path: String, runID: String) throws(PipelineError) {
    let directory = (path as NSString).deletingLastPathComponent
    let name = (path as NSString).lastPathComponent
    let temporary = directory + "/." + name + ".part-" + runID
    let fd = open(temporary, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw PipelineError(
        code: .output, detail: "cannot create \(temporary): \(String(cString: strerror(errno)))")
    }
    var offset = 0
    var failure: String?
    bytes.withUnsafeBytes { raw in
      while offset < raw.count {
        let written = write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
        if written < 0 {
          if errno == EINTR { continue }
          failure = String(cString: strerror(errno))
          return
        }
        offset += written
      }
    }
    if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
    close(fd)
    if let failure {
      unlink(temporary)
      throw PipelineError(code: .output, detail: "cannot write \(temporary): \(failure)")
    }
    try rename(temporary, to: path)
  }

  /// Removes the empty directories left under `root` (and `root` itself if it ends up empty),
  /// after a refused snapshot.
  static func removeEmptyDirectories(under root: String) {
    let manager = FileManager.default
    guard let entries = try? manager.subpathsOfDirectory(atPath: root) else { return }
    for relative in entries.sorted(by: { $0.count > $1.count }) {
      let path = root + "/" + relative
      if (try? manager.contentsOfDirectory(atPath: path))?.isEmpty == true {
        try? manager.removeItem(atPath: path)
      }
    }
    if (try? manager.contentsOfDirectory(atPath: root))?.isEmpty == true {
      try? manager.removeItem(atPath: root)
    }
  }

  /// Removes `.NAME.part-RUNID` files: what a killed run left behind.
  static func removeTemporaryFiles(in directory: String) {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
    for name in names where name.hasPrefix(".") && name.contains(".part-") {
      unlink(directory + "/" + name)
    }
  }

  static func sha256(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
  }
}
