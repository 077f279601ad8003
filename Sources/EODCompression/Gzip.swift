/// How an output file is encoded.
public enum OutputEncoding: Sendable, Hashable, Codable, CustomStringConvertible {
  /// Deterministic gzip (RFC 1952) at a zlib compression level 0…9 (6 is zlib's and gzip's default).
  case gzip(level: Int)
  /// No compression: the bytes are written exactly as appended (for firms configured not to compress).
  case none

  /// Gzip at level 6.
  public static let defaultGzip = OutputEncoding.gzip(level: 6)

  public var description: String {
    switch self {
    case .gzip(let level): "gzip(level: \(level))"
    case .none: "none"
    }
  }
}

/// CRC-32 as used by gzip and zlib (polynomial 0xEDB88320), computed incrementally.
public struct CRC32: Sendable, Hashable {
  /// The checksum of everything given so far (0 for nothing).
  public private(set) var value: UInt32 = 0

  /// Starts an empty checksum.
  public init() {}

  /// Adds `bytes` to the checksum.
  public mutating func update(_ bytes: UnsafeRawBufferPointer) {
    // libdeflate's (carry-less multiplication where the CPU has it) is several times faster.
    #if canImport(CLibDeflate)
      value = LibDeflateCRC.crc32(value, bytes)
    #else
      value = ZlibC.crc32(value, bytes)
    #endif
  }

  /// Adds `bytes` to the checksum.
  public mutating func update(_ bytes: some Collection<UInt8>) {
    let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
    if done == nil { Array(bytes).withUnsafeBytes { update($0) } }
  }

  /// The CRC-32 of `bytes`.
  public static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
    var crc = CRC32()
    crc.update(bytes)
    return crc.value
  }
}

/// Deterministic gzip encoding: one independent gzip member per call.
///
/// Every member has the same fixed 10-byte header, so the same input, level and block size always
/// give the same bytes:
/// - ID1 ID2 = `1f 8b`, CM = 8 (deflate), FLG = 0 (no FNAME, FCOMMENT, FEXTRA, FHCRC, FTEXT);
/// - MTIME = 0 ("no time stamp available");
/// - XFL = 2 at level 9, 4 at levels 0 and 1, 0 otherwise (what zlib itself writes);
/// - OS = 3 (Unix), fixed on every platform (what `gzip -n` and `pigz -n` write on Linux).
///
/// The body is raw deflate from the chosen `DeflateBackend` (zlib: `deflateInit2` with windowBits
/// -15, memLevel 8, default strategy; or libdeflate when compiled in) and the trailer is CRC-32
/// and ISIZE, little-endian. Decompression (`Gunzip`) always uses zlib.
public enum Gzip {
  /// The OS byte written in every member header: 3 (Unix).
  public static let osByte: UInt8 = 3
  /// Size of the fixed member header.
  public static let headerSize = 10
  /// Size of the member trailer (CRC-32, ISIZE).
  public static let trailerSize = 8

  /// The zlib version in use at run time (compression output can differ between zlib versions).
  public static var zlibVersion: String { ZlibC.runtimeVersion }

  /// The XFL byte for a level, as zlib writes it.
  public static func extraFlags(level: Int) -> UInt8 {
    level == 9 ? 2 : (level < 2 ? 4 : 0)
  }

  /// The fixed 10-byte header of every member at `level`.
  public static func header(level: Int) -> [UInt8] {
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extraFlags(level: level), osByte]
  }

  /// Compresses `bytes` into one complete gzip member in memory (single-threaded), exactly as
  /// `GzipFileWriter` encodes each block with the same level and backend.
  public static func compress(
    _ bytes: [UInt8], level: Int = 6, backend: DeflateBackend = .preferred
  ) throws(CompressionError) -> [UInt8] {
    try checkLevel(level)
    let stream = try makeRawDeflater(backend, level: Int32(level))
    return try withBytes(bytes) { raw throws(CompressionError) in try member(raw, stream: stream) }
  }

  static func checkLevel(_ level: Int) throws(CompressionError) {
    guard (0...9).contains(level) else {
      throw CompressionError(
        code: .invalidConfiguration, step: "checking gzip level \(level) (must be 0…9)")
    }
  }

  /// One complete gzip member for `input`, compressed with `stream`.
  static func member(_ input: UnsafeRawBufferPointer, stream: any RawDeflater) throws(CompressionError)
    -> [UInt8]
  {
    var crc = CRC32()
    crc.update(input)
    let header = header(level: Int(stream.level))
    var capacity = headerSize + stream.bound(input.count) + trailerSize + 64
    while true {
      var failure: CompressionError?
      var fitted = false
      let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
        count = 0
        let raw = UnsafeMutableRawBufferPointer(buffer)
        raw.copyBytes(from: header)
        let body = UnsafeMutableRawBufferPointer(rebasing: raw[headerSize..<(raw.count - trailerSize)])
        let produced: Int?
        do throws(CompressionError) {
          produced = try stream.compressAll(input, into: body)
        } catch {
          failure = error
          return
        }
        guard let produced else { return }
        var offset = headerSize + produced
        for value in [crc.value, UInt32(truncatingIfNeeded: input.count)] {
          for shift in stride(from: 0, to: 32, by: 8) {
            raw[offset] = UInt8(truncatingIfNeeded: value >> UInt32(shift))
            offset += 1
          }
        }
        count = offset
        fitted = true
      }
      if let failure { throw failure }
      if fitted { return bytes }
      capacity *= 2
    }
  }
}
