// EODSnapshotGen
