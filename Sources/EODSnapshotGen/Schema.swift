import EODSnapshot

extension SnapshotGenerator {
  /// The schema-version-1 DDL of a ledger snapshot, byte for byte as the contract states it:
  /// every `CREATE TABLE`, then the `CREATE INDEX` statements. Rendered from the one description
  /// of the schema, ``SnapshotSchema`` in EODSnapshot, which the reader checks snapshots against.
  ///
  /// The generator runs the tables part before inserting rows and the indexes part after.
  public static var schemaSQL: String { SnapshotSchema.ddl }
}
