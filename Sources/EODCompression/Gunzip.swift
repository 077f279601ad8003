/// What a decompression saw.
public struct GunzipSummary: Sendable, Hashable {
  /// Compressed bytes read.
  public var compressedByteCount: Int64
  /// Decompressed bytes produced.
  public var decompressedByteCount: Int64
  /// Complete gzip members decoded (at least 1 on success).
  public var memberCount: Int
}

/// A small multi-member gunzip for tests and the job's self-check.
///
/// Reads one or more concatenated gzip members (as `GzipFileWriter`, `gzip`, `pigz` write them),
/// checking each member's CRC-32 and ISIZE. Strict, like `gzip -t`: empty input, input that ends
/// inside a member, and trailing bytes that are not a gzip member are errors.
public enum Gunzip {
  /// Decompresses all members of `bytes` in memory.
  public static func decompress(_ bytes: [UInt8]) throws(CompressionError) -> [UInt8] {
    var output: [UInt8] = []
    try withBytes(bytes) { raw throws(CompressionError) in
      _ = try decompress(raw) { output.append(contentsOf: $0) }
    }
    return output
  }

  /// Decompresses all members of `bytes`, handing the output to `output` in order, chunk by chunk.
  @discardableResult
  public static func decompress(
    _ bytes: UnsafeRawBufferPointer, output: (UnsafeRawBufferPointer) -> Void
  ) throws(CompressionError) -> GunzipSummary {
    let inflater = try MultiMemberInflater(path: nil)
    try inflater.feed(bytes, output)
    return try inflater.finish()
  }

  /// Decompresses the gzip file at `path` without holding it in memory, handing the output to
  /// `output` in order, chunk by chunk (for a self-check: hash it, count it, compare it).
  @discardableResult
  public static func decompressFile(
    atPath path: String, output: (UnsafeRawBufferPointer) -> Void
  ) throws(CompressionError) -> GunzipSummary {
    let inflater = try MultiMemberInflater(path: path)
    try readFileChunks(atPath: path) { chunk throws(CompressionError) in try inflater.feed(chunk, output) }
    return try inflater.finish()
  }
}

/// Inflates a stream of concatenated gzip members fed in arbitrary chunks.
final class MultiMemberInflater {
  private let stream: InflateStream
  private let buffer: UnsafeMutableRawBufferPointer
  private let path: String?
  private var inMember = false
  private var members = 0
  private var consumedTotal: Int64 = 0
  private var producedTotal: Int64 = 0

  init(path: String?, bufferSize: Int = 256 * 1024) throws(CompressionError) {
    self.path = path
    stream = try InflateStream()
    buffer = .allocate(byteCount: bufferSize, alignment: 16)
  }

  deinit { buffer.deallocate() }

  func feed(_ input: UnsafeRawBufferPointer, _ output: (UnsafeRawBufferPointer) -> Void)
    throws(CompressionError)
  {
    var offset = 0
    while true {
      let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
      let step: InflateStream.Step
      do {
        step = try stream.inflate(rest, into: buffer)
      } catch {
        throw located(error)
      }
      offset += step.consumed
      consumedTotal += Int64(step.consumed)
      if step.consumed > 0 { inMember = true }
      if step.produced > 0 {
        producedTotal += Int64(step.produced)
        output(UnsafeRawBufferPointer(rebasing: buffer[0..<step.produced]))
      }
      if step.memberEnded {
        members += 1
        inMember = false
        try stream.reset()
        if offset == input.count { return }
        continue
      }
      if step.produced == buffer.count { continue }
      if offset == input.count { return }
      if step.consumed == 0 && step.produced == 0 {
        throw CompressionError(
          code: .corruptInput,
          step: "decompressing gzip member \(members + 1): no progress at compressed offset \(consumedTotal)",
          path: path)
      }
    }
  }

  func finish() throws(CompressionError) -> GunzipSummary {
    if inMember {
      throw CompressionError(
        code: .truncatedInput,
        step: "decompressing gzip: input ended inside member \(members + 1) after \(consumedTotal) bytes",
        path: path)
    }
    if members == 0 {
      throw CompressionError(
        code: .truncatedInput, step: "decompressing gzip: input holds no gzip member", path: path)
    }
    return GunzipSummary(
      compressedByteCount: consumedTotal, decompressedByteCount: producedTotal, memberCount: members)
  }

  private func located(_ error: CompressionError) -> CompressionError {
    var error = error
    error.step = "\(error.step) (member \(members + 1), compressed offset \(consumedTotal))"
    error.path = path
    return error
  }
}

/// A gunzip fed by the caller, chunk by chunk, for a reader that also hashes and counts the
/// compressed bytes in the same pass (a verifier). Strict like ``Gunzip``.
public final class GunzipStream {
  private let inflater: MultiMemberInflater

  /// `path` only names the input in errors.
  public init(path: String?) throws(CompressionError) {
    inflater = try MultiMemberInflater(path: path)
  }

  /// Decompresses `chunk`, handing the output to `output` in order.
  public func feed(_ chunk: UnsafeRawBufferPointer, output: (UnsafeRawBufferPointer) -> Void)
    throws(CompressionError)
  {
    try inflater.feed(chunk, output)
  }

  /// Ends the input: an error when it ended inside a member or held none.
  @discardableResult
  public func finish() throws(CompressionError) -> GunzipSummary { try inflater.finish() }
}
