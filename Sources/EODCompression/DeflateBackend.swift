/// Which DEFLATE implementation compresses gzip members.
///
/// The gzip framing (header, CRC-32, ISIZE) is the same for both; the deflate bytes differ, so a
/// file is reproducible byte for byte only with the same backend (and library version), level and
/// block size. Both are deterministic.
public enum DeflateBackend: Sendable, Hashable, CustomStringConvertible {
  /// zlib's `deflate` (raw, windowBits -15, memLevel 8, default strategy). Always available.
  case zlib
  /// libdeflate's whole-buffer compressor: about 2× faster than zlib at level 6 with smaller
  /// output. Available only when the module is built with the `CLibDeflate` system library.
  case libdeflate

  /// True when this backend is compiled into the module.
  public var isAvailable: Bool {
    switch self {
    case .zlib: true
    case .libdeflate: LibDeflateSupport.isCompiled
    }
  }

  /// The fastest available backend: libdeflate when compiled in, otherwise zlib.
  public static var preferred: DeflateBackend { LibDeflateSupport.isCompiled ? .libdeflate : .zlib }

  public var description: String {
    switch self {
    case .zlib: "zlib"
    case .libdeflate: "libdeflate"
    }
  }
}

/// A whole-buffer raw-deflate compressor for one thread, reusable across blocks.
protocol RawDeflater: AnyObject {
  /// The compression level, 0…9.
  var level: Int32 { get }
  /// An upper bound on the raw deflate output for `count` input bytes.
  func bound(_ count: Int) -> Int
  /// Compresses all of `input` as one complete raw deflate stream into `output`; the number of
  /// bytes written, or nil when `output` is too small.
  func compressAll(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
    throws(CompressionError) -> Int?
}

extension DeflateStream: RawDeflater {}

/// Makes a compressor for `backend` at `level` (already checked to be 0…9).
func makeRawDeflater(_ backend: DeflateBackend, level: Int32) throws(CompressionError) -> any RawDeflater {
  switch backend {
  case .zlib:
    return try DeflateStream(level: level)
  case .libdeflate:
    #if canImport(CLibDeflate)
      return try LibDeflateCompressor(level: level)
    #else
      throw CompressionError(
        code: .invalidConfiguration,
        step: "choosing the libdeflate backend: this build has no CLibDeflate (use .zlib)")
    #endif
  }
}
