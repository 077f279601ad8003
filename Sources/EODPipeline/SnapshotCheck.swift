import EODSnapshot

extension ExtractJob {
  /// Refuses a snapshot path that exists and is not a regular file (a FIFO, a directory, a
  /// device), without opening it: a command checks this before it takes the state store's lock,
  /// so a FIFO given as the snapshot never holds the lock. (The job checks again, without
  /// blocking, when it opens the file.)
  public static func checkSnapshotFile(_ path: String) throws(PipelineError) {
    do { try SnapshotFileIdentity.checkRegular(path: path) } catch { throw PipelineError(snapshot: error) }
  }
}
