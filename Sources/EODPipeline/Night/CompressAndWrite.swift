import Crypto
import EODCompression
import EODCore
import EODOps
import EODRender
import Foundation
import Synchronization

/// Hashes the bytes a writer puts in its file, in order: the compression worker holding the
/// file's writer token updates it (once per written block), the run thread reads the result.
final class HashBox: Sendable {
  private let hasher = Mutex(SHA256())

  func update(_ bytes: UnsafeRawBufferPointer) {
    // The buffer is the caller's for the length of this call; the lock's body takes it as its
    // address and length (plain values), not as a pointer it could keep.
    let address = UInt(bitPattern: bytes.baseAddress)
    let count = bytes.count
    hasher.withLock { hasher in
      hasher.update(
        bufferPointer: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: address), count: count))
    }
  }

  func hex() -> String {
    Hex.lowercase(hasher.withLock { $0.finalize() })
  }
}

/// A stage of the night (docs/architecture.md), after ``RenderRows``: one extract file being
/// written under a temporary name in its final directory. Each account's rows are encoded with the
/// template's ``RowEncoder`` (EODRender/Encoder.swift) and compressed into gzip members
/// (EODCompression/GzipFileWriter.swift) by the compression pool; ``finish()`` completes the file
/// (size, SHA-256), and CompleteSets renames it into place.
final class ExtractFileWriter {
  let kind: ExtractKind
  let encoder: RowEncoder
  let finalPath: String
  let temporaryPath: String
  let fileName: String
  let temporaryName: String
  let directory: OutputDirectory
  /// Let go once the file is finished: a finished gzip writer still holds the (empty) buffer it
  /// took for a next block, up to a block's size, and a spooled pass keeps every finished
  /// firm's writers until the files are put in place.
  private var writer: GzipFileWriter?
  let hash = HashBox()
  /// Room for a flush's worth of rows and the largest account's next rows without growing;
  /// let go when the file is finished (a spooled pass keeps every finished firm's writers
  /// until the files are put in place).
  private(set) var buffer = ByteSink(capacity: ExtractFileWriter.flushSize + 16 * 1024)
  var rows = 0
  /// Rows are encoded here and handed to the gzip writer in chunks of this size (in a merged pass
  /// every firm's files are open at once: keep it small). The gzip members do not depend on it.
  static let flushSize = 32 * 1024

  init(
    kind: ExtractKind, encoder: RowEncoder, directory: OutputDirectory, fileName: String, runID: String,
    configuration: GzipFileWriter.Configuration, pool: CompressionPool? = nil
  ) throws(CompressionError) {
    self.kind = kind
    self.encoder = encoder
    self.fileName = fileName
    self.directory = directory
    temporaryName = "." + fileName + ".part-" + runID
    finalPath = directory.path + "/" + fileName
    temporaryPath = directory.path + "/" + temporaryName
    let hash = self.hash
    writer = try GzipFileWriter(
      directory: directory, name: temporaryName, configuration: configuration, pool: pool
    ) {
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

  /// Rows already encoded by this file's encoder (a spooled pass's rows, read back). They go
  /// straight to the gzip writer, which copies them into its block: gathering them in `buffer`
  /// first copied every spooled byte once more. The members do not depend on how the bytes are
  /// sliced, so the file is the same.
  func append(encoded bytes: UnsafeRawBufferPointer, rows count: Int) throws(CompressionError) {
    try flush()
    try open().append(bytes)
    rows += count
  }

  private func flushIfFull() throws(CompressionError) {
    if buffer.count >= ExtractFileWriter.flushSize { try flush() }
  }

  /// The gzip writer, until the file is finished.
  private func open() throws(CompressionError) -> GzipFileWriter {
    guard let writer else {
      throw CompressionError(
        code: .writerClosed, step: "writing after the file was finished", path: temporaryPath)
    }
    return writer
  }

  /// Hands the encoded rows to the gzip writer.
  private func flush() throws(CompressionError) {
    guard buffer.count > 0 else { return }
    try open().append(buffer.bytes)
    buffer.removeAll()
  }

  /// Hands every row written so far to the compression workers (no more rows will come).
  func submitPending() throws(CompressionError) {
    try flush()
    try open().submitPending()
  }

  /// Completes the file under its temporary name; returns its size and SHA-256.
  func finish() throws(CompressionError) -> (bytes: Int64, sha256: String) {
    try flush()
    let summary = try open().finish()
    writer = nil
    buffer = ByteSink(capacity: 16)
    return (summary.outputByteCount, hash.hex())
  }

  /// Stops and removes the temporary file (also after `finish`, before the rename).
  func abandon() {
    writer?.abandon()
    directory.remove(temporaryName)
  }
}

enum FileSystem {
  /// Removes `.NAME.part-RUNID` files: what a killed run left behind.
  static func removeTemporaryFiles(in directory: OutputDirectory) {
    guard let names = try? directory.names() else { return }
    for name in names where name.hasPrefix(".") && name.contains(".part-") {
      directory.remove(name)
    }
  }

  static func sha256(_ bytes: [UInt8]) -> String {
    Hex.lowercase(SHA256.hash(data: bytes))
  }
}
