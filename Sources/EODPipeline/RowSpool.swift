import EODCompression
import EODRender

/// One firm's encoded rows while a spooled pass (``SnapshotPass``) reads the snapshot: each
/// account's rows of each extract, encoded by the file's own encoder into the thread's scratch
/// buffer, are coded line by line against the extract's line before (``LineDeltaEncoder``: 28 %
/// fewer bytes on the 999-firm benchmark book, as consecutive rows share their first columns)
/// and framed (``ByteSink/beginFrame(tag:count:)``: the extract, the row count, the coded bytes)
/// into a buffer of the firm's; a full buffer goes to its processing thread's ``SpoolFile`` as
/// one segment, and the firm remembers where. After the pass the firm reads its segments back in
/// order, decodes each frame and hands its bytes to its file: the files get the same bytes, in
/// the same order, as a firm whose files were open through the pass.
///
/// Why the coding: the spool is the one thing a spooled pass writes that a merged pass does not
/// (1.47 GB for 5M positions uncoded, 1.06 GB coded), and the kernel's cost of putting it in the
/// page cache is most of what a platform of many firms pays more per position (bench/README.md,
/// issue 13).
///
/// Memory: one buffer of about ``segmentSize`` (8 KiB) per firm with rows (let go by
/// ``replay(_:)``), each extract's last line, and 16 bytes per segment. Used by its firm's
/// processing thread only.
final class RowSpool {
  /// Bytes a firm gathers before they go to the spool file.
  static let segmentSize = 8 * 1024

  private let file: SpoolFile
  /// The firm's extracts and their encoders: a frame's tag is the index in both. Kept apart so
  /// that finding a tag compares enum values only, and an encoder is used where it is, never
  /// copied (a copy retains each of its arrays: four times an account, at every account).
  private let kinds: [ExtractKind]
  private let encoders: [SharedRowEncoder]
  /// Where an account's rows are encoded before they are coded into `pending`: the processing
  /// thread's, shared by its firms.
  private let scratch: ByteSink
  /// Each extract's coder, by tag.
  private let deltas: [LineDeltaEncoder]
  private var pending: ByteSink?
  private var segments: [(offset: Int64, count: Int)] = []

  init(file: SpoolFile, scratch: ByteSink, encoders: [(kind: ExtractKind, encoder: SharedRowEncoder)]) {
    self.file = file
    self.scratch = scratch
    kinds = encoders.map(\.kind)
    self.encoders = encoders.map(\.encoder)
    deltas = encoders.map { _ in LineDeltaEncoder() }
  }

  /// Adds an account's rows of `kind` (nothing when the firm has no such file).
  func add(_ kind: ExtractKind, _ rows: RowBuffer) throws(CompressionError) {
    guard !rows.isEmpty, let tag = kinds.firstIndex(of: kind) else { return }
    scratch.removeAll()
    encoders[tag].rows(rows, into: scratch)
    let sink = pending ?? ByteSink(capacity: RowSpool.segmentSize + 4 * 1024)
    pending = sink
    let frame = sink.beginFrame(tag: UInt8(tag), count: UInt32(rows.rowCount))
    deltas[tag].encode(scratch.bytes, into: sink)
    sink.endFrame(frame)
    if sink.count >= RowSpool.segmentSize { try flush() }
  }

  private func flush() throws(CompressionError) {
    guard let sink = pending, sink.count > 0 else { return }
    segments.append((try file.append(sink.bytes), sink.count))
    sink.removeAll()
  }

  /// Every frame added, in order: its extract, row count and encoded bytes (decoded; valid
  /// during the call). Lets go of the firm's buffer first.
  func replay(
    _ body: (ExtractKind, Int, UnsafeRawBufferPointer) throws(CompressionError) -> Void
  ) throws(CompressionError) {
    try flush()
    pending = nil
    let largest = segments.reduce(0) { max($0, $1.count) }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, largest), alignment: 1)
    defer { buffer.deallocate() }
    let decoders = kinds.map { _ in LineDeltaDecoder() }
    for segment in segments {
      let bytes = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<segment.count])
      try file.read(at: segment.offset, into: bytes)
      var rest = UnsafeRawBufferPointer(bytes)
      while let (frame, next) = ByteFrame.read(rest), kinds.indices.contains(Int(frame.tag)) {
        scratch.removeAll()
        guard decoders[Int(frame.tag)].decode(frame.bytes, into: scratch) else { break }
        try body(kinds[Int(frame.tag)], frame.count, scratch.bytes)
        rest = next
      }
      guard rest.isEmpty else {
        throw CompressionError(
          code: .corruptInput, step: "reading back a segment of \(segment.count) bytes at \(segment.offset)",
          path: file.path)
      }
    }
    segments = []
  }
}

/// An encoder that the firms of one processing thread with the same template and format share
/// in a spooled pass. A class, so that a firm's spool uses the encoder where it is: an element of
/// an array of ``RowEncoder`` was copied at every use, retaining and releasing each of its
/// arrays, and with the encoders shared by both threads those counts were cache lines passed
/// between the cores several times an account. Shared by one thread's firms only (the count of
/// the object itself stays on that core).
final class SharedRowEncoder: Sendable {
  let encoder: RowEncoder

  init(_ encoder: RowEncoder) { self.encoder = encoder }

  /// ``RowEncoder/rows(_:into:)-(_,ByteSink)`` with the encoder used in place (a method, where the
  /// object is kept alive by the call: reached through an array element, the encoder was copied).
  func rows(_ rows: RowBuffer, into sink: ByteSink) { encoder.rows(rows, into: sink) }
}
