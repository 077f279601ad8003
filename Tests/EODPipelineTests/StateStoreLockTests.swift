import EODCore
import EODPipeline
import EODSQLite
import EODState
import Foundation
import Synchronization
import Testing

/// A process's POSIX locks on the state file are what tell other processes (shards, `status`) that
/// the store is in use: closing any descriptor of the file releases them all, so a second
/// connection of the same process (a worker's) must not read the file's header itself.
@Suite struct StateStoreLockTests {
  /// The POSIX locks `/proc/locks` lists for this process on the file at `path`.
  func ownLocks(on path: String) throws -> Int {
    var info = stat()
    #expect(stat(path, &info) == 0)
    let inode = ":\(info.st_ino) "
    let pid = " \(getpid()) "
    let text = try String(contentsOfFile: "/proc/locks", encoding: .utf8)
    return text.split(separator: "\n").filter {
      $0.contains("POSIX") && $0.contains(pid) && $0.contains(inode)
    }
    .count
  }

  @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/locks")))
  func aWorkersConnectionKeepsTheProcesssLocksOnTheFile() throws {
    let scratch = try Fixtures.scratch("locks")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let path = scratch + "/state.sqlite"
    let store = try StateStore(path: path)
    _ = try store.hasRecords(at: CivilDate(dayNumber: 20_000))
    let held = try ownLocks(on: path)
    #expect(held > 0, "a WAL connection holds a shared lock on the file")
    let worker = try StateStore(anotherConnectionTo: store, cacheKibibytes: 2000)
    _ = try worker.hasRecords(at: CivilDate(dayNumber: 20_000))
    #expect(try ownLocks(on: path) >= held, "another connection keeps them")
    // What a second identify would do (why workers do not): its own descriptor's close releases
    // every lock of the process on the file.
    _ = try StateStore.identify(path: path)
    #expect(try ownLocks(on: path) == 0, "identify's close released the process's locks")
  }

  /// A store that cannot be made keeps SQLite's own error as its cause, typed (result code
  /// `SQLITE_CANTOPEN`, 14), and a pipeline error made from it reaches it through the chain.
  @Test func aStoreThatCannotBeMadeKeepsSQLitesErrorAsItsCause() throws {
    let scratch = try Fixtures.scratch("cause")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let path = scratch + "/no-such-folder/state.sqlite"
    var caught: StateStoreError?
    do { _ = try StateStore(path: path) } catch { caught = error }
    let error = try #require(caught)
    #expect(error.path == path)
    let sqlite = try #require(error.cause as? SQLiteError)
    #expect(sqlite.code & 0xff == 14)
    #expect(
      PipelineError(code: .stateStore, detail: "\(error)", cause: error).cause(as: SQLiteError.self) != nil)
    #expect(!FileManager.default.fileExists(atPath: path))
  }

  /// Shards of one night start together and may each find no store yet: every one of them must
  /// open it, whichever creates it (a store made in place is for a moment an empty file, then a
  /// SQLite file without the store's tables, which another connection refused as not a store).
  @Test func connectionsCreatingOneNewStoreAtOnceAllOpenIt() throws {
    let scratch = try Fixtures.scratch("create-race")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let threads = 6
    for round in 0..<12 {
      let path = scratch + "/state-\(round).sqlite"
      let failures = Mutex<[String]>([])
      let start = DispatchSemaphore(value: 0)
      let group = DispatchGroup()
      for _ in 0..<threads {
        group.enter()
        Thread.detachNewThread {
          start.wait()
          do {
            let store = try StateStore(path: path)
            _ = try store.hasRecords(at: CivilDate(dayNumber: 20_000))
          } catch { failures.withLock { $0.append("\(error)") } }
          group.leave()
        }
      }
      for _ in 0..<threads { start.signal() }
      group.wait()
      let all = failures.withLock { $0 }
      #expect(all.isEmpty, "round \(round): \(all)")
    }
  }
}
