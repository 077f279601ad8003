import Foundation

/// Writes a file as deterministic, parallel, streaming gzip (or as plain bytes with `.none`).
///
/// The producer appends bytes on one thread. The writer cuts the stream into blocks of
/// `blockSize` input bytes and compresses each block as an **independent gzip member** on a pool
/// of worker threads; the members are written to the file in order. Concatenated members are
/// valid gzip (RFC 1952 §2.2): `gzip -d`, `zcat`, `pigz -d`, Python's `gzip` module and
/// `Gunzip` all read them as one stream.
///
/// - Determinism: the bytes depend only on the input, the encoding (level), `blockSize` and the
///   `backend` (and its library version), never on the worker count, the way the producer slices
///   its appends, or scheduling. Every member has the fixed header described in `Gzip` (MTIME 0,
///   no name, OS 3). An empty input gives one empty member, so the file is always valid gzip.
/// - Blocking: `append` and `finish` wait on a condition variable; call them from a thread you
///   own (the renderer's), not from a Swift-concurrency task that must not block.
/// - Memory: at most `maxBlocksInFlight` blocks are queued, being compressed or waiting to be
///   written, over every writer sharing the ``CompressionPool`` (or this writer's own pool);
///   `append` blocks (backpressure) until there is room. Each writer also holds the block it is
///   filling.
/// - Errors: any error thrown by `append` or `finish` has already abandoned the writer: the
///   file is closed and removed. A writer that is dropped without `finish()` abandons itself.
///
/// Use from one thread (it is not `Sendable`). `onOutput` is called on a worker thread, in
/// output order, never concurrently, once per chunk of bytes after it is written to the file —
/// hash the compressed output there (SHA-256 of the delivered file).
///
/// ```swift
/// let writer = try GzipFileWriter(path: "/out/positions.csv.gz")
/// try writer.append(headerLine)
/// for row in rows { try writer.append(row) }
/// let summary = try writer.finish()
/// ```
public final class GzipFileWriter {
  /// Settings of a writer.
  public struct Configuration: Sendable, Hashable {
    /// Gzip at a level 0…9 (default 6), or `.none` to write the bytes unchanged.
    public var encoding: OutputEncoding
    /// Input bytes per gzip member, 4 KiB…64 MiB (default 1 MiB). Part of the output's identity:
    /// the same input gives the same bytes only at the same block size.
    public var blockSize: Int
    /// Compression threads, 1…64 (default: the active processor count), when the writer has no
    /// shared ``CompressionPool``. Does not affect output.
    public var workerCount: Int
    /// Blocks allowed between `append` and the file (queued, compressing, or waiting for their
    /// turn to be written) when the writer has no shared pool; nil means `2 × workerCount + 1`.
    /// Bounds memory to about `maxBlocksInFlight × blockSize × 2`.
    public var maxBlocksInFlight: Int?
    /// The DEFLATE implementation (default: `DeflateBackend.preferred`). Part of the output's
    /// identity, like `blockSize`.
    public var backend: DeflateBackend

    /// Makes a configuration; every argument has a sensible default.
    public init(
      encoding: OutputEncoding = .defaultGzip, blockSize: Int = 1 << 20,
      workerCount: Int = CompressionPool.activeProcessorCount, maxBlocksInFlight: Int? = nil,
      backend: DeflateBackend = .preferred
    ) {
      self.backend = backend
      self.encoding = encoding
      self.blockSize = blockSize
      self.workerCount = workerCount
      self.maxBlocksInFlight = maxBlocksInFlight
    }

    /// Smallest accepted `blockSize`.
    public static let minimumBlockSize = 4096
    /// Largest accepted `blockSize`.
    public static let maximumBlockSize = 64 << 20

    func validated() throws(CompressionError) -> (encoder: BlockEncoder, workers: Int, inFlight: Int) {
      func invalid(_ what: String) -> CompressionError {
        CompressionError(code: .invalidConfiguration, step: "checking writer configuration: \(what)")
      }
      guard (Self.minimumBlockSize...Self.maximumBlockSize).contains(blockSize) else {
        throw invalid(
          "blockSize \(blockSize) is outside \(Self.minimumBlockSize)…\(Self.maximumBlockSize)")
      }
      guard (1...64).contains(workerCount) else {
        throw invalid("workerCount \(workerCount) is outside 1…64")
      }
      let encoder: BlockEncoder
      var workers = workerCount
      switch encoding {
      case .gzip(let level):
        guard (0...9).contains(level) else { throw invalid("gzip level \(level) is outside 0…9") }
        guard backend.isAvailable else {
          throw invalid("the \(backend) backend is not compiled into this build")
        }
        encoder = .gzip(level: Int32(level), backend: backend)
      case .none:
        encoder = .identity
        workers = 1
      }
      let inFlight = maxBlocksInFlight ?? (2 * workers + 1)
      guard inFlight >= 1 else { throw invalid("maxBlocksInFlight \(inFlight) is below 1") }
      return (encoder, workers, inFlight)
    }
  }

  /// What a finished writer produced.
  public struct Summary: Sendable, Hashable {
    /// The file written.
    public var path: String
    /// The encoding used.
    public var encoding: OutputEncoding
    /// Bytes appended (uncompressed).
    public var inputByteCount: Int64
    /// Bytes in the file.
    public var outputByteCount: Int64
    /// Blocks written: gzip members with `.gzip`, plain chunks with `.none`.
    public var blockCount: Int
  }

  private enum State { case open, finished, abandoned }

  /// The output file.
  public let path: String
  /// The settings in force.
  public let configuration: Configuration
  private let pipeline: BlockPipeline
  /// The pool this writer made for itself (shut down when it finishes), or nil when shared.
  private let privatePool: CompressionPool?
  private let blockSize: Int
  private let isGzip: Bool
  private var current: [UInt8] = []
  private var submittedBlocks = 0
  private var state = State.open

  /// Bytes appended so far (uncompressed).
  public private(set) var inputByteCount: Int64 = 0

  /// Bytes written to the file so far (grows as workers write; final after `finish()`).
  public var outputByteCount: Int64 { pipeline.outputByteCount }

  /// Creates (or truncates) the file at `path` with mode 0644 and starts the workers.
  ///
  /// - Parameters:
  ///   - path: The output file.
  ///   - configuration: Encoding, block size, worker count, memory bound.
  ///   - pool: Compression threads shared with other writers; nil makes a private pool from
  ///     `configuration.workerCount` and `maxBlocksInFlight`.
  ///   - onOutput: Called with every chunk of bytes written to the file, in order, never
  ///     concurrently, on a worker thread; the buffer is valid only during the call.
  /// - Throws: `CompressionError` with `.invalidConfiguration` or `.openFailed` (naming the path).
  public convenience init(
    path: String, configuration: Configuration = Configuration(), pool: CompressionPool? = nil,
    onOutput: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil
  ) throws(CompressionError) {
    let validated = try configuration.validated()
    try self.init(
      file: try OutputFile(path: path), validated: validated, configuration: configuration, pool: pool,
      onOutput: onOutput)
  }

  /// Creates `name` in `directory` (exclusively, never through a symlink, with the tree's file
  /// mode) and starts the workers. The file is opened only while a block is written to it, so
  /// any number of such writers hold no descriptor between blocks.
  public convenience init(
    directory: OutputDirectory, name: String, configuration: Configuration = Configuration(),
    pool: CompressionPool? = nil, onOutput: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil
  ) throws(CompressionError) {
    let validated = try configuration.validated()
    try self.init(
      file: try OutputFile(directory: directory, name: name), validated: validated,
      configuration: configuration, pool: pool, onOutput: onOutput)
  }

  private init(
    file: OutputFile, validated: (encoder: BlockEncoder, workers: Int, inFlight: Int),
    configuration: Configuration, pool: CompressionPool?,
    onOutput: (@Sendable (UnsafeRawBufferPointer) -> Void)?
  ) throws(CompressionError) {
    let (encoder, workers, inFlight) = validated
    self.path = file.path
    self.configuration = configuration
    blockSize = configuration.blockSize
    if case .gzip = encoder { isGzip = true } else { isGzip = false }
    if let pool {
      privatePool = nil
      pipeline = BlockPipeline(encoder: encoder, pool: pool, file: file, onOutput: onOutput)
    } else {
      let own = CompressionPool(workerCount: workers, maxBlocksInFlight: inFlight)
      privatePool = own
      pipeline = BlockPipeline(encoder: encoder, pool: own, file: file, onOutput: onOutput)
    }
  }

  deinit {
    if state == .open { abandon() }
  }

  /// Appends bytes to the stream. May block while the workers catch up (backpressure).
  public func append(_ bytes: UnsafeRawBufferPointer) throws(CompressionError) {
    try checkOpen("appending")
    var offset = 0
    while offset < bytes.count {
      let take = min(blockSize - current.count, bytes.count - offset)
      current.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
      offset += take
      inputByteCount += Int64(take)
      if current.count == blockSize { try submitCurrent() }
    }
  }

  /// Appends bytes to the stream.
  public func append(_ bytes: [UInt8]) throws(CompressionError) {
    try withBytes(bytes) { raw throws(CompressionError) in try append(raw) }
  }

  /// Appends bytes to the stream.
  public func append(_ bytes: ArraySlice<UInt8>) throws(CompressionError) {
    try withBytes(bytes) { raw throws(CompressionError) in try append(raw) }
  }

  /// Appends the UTF-8 bytes of `text` to the stream.
  public func append(utf8 text: String) throws(CompressionError) {
    var text = text
    var failure: CompressionError?
    text.withUTF8 { utf8 in
      do throws(CompressionError) { try append(UnsafeRawBufferPointer(utf8)) } catch { failure = error }
    }
    if let failure { throw failure }
  }

  /// Hands the partly filled block to the workers now, when nothing more will be appended, so
  /// it is compressed while the caller does other work; ``finish()`` then only waits. Appending
  /// afterwards is allowed but starts a new member (the file's bytes then differ).
  public func submitPending() throws(CompressionError) {
    try checkOpen("submitting the last block")
    if !current.isEmpty { try submitCurrent() }
  }

  /// Compresses what is left, waits for every block to be written, then `fsync`s and closes the
  /// file. On error the file is removed and the error thrown.
  @discardableResult
  public func finish() throws(CompressionError) -> Summary {
    try checkOpen("finishing")
    do throws(CompressionError) {
      // An empty gzip stream still gets one (empty) member: a 0-byte file is not valid gzip.
      if !current.isEmpty || (isGzip && submittedBlocks == 0) { try submitCurrent() }
      try pipeline.drainAndStop()
      try pipeline.file.syncAndClose()
    } catch {
      abandon()
      throw error
    }
    privatePool?.shutdown()
    state = .finished
    return Summary(
      path: path, encoding: configuration.encoding, inputByteCount: inputByteCount,
      outputByteCount: pipeline.outputByteCount, blockCount: pipeline.writtenBlockCount)
  }

  /// Stops the workers, closes the file and removes it. Safe to call more than once and after a
  /// failure; does nothing after a successful `finish()`.
  public func abandon() {
    guard state == .open else { return }
    state = .abandoned
    pipeline.cancelAndStop()
    pipeline.file.closeAndUnlink()
    privatePool?.shutdown()
    current = []
  }

  private func checkOpen(_ step: String) throws(CompressionError) {
    switch state {
    case .open: return
    case .finished:
      throw CompressionError(code: .writerClosed, step: "\(step) after finish()", path: path)
    case .abandoned:
      throw pipeline.firstFailure
        ?? CompressionError(code: .writerClosed, step: "\(step) after abandon()", path: path)
    }
  }

  private func submitCurrent() throws(CompressionError) {
    // The next block's buffer grows as it fills (a small file never reserves a whole block).
    var block = pipeline.takeSpareBuffer() ?? []
    swap(&block, &current)
    do {
      try pipeline.submit(block)
    } catch {
      abandon()
      throw error
    }
    submittedBlocks += 1
  }
}
