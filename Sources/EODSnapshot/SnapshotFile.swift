import EODSQLite

#if canImport(Glibc)
  import Glibc
#endif

/// What identifies one state of a snapshot file: the file (device, inode), its size and
/// modification time, SQLite's file change counter (header bytes 24-27, raised by every commit in
/// rollback-journal mode), and the size and modification time of a `-wal` file beside it (commits
/// in WAL mode go there). Two reads of the same file that give equal identities read the same
/// state; any write to the file, its WAL, or a replacement of the path changes it.
public struct SnapshotFileIdentity: Equatable, Sendable, CustomStringConvertible {
  var device: UInt64
  var inode: UInt64
  var size: Int64
  var modified: Int64
  var changeCounter: UInt32
  var walSize: Int64
  var walModified: Int64

  public var description: String {
    "inode \(inode), \(size) bytes, mtime \(modified) ns, change counter \(changeCounter), WAL \(walSize) bytes"
  }

  /// The identity of the file at `path` now, its change counter read through `connection` (no
  /// descriptor is opened here: closing one would drop the process's POSIX locks on the file,
  /// SQLite's read locks included). A path that is not a regular file is refused.
  static func current(path: String, connection: SQLiteConnection) throws(SnapshotError)
    -> SnapshotFileIdentity
  {
    var info = stat()
    guard stat(path, &info) == 0 else {
      let reason = String(cString: strerror(errno))
      throw SnapshotError(code: .unreadable, path: path, detail: "cannot stat: \(reason)")
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      throw SnapshotError(
        code: .notRegularFile, path: path,
        detail: "is \(kind(info.st_mode)), not a regular file: a snapshot must be a regular file")
    }
    var counter: UInt32 = 0
    if let header = connection.readFileBytes(count: 28) {
      counter = header[24...27].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
    var wal = stat()
    // An empty WAL (a reader may create one) is no WAL: its time does not count.
    let hasWAL = stat(path + "-wal", &wal) == 0 && wal.st_size > 0
    return SnapshotFileIdentity(
      device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
      modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
      changeCounter: counter, walSize: hasWAL ? Int64(wal.st_size) : 0,
      walModified: hasWAL ? Int64(wal.st_mtim.tv_sec) * 1_000_000_000 + Int64(wal.st_mtim.tv_nsec) : 0)
  }

  /// Refuses a path that exists and is not a regular file, without opening it (`stat` never
  /// blocks, where opening a FIFO would). A missing file passes here and is refused when opened.
  public static func checkRegular(path: String) throws(SnapshotError) {
    var info = stat()
    guard stat(path, &info) == 0 else { return }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      throw SnapshotError(
        code: .notRegularFile, path: path,
        detail: "is \(kind(info.st_mode)), not a regular file: a snapshot must be a regular file")
    }
  }

  static func kind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFIFO: return "a FIFO (named pipe)"
    case S_IFDIR: return "a directory"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFSOCK: return "a socket"
    default: return "not a regular file"
    }
  }
}
