import EODCompression
import Foundation
import Testing

/// A fresh directory under the system temporary directory, removed by `cleanUp()`.
struct TempDir {
  let url: URL

  init() throws {
    url = FileManager.default.temporaryDirectory
      .appendingPathComponent("eod-compression-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  func path(_ name: String) -> String { url.appendingPathComponent(name).path }

  func cleanUp() { try? FileManager.default.removeItem(at: url) }
}

/// The result of running a real program.
struct ProgramResult {
  var status: Int32
  var stdout: [UInt8]
  var stderr: String
}

/// Runs a program to completion, capturing stdout and stderr through files (no pipe deadlocks).
func runProgram(_ executable: String, _ arguments: [String], in dir: TempDir) throws -> ProgramResult {
  let outPath = dir.path("stdout-\(UUID().uuidString)")
  let errPath = dir.path("stderr-\(UUID().uuidString)")
  _ = FileManager.default.createFile(atPath: outPath, contents: nil)
  _ = FileManager.default.createFile(atPath: errPath, contents: nil)
  let out = try #require(FileHandle(forWritingAtPath: outPath))
  let err = try #require(FileHandle(forWritingAtPath: errPath))
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  process.standardOutput = out
  process.standardError = err
  process.standardInput = FileHandle.nullDevice
  try process.run()
  process.waitUntilExit()
  try out.close()
  try err.close()
  let stdout = try [UInt8](Data(contentsOf: URL(fileURLWithPath: outPath)))
  let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
  try? FileManager.default.removeItem(atPath: outPath)
  try? FileManager.default.removeItem(atPath: errPath)
  return ProgramResult(status: process.terminationStatus, stdout: stdout, stderr: stderr)
}

/// Decompresses with `/usr/bin/gzip -dc`.
func gzipDecompress(_ path: String, in dir: TempDir) throws -> [UInt8] {
  let result = try runProgram("/usr/bin/gzip", ["-dc", path], in: dir)
  #expect(result.status == 0, "gzip -dc failed: \(result.stderr)")
  return result.stdout
}

/// Checks with `/usr/bin/gzip -t`.
func gzipTest(_ path: String, in dir: TempDir) throws -> ProgramResult {
  try runProgram("/usr/bin/gzip", ["-t", path], in: dir)
}

/// Decompresses with Python's gzip module.
func pythonDecompress(_ path: String, in dir: TempDir) throws -> [UInt8] {
  let script = "import gzip,sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())"
  let result = try runProgram("/usr/bin/env", ["python3", "-c", script, path], in: dir)
  #expect(result.status == 0, "python3 gzip failed: \(result.stderr)")
  return result.stdout
}

func readFile(_ path: String) throws -> [UInt8] { try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) }

/// Deterministic CSV-like text: `count` bytes of rows with ids, dates, decimals and names.
func csvLikeBytes(_ count: Int, seed: UInt64 = 42) -> [UInt8] {
  var state = seed
  func next() -> UInt64 {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return state >> 33
  }
  let names = ["ACME CORP", "Globex", "Initech AG", "Umbrella plc", "Stark Industries", "Wayne Ent."]
  var bytes: [UInt8] = []
  bytes.reserveCapacity(count + 200)
  bytes.append(contentsOf: Array("account_id,instrument_id,as_of,quantity,price,market_value,name\n".utf8))
  var row = 0
  while bytes.count < count {
    row += 1
    let line =
      "ACC\(100_000 + Int(next() % 5000)),ISIN\(Int(next() % 90_000) + 10_000),2024-06-\(10 + row % 20),"
      + "\(next() % 100_000).\(next() % 10_000),\(next() % 1000).\(next() % 100),"
      + "\(next() % 10_000_000).\(next() % 100),\(names[Int(next() % UInt64(names.count))])\n"
    bytes.append(contentsOf: Array(line.utf8))
  }
  return Array(bytes.prefix(count))
}

/// Writes `input` through a `GzipFileWriter`, appending in chunks of `chunk` bytes.
@discardableResult
func writeFile(
  _ input: [UInt8], to path: String, configuration: GzipFileWriter.Configuration, chunk: Int = 10_000,
  onOutput: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil
) throws -> GzipFileWriter.Summary {
  let writer = try GzipFileWriter(path: path, configuration: configuration, onOutput: onOutput)
  var offset = 0
  while offset < input.count {
    let end = min(input.count, offset + chunk)
    try writer.append(input[offset..<end])
    offset = end
  }
  return try writer.finish()
}

/// Splits `input` into blocks of `blockSize` and gzips each as one member: the expected file.
func expectedMembers(
  _ input: [UInt8], blockSize: Int, level: Int, backend: DeflateBackend = .preferred
) throws -> [UInt8] {
  if input.isEmpty { return try Gzip.compress([], level: level, backend: backend) }
  var out: [UInt8] = []
  var offset = 0
  while offset < input.count {
    let end = min(input.count, offset + blockSize)
    out += try Gzip.compress(Array(input[offset..<end]), level: level, backend: backend)
    offset = end
  }
  return out
}

/// The deflate backends compiled into this build (zlib always; libdeflate when linked).
let availableBackends = [DeflateBackend.zlib, .libdeflate].filter(\.isAvailable)

/// Collects bytes from `onOutput` (called from worker threads, never concurrently).
final class ByteCollector: @unchecked Sendable {
  private let lock = NSLock()
  private var storage: [UInt8] = []
  private var chunks = 0

  var bytes: [UInt8] { lock.withLock { storage } }
  var chunkCount: Int { lock.withLock { chunks } }

  var callback: @Sendable (UnsafeRawBufferPointer) -> Void {
    { [self] raw in
      lock.withLock {
        storage.append(contentsOf: raw)
        chunks += 1
      }
    }
  }
}
