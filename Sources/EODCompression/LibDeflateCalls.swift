// Every call into libdeflate made by this module lives in this file. It is compiled only when
// the package gives EODCompression the `CLibDeflate` system library (pkg-config `libdeflate`,
// Debian `libdeflate-dev`); otherwise zlib is the only backend.

enum LibDeflateSupport {
  #if canImport(CLibDeflate)
    static let isCompiled = true
  #else
    static let isCompiled = false
  #endif
}

#if canImport(CLibDeflate)
  import CLibDeflate

  enum LibDeflateCRC {
    /// CRC-32 (the gzip polynomial) of `bytes`, continuing from `crc` (0 to start).
    static func crc32(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
      guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
      return libdeflate_crc32(crc, base, bytes.count)
    }
  }

  /// A libdeflate compressor (raw DEFLATE, whole buffer at a time). Owns the C compressor and
  /// frees it in `deinit`. Not thread-safe: one per thread.
  final class LibDeflateCompressor: RawDeflater {
    private let compressor: OpaquePointer
    let level: Int32

    init(level: Int32) throws(CompressionError) {
      self.level = level
      guard let compressor = libdeflate_alloc_compressor(level) else {
        throw CompressionError(
          code: .zlibFailed, step: "allocating a libdeflate compressor (level \(level))",
          zlibMessage: "libdeflate_alloc_compressor returned NULL")
      }
      self.compressor = compressor
    }

    deinit { libdeflate_free_compressor(compressor) }

    func bound(_ count: Int) -> Int { libdeflate_deflate_compress_bound(compressor, count) }

    func compressAll(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
      throws(CompressionError) -> Int?
    {
      guard let outBase = output.baseAddress, output.count > 0 else { return nil }
      var empty: UInt8 = 0
      let written = withUnsafePointer(to: &empty) { emptyPointer in
        libdeflate_deflate_compress(
          compressor, input.baseAddress ?? UnsafeRawPointer(emptyPointer), input.count, outBase,
          output.count)
      }
      return written == 0 ? nil : written
    }
  }
#endif
