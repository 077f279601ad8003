import EODCore
import EODState
import Foundation

/// Writes a night's performance records while the snapshot is still being read, on a thread of
/// its own, in one write transaction for the whole run.
///
/// The accounts of all firms interleave in a snapshot, so every firm's last account comes at the
/// end of the pass; writing each firm's history after that left one core writing SQLite rows for
/// about two seconds while the other had nothing to do. Here the rows are written as the firms'
/// records arrive, and at the end only what a firm's outcome decides is left:
/// - a firm that failed (during the pass or while its files were completed) has its rows of the
///   date deleted again (``undo(firm:)``), its `latest` rows falling back to the date before;
/// - a refused snapshot rolls the whole transaction back;
/// - otherwise the transaction commits once, after every firm's files are in place
///   (``NightHistory/commit()``).
///
/// Used only when nothing of the date is in the store yet (the nightly case): deleting a failed
/// firm's rows then restores exactly what was there. A re-run or a restatement, which replaces or
/// recomputes rows an earlier run wrote, has each firm's records written when the firm is
/// complete instead, in a savepoint of the same night's transaction (``NightHistory``).
///
/// `@unchecked Sendable`: `submit` from any thread; the rest on the run's thread before start()/after drain().
final class HistoryWriter: @unchecked Sendable {
  /// A processing thread's records, of any of its firms, in the order their accounts came.
  typealias Batch = [(firm: Int, record: PendingRecord)]
  /// Records a processing thread hands over at a time (one batch per thread, whatever the number
  /// of firms: a batch per firm would hold hundreds of part-filled batches at 999 firms, each
  /// cold in the cache when its firm's next account comes).
  static let batchSize = 512

  let store: any StateStoring
  let date: CivilDate
  private let firmIDs: [String]
  private let queue = HandOverQueue<Batch>(capacity: 16)
  private let finished = DispatchGroup()
  /// The store keys written per firm (to undo a firm that fails), and each firm's first error.
  private var keys: [WrittenKeys]
  private var failures: [PipelineError?]
  /// Set when the transaction itself is gone or cannot be trusted: nothing may be committed.
  private(set) var lost: PipelineError?
  private(set) var rows = 0
  private(set) var busy = Duration.zero

  /// Opens the run's write transaction on `store`.
  init(store: any StateStoring, date: CivilDate, firmIDs: [String]) throws(PipelineError) {
    self.store = store
    self.date = date
    self.firmIDs = firmIDs
    keys = Array(repeating: WrittenKeys(), count: firmIDs.count)
    failures = Array(repeating: nil, count: firmIDs.count)
    do { try store.beginWrite() } catch { throw PipelineError(state: error) }
  }

  func start() {
    finished.enter()
    Thread.detachNewThread { [self] in
      defer { finished.leave() }
      let clock = ContinuousClock()
      while let batch = queue.pop() {
        let started = clock.now
        write(batch)
        busy += clock.now - started
      }
    }
  }

  /// Hands over records (waits while the writer is far behind: memory stays bounded).
  func submit(_ batch: Batch) { queue.push(batch) }

  /// After every firm's last batch: returns when all are written (again: returns at once).
  func drain() {
    queue.close()
    finished.wait()
  }

  private func write(_ batch: Batch) {
    guard lost == nil else { return }
    do throws(StateStoreError) {
      var rows: [(record: PerformanceRecord, account: Int64)] = []
      rows.reserveCapacity(batch.count)
      // Keys the night's reads found came with the records; the batch's new accounts get theirs
      // now, all at once (one statement for a database server, not one per account or firm).
      // Records of a firm whose rows could not be written before are left out.
      let created = try store.accountKeys(
        batch.compactMap {
          failures[$0.firm] == nil && $0.record.key == nil ? ($0.record.accountID, firmIDs[$0.firm]) : nil
        })
      var next = created.makeIterator()
      for (firm, pending) in batch where failures[firm] == nil {
        guard let key = pending.key ?? next.next() else { continue }
        // Kept before the write: a write that fails half-way is undone with the rest.
        keys[firm].append(key)
        rows.append((pending.record, key))
      }
      // Nothing of this date is in the store: no earlier row or flow to replace.
      try store.save(rows)
      self.rows += rows.count
    } catch {
      // The statement holds the records of several firms: each of them fails (their rows
      // written so far are undone with the firm).
      let failure = PipelineError(state: error)
      for (firm, _) in batch where failures[firm] == nil { failures[firm] = failure }
      if !store.inTransaction {
        lost = PipelineError(
          code: .stateStore,
          detail: "the night's history transaction was ended by SQLite: \(failure.detail)", cause: failure)
      }
    }
  }

  /// The first error writing a firm's records, if any.
  func failure(firm: Int) -> PipelineError? { lost ?? failures[firm] }

  /// Deletes the rows written for a firm that failed. When that fails too, the transaction can
  /// no longer be committed (``lost``).
  func undo(firm: Int) {
    guard lost == nil else { return }
    do {
      try keys[firm].forEach { key throws(StateStoreError) in try store.deleteRecord(at: date, account: key) }
      keys[firm] = WrittenKeys()
    } catch {
      lost = PipelineError(
        code: .stateStore, firmID: firmIDs[firm],
        detail: "the rows of failed firm \(firmIDs[firm]) could not be removed: \(error)", cause: error)
    }
  }

  /// Drops everything written (a refused snapshot, or no firm completed).
  func rollback() { store.rollbackWrite() }
}

/// The store keys of a firm's written records, in the order written, each stored as its
/// difference from the key before (zigzag, 7 bits a byte). A firm's accounts come in key order
/// and their keys were given out in the order accounts first came, so the differences are small:
/// about 2 bytes a key at 999 firms, against 8 (and up to 16 in a growing array) for the keys
/// themselves. Any order of keys comes back exactly; out of order they only take more bytes.
struct WrittenKeys {
  private var bytes: [UInt8] = []
  private var last: Int64 = 0

  mutating func append(_ key: Int64) {
    let delta = key &- last
    last = key
    var zigzag = UInt64(bitPattern: (delta << 1) ^ (delta >> 63))
    while zigzag >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: zigzag) | 0x80)
      zigzag >>= 7
    }
    bytes.append(UInt8(zigzag))
  }

  /// Each key, in the order appended.
  func forEach<E: Error>(_ body: (Int64) throws(E) -> Void) throws(E) {
    var key: Int64 = 0
    var zigzag: UInt64 = 0
    var shift: UInt64 = 0
    for byte in bytes {
      zigzag |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 != 0 {
        shift += 7
        continue
      }
      key = key &+ Int64(bitPattern: (zigzag >> 1) ^ (0 &- (zigzag & 1)))
      try body(key)
      zigzag = 0
      shift = 0
    }
  }

  /// Bytes held (for tests).
  var byteCount: Int { bytes.count }
}
