import EODOps
import Foundation

/// The output directory, checked before anything is read: an existing directory this process can
/// write in, or a path whose nearest existing folder is one (the night creates it).
public enum OutputDirectoryCheck {
  public static func check(_ path: String) throws(RunRefusal) {
    var info = stat()
    if stat(path, &info) == 0 {
      guard (info.st_mode & S_IFMT) == S_IFDIR else {
        throw RunRefusal(.nothingDone, "output directory \(path): is not a directory")
      }
      guard access(path, W_OK | X_OK) == 0 else {
        throw RunRefusal(.nothingDone, "output directory \(path): \(String(cString: strerror(errno)))")
      }
      return
    }
    guard errno == ENOENT || errno == ENOTDIR else {
      throw RunRefusal(.nothingDone, "output directory \(path): \(String(cString: strerror(errno)))")
    }
    // Missing: the run creates it, so its nearest existing folder must allow that.
    var folder = PathName.parent(of: path)
    while stat(folder, &info) != 0 {
      guard errno == ENOENT || errno == ENOTDIR, folder != "/", folder != "." else {
        throw RunRefusal(
          .nothingDone, "output directory \(path): \(folder): \(String(cString: strerror(errno)))")
      }
      folder = PathName.parent(of: folder)
    }
    guard (info.st_mode & S_IFMT) == S_IFDIR else {
      throw RunRefusal(.nothingDone, "output directory \(path): \(folder) is not a directory")
    }
    guard access(folder, W_OK | X_OK) == 0 else {
      throw RunRefusal(
        .nothingDone,
        "output directory \(path): cannot create it in \(folder): \(String(cString: strerror(errno)))")
    }
  }
}
