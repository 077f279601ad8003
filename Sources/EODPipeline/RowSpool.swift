import EODCompression
import EODRender

/// The encoded rows of a few firms of one processing thread (up to ``firmsPerSpool(workers:)``)
/// while a spooled pass (``SnapshotPass``) reads the snapshot. Each account's rows of each
/// extract, encoded by the file's own encoder into the thread's scratch buffer, are coded line
/// by line against the firm's line before in that extract (``LineDeltaEncoder``: 28 % fewer
/// bytes on the 999-firm benchmark book, as consecutive rows share their first columns) and
/// framed (``ByteSink/beginFrame(tag:count:)``: the firm's place and the extract, the row count,
/// the coded bytes) into the spool's buffer; a full buffer goes to the processing thread's
/// ``SpoolFile`` as one segment, and the spool remembers where. After the pass the spool's firms
/// open their files together, the segments are read back in order and each frame is decoded by
/// its firm and handed to its file: each file gets the same bytes, in the same order, as a
/// firm's file that was open through the pass.
///
/// Why a few firms share a spool: the segments are read back from the disk (the spool file
/// bypasses the page cache, ``SpoolFile``), where each read costs about 50 µs of system time
/// whatever its size up to a few hundred KiB. A buffer per firm of 8 KiB made 130,000 reads for
/// the 999-firm book; a buffer per eight firms of 128 KiB makes about 8,000, in the same memory.
///
/// Memory: one buffer of ``segmentSize(spools:)`` (16-128 KiB, at most 16 MiB for all spools
/// together) while the pass reads (let go by ``flush()``), each firm's last line of each
/// extract, and 16 bytes per segment. Used by its processing thread only.
final class RowSpool {
  /// One firm's place in a spool: its extracts, their encoders and line coders. A frame's tag is
  /// `slot × 8 + i`, for the `i`th of `kinds`.
  final class Member {
    let slot: Int
    /// The firm's extracts and their encoders, by `i`. Kept apart so that finding an extract
    /// compares enum values only, and an encoder is used where it is, never copied (a copy
    /// retains each of its arrays: four times an account, at every account).
    let kinds: [ExtractKind]
    let encoders: [SharedRowEncoder]
    /// Each extract's line coder, by `i`.
    let deltas: [LineDeltaEncoder]

    init(slot: Int, encoders: [(kind: ExtractKind, encoder: SharedRowEncoder)]) {
      self.slot = slot
      kinds = encoders.map(\.kind)
      self.encoders = encoders.map(\.encoder)
      deltas = encoders.map { _ in LineDeltaEncoder() }
    }
  }

  /// Firms that share a spool: the files of that many firms of every processing thread are
  /// open together when the spools are read back, so it keeps them within a merged pass's
  /// budget of open files (``SnapshotPass/mergedFileBudget``): 8 firms a spool with two
  /// processing threads (80 files), fewer with more threads, at least one.
  static func firmsPerSpool(workers: Int) -> Int {
    max(1, min(8, SnapshotPass.mergedFileBudget / (max(1, workers) * ExtractKind.allCases.count)))
  }

  /// Bytes a spool gathers before they go to the spool file, when there are `spools`: 128 KiB,
  /// less when there are more than 128 spools (16 MiB in all), never under 16 KiB.
  static func segmentSize(spools: Int) -> Int {
    max(16 * 1024, min(128 * 1024, (16 << 20) / max(1, spools)))
  }

  private let file: SpoolFile
  /// Where an account's rows are encoded before they are coded into `pending`, and decoded when
  /// read back: the processing thread's, shared by its spools.
  private let scratch: ByteSink
  let segmentSize: Int
  private(set) var members: [Member] = []
  private var pending: ByteSink?
  private var segments: [(offset: Int64, count: Int)] = []

  /// Bytes in the spool file's segments so far (without their padding).
  var bytesSpooled: Int { segments.reduce(0) { $0 + $1.count } }

  init(file: SpoolFile, scratch: ByteSink, segmentSize: Int) {
    self.file = file
    self.scratch = scratch
    self.segmentSize = segmentSize
  }

  /// A place in the spool for a firm with the files `encoders` (in template order).
  func join(encoders: [(kind: ExtractKind, encoder: SharedRowEncoder)]) -> Member {
    precondition(members.count < 32 && encoders.count <= 8, "a frame's tag holds 32 firms of 8 extracts")
    let member = Member(slot: members.count, encoders: encoders)
    members.append(member)
    return member
  }

  /// Adds an account's rows of `kind` for `member` (nothing when the firm has no such file).
  func add(_ member: Member, _ kind: ExtractKind, _ rows: RowBuffer) throws(CompressionError) {
    guard !rows.isEmpty, let index = member.kinds.firstIndex(of: kind) else { return }
    scratch.removeAll()
    member.encoders[index].rows(rows, into: scratch)
    let sink = pending ?? ByteSink(capacity: segmentSize + 4 * 1024)
    pending = sink
    let frame = sink.beginFrame(tag: UInt8(member.slot << 3 | index), count: UInt32(rows.rowCount))
    member.deltas[index].encode(scratch.bytes, into: sink)
    sink.endFrame(frame)
    if sink.count >= segmentSize { try write() }
  }

  /// Appends the buffer's bytes to the spool file as a segment.
  private func write() throws(CompressionError) {
    guard let sink = pending, sink.count > 0 else { return }
    segments.append((try file.append(sink.bytes), sink.count))
    sink.removeAll()
  }

  /// After the pass: appends what the buffer holds to the spool file and lets go of the buffer.
  func flush() throws(CompressionError) {
    try write()
    pending = nil
  }

  /// Every frame added, in order: its firm's slot, extract, row count and encoded bytes (decoded;
  /// valid during the call). ``flush()`` first.
  func replay(_ body: (Int, ExtractKind, Int, UnsafeRawBufferPointer) -> Void) throws(CompressionError) {
    try flush()
    let decoders = members.map { member in member.kinds.map { _ in LineDeltaDecoder() } }
    for segment in segments {
      var rest = try file.read(at: segment.offset, count: segment.count)
      while let (frame, next) = ByteFrame.read(rest) {
        let slot = Int(frame.tag >> 3)
        let index = Int(frame.tag & 7)
        guard members.indices.contains(slot), members[slot].kinds.indices.contains(index) else { break }
        scratch.removeAll()
        guard decoders[slot][index].decode(frame.bytes, into: scratch) else { break }
        body(slot, members[slot].kinds[index], frame.count, scratch.bytes)
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
