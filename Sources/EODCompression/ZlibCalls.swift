// Every call into zlib made by this module lives in this file.
import CZlib

/// Thin, safe-to-call wrappers over zlib's C API. Nothing outside this file calls zlib.
enum ZlibC {
  /// The zlib version this module was compiled against.
  static let headerVersion: String = ZLIB_VERSION
  /// The zlib version loaded at run time.
  static var runtimeVersion: String { String(cString: zlibVersion()) }

  private static let streamSize = Int32(MemoryLayout<z_stream>.size)

  /// zlib's words for a return code, preferring the stream's own message.
  static func message(_ code: Int32, _ stream: UnsafeMutablePointer<z_stream>?) -> String {
    if let stream, let msg = stream.pointee.msg { return String(cString: msg) }
    if let text = zError(code) { return String(cString: text) }
    return "zlib error \(code)"
  }

  /// CRC-32 (the gzip/zlib polynomial) of `bytes`, continuing from `crc` (0 to start).
  static func crc32(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
    let result = crc32_z(UInt(crc), base.assumingMemoryBound(to: Bytef.self), bytes.count)
    return UInt32(truncatingIfNeeded: result)
  }

  static func error(
    _ step: String, _ rc: Int32, _ stream: UnsafeMutablePointer<z_stream>?, code: CompressionError.Code
  ) -> CompressionError {
    CompressionError(code: code, step: step, zlibCode: rc, zlibMessage: message(rc, stream))
  }
}

/// A raw-deflate compressor (no zlib or gzip wrapper: `windowBits` -15, `memLevel` 8, default
/// strategy). Owns the C `z_stream`, which zlib requires to stay at one address, and frees it in
/// `deinit`. Reusable: every call compresses one independent, complete deflate stream.
/// Not thread-safe: one per thread.
final class DeflateStream {
  private let stream: UnsafeMutablePointer<z_stream>
  /// The zlib compression level, 0…9.
  let level: Int32

  init(level: Int32) throws(CompressionError) {
    self.level = level
    stream = .allocate(capacity: 1)
    stream.initialize(to: z_stream())
    let rc = deflateInit2_(
      stream, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZlibC.headerVersion,
      Int32(MemoryLayout<z_stream>.size))
    guard rc == Z_OK else {
      let error = ZlibC.error(
        "initialising deflate (level \(level))", rc, stream, code: .zlibFailed)
      stream.deinitialize(count: 1)
      stream.deallocate()
      throw error
    }
  }

  deinit {
    deflateEnd(stream)
    stream.deinitialize(count: 1)
    stream.deallocate()
  }

  /// An upper bound on the raw deflate output for `count` input bytes at this level.
  func bound(_ count: Int) -> Int { Int(deflateBound(stream, UInt(count))) }

  /// Compresses all of `input` as one complete raw deflate stream into `output`.
  /// Returns the number of bytes written, or nil when `output` was too small (nothing usable was
  /// produced; the caller retries with more room). `input.count` must fit in 32 bits.
  func compressAll(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
    throws(CompressionError) -> Int?
  {
    let reset = deflateReset(stream)
    guard reset == Z_OK else { throw ZlibC.error("resetting deflate", reset, stream, code: .zlibFailed) }
    guard let outBase = output.baseAddress, output.count > 0 else { return nil }
    stream.pointee.next_in = input.baseAddress.map {
      UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self))
    }
    stream.pointee.avail_in = uInt(input.count)
    stream.pointee.next_out = outBase.assumingMemoryBound(to: Bytef.self)
    stream.pointee.avail_out = uInt(min(output.count, Int(UInt32.max)))
    defer {
      stream.pointee.next_in = nil
      stream.pointee.next_out = nil
    }
    let rc = deflate(stream, Z_FINISH)
    switch rc {
    case Z_STREAM_END:
      return Int(stream.pointee.total_out)
    case Z_OK, Z_BUF_ERROR:
      return nil
    default:
      throw ZlibC.error("deflating \(input.count) bytes", rc, stream, code: .zlibFailed)
    }
  }
}

/// A gzip decompressor (`inflateInit2` with `windowBits` 31: gzip wrapper only, checks CRC-32 and
/// ISIZE). Owns the C `z_stream` and frees it in `deinit`. Not thread-safe.
final class InflateStream {
  private let stream: UnsafeMutablePointer<z_stream>

  /// The outcome of one `inflate` step.
  struct Step {
    var consumed: Int
    var produced: Int
    /// True when the current gzip member ended (trailer checked); call `reset()` before the next.
    var memberEnded: Bool
  }

  init() throws(CompressionError) {
    stream = .allocate(capacity: 1)
    stream.initialize(to: z_stream())
    let rc = inflateInit2_(
      stream, MAX_WBITS + 16, ZlibC.headerVersion, Int32(MemoryLayout<z_stream>.size))
    guard rc == Z_OK else {
      let error = ZlibC.error("initialising inflate", rc, stream, code: .zlibFailed)
      stream.deinitialize(count: 1)
      stream.deallocate()
      throw error
    }
  }

  deinit {
    inflateEnd(stream)
    stream.deinitialize(count: 1)
    stream.deallocate()
  }

  /// Makes the stream ready for the next gzip member.
  func reset() throws(CompressionError) {
    let rc = inflateReset(stream)
    guard rc == Z_OK else { throw ZlibC.error("resetting inflate", rc, stream, code: .zlibFailed) }
  }

  /// Inflates from `input` into `output` until one of them is exhausted or the member ends.
  func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
    throws(CompressionError) -> Step
  {
    let inCount = min(input.count, Int(UInt32.max))
    let outCount = min(output.count, Int(UInt32.max))
    stream.pointee.next_in = input.baseAddress.map {
      UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self))
    }
    stream.pointee.avail_in = uInt(inCount)
    stream.pointee.next_out = output.baseAddress?.assumingMemoryBound(to: Bytef.self)
    stream.pointee.avail_out = uInt(outCount)
    defer {
      stream.pointee.next_in = nil
      stream.pointee.next_out = nil
    }
    let rc = CZlib.inflate(stream, Z_NO_FLUSH)
    let step = Step(
      consumed: inCount - Int(stream.pointee.avail_in), produced: outCount - Int(stream.pointee.avail_out),
      memberEnded: rc == Z_STREAM_END)
    switch rc {
    case Z_OK, Z_STREAM_END, Z_BUF_ERROR:
      return step
    case Z_DATA_ERROR, Z_NEED_DICT:
      throw ZlibC.error("inflating gzip data", rc, stream, code: .corruptInput)
    default:
      throw ZlibC.error("inflating gzip data", rc, stream, code: .zlibFailed)
    }
  }
}
