import EODSnapshot
import Foundation
import Testing

/// docs/snapshot-format.md against ``SnapshotSchema``, the schema's one description: the column
/// tables of its "Tables" section (every table and column, its kind and whether it may be NULL)
/// and its DDL (every column's type, null rule, default, reference, key; every index; and the
/// whole text, byte for byte). A column added to the schema and not to the page, or the other
/// way, fails here, naming the table and the column.
@Suite struct SchemaDocumentationTests {
  /// A row of a column table: the column, its kind and its NULL cell (`yes`/`no`).
  struct DocumentedColumn: Equatable {
    var name, kind, nullable: String
  }

  /// A column as a `CREATE TABLE` declares it.
  struct DeclaredColumn: Equatable {
    var name, type: String
    var notNull, primaryKey: Bool
    var defaultValue, reference: String?
  }

  static func page() throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    return try String(contentsOf: root.appendingPathComponent("docs/snapshot-format.md"), encoding: .utf8)
  }

  /// The text between `start` (a whole line) and the next line that starts with `end`.
  static func section(_ text: String, from start: String, to end: String) throws -> [Substring] {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    let first = try #require(lines.firstIndex { $0 == start }, "the page has a line \(start)")
    let last = lines[(first + 1)...].firstIndex { $0.hasPrefix(end) } ?? lines.endIndex
    return Array(lines[(first + 1)..<last])
  }

  /// Per `### \`table\`` heading of the "Tables" section, the rows of its `| column | kind | NULL |`
  /// table; a row may name several columns (`` `firm_id`, `client_id` ``).
  static func documentedTables(_ page: String) throws -> [(table: String, columns: [DocumentedColumn])] {
    var out: [(table: String, columns: [DocumentedColumn])] = []
    var inColumns = false
    for line in try section(page, from: "## Tables", to: "## ") {
      if line.hasPrefix("### `"), let name = line.split(separator: "`").dropFirst().first {
        out.append((String(name), []))
        inColumns = false
        continue
      }
      guard line.hasPrefix("|") else {
        inColumns = false
        continue
      }
      let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().map {
        $0.trimmingCharacters(in: .whitespaces)
      }
      if cells.first == "column" {
        inColumns = true
        continue
      }
      guard inColumns, !out.isEmpty, cells.count >= 3, !cells[0].hasPrefix("---") else { continue }
      let names = cells[0].split(separator: "`", omittingEmptySubsequences: false).enumerated().filter {
        $0.offset % 2 == 1
      }.map {
        String($0.element)
      }
      for name in names {
        out[out.count - 1].columns.append(DocumentedColumn(name: name, kind: cells[1], nullable: cells[2]))
      }
    }
    return out
  }

  /// The DDL block of the page (the one ```sql block).
  static func documentedDDL(_ page: String) throws -> String {
    let blocks = page.components(separatedBy: "```sql\n")
    try #require(blocks.count == 2, "the page has one sql block")
    return try #require(blocks[1].components(separatedBy: "```").first)
  }

  /// Every `CREATE TABLE` of `ddl`: its columns as declared, and its table-level primary key.
  static func declaredTables(_ ddl: String) -> [(table: String, columns: [DeclaredColumn], key: [String])] {
    var out: [(table: String, columns: [DeclaredColumn], key: [String])] = []
    for line in ddl.split(separator: "\n") {
      let code = line.components(separatedBy: " --")[0].trimmingCharacters(in: .whitespaces)
      if code.hasPrefix("CREATE TABLE ") {
        out.append((String(code.dropFirst(13).prefix { $0 != " " }), [], []))
        continue
      }
      guard line.hasPrefix("  "), !out.isEmpty else { continue }
      if code.hasPrefix("PRIMARY KEY (") {
        let inside = code.dropFirst(13).prefix { $0 != ")" }
        out[out.count - 1].key = inside.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        continue
      }
      let words = code.split(separator: " ").map(String.init)
      guard words.count >= 2 else { continue }
      let rest = words.dropFirst(2).joined(separator: " ").trimmingCharacters(
        in: CharacterSet(charactersIn: ","))
      var column = DeclaredColumn(
        name: words[0], type: words[1].trimmingCharacters(in: CharacterSet(charactersIn: ",")),
        notNull: rest.contains("NOT NULL"), primaryKey: rest.contains("PRIMARY KEY"))
      if let range = rest.range(of: "DEFAULT ") {
        column.defaultValue = String(rest[range.upperBound...].prefix { $0 != " " })
      }
      if let range = rest.range(of: "REFERENCES ") {
        column.reference = String(rest[range.upperBound...].prefix { $0 != " " })
      }
      if column.primaryKey { out[out.count - 1].key = [column.name] }
      out[out.count - 1].columns.append(column)
    }
    return out
  }

  @Test("Every table and column of the schema is documented, with its kind and NULL rule, and no other")
  func columnTables() throws {
    let documented = try Self.documentedTables(try Self.page())
    #expect(
      documented.map(\.table) == SnapshotSchema.tables.map(\.name),
      "the page's tables (### headings of Tables) are the schema's, in its order")
    for table in SnapshotSchema.tables {
      guard let columns = documented.first(where: { $0.table == table.name })?.columns else {
        Issue.record("table \(table.name): not documented")
        continue
      }
      for column in table.columns {
        guard let doc = columns.first(where: { $0.name == column.name }) else {
          Issue.record("table \(table.name), column \(column.name): in the schema, not on the page")
          continue
        }
        #expect(doc.kind == column.kind.rawValue, "table \(table.name), column \(column.name): kind")
        #expect(
          doc.nullable == (column.nullable ? "yes" : "no"), "table \(table.name), column \(column.name): NULL"
        )
      }
      for doc in columns where table.column(doc.name) == nil {
        Issue.record("table \(table.name), column \(doc.name): on the page, not in the schema")
      }
      #expect(
        columns.map(\.name) == table.columns.map(\.name),
        "table \(table.name): the columns in the schema's order")
    }
  }

  @Test("The page's DDL declares every column as the schema does, with the same keys and indexes")
  func ddlColumns() throws {
    let ddl = try Self.documentedDDL(try Self.page())
    let declared = Self.declaredTables(ddl)
    #expect(declared.map(\.table) == SnapshotSchema.tables.map(\.name), "the DDL's tables")
    for table in SnapshotSchema.tables {
      guard let found = declared.first(where: { $0.table == table.name }) else {
        Issue.record("table \(table.name): not in the page's DDL")
        continue
      }
      #expect(found.key == table.key, "table \(table.name): primary key")
      for column in table.columns {
        guard let declaredColumn = found.columns.first(where: { $0.name == column.name }) else {
          Issue.record("table \(table.name), column \(column.name): in the schema, not in the page's DDL")
          continue
        }
        let place = "table \(table.name), column \(column.name)"
        #expect(declaredColumn.type == column.sqlType, "\(place): type")
        // A key column is never NULL (the reader refuses it) whether or not SQL says NOT NULL.
        let notNull = declaredColumn.notNull || table.key.contains(column.name)
        #expect(notNull == !column.nullable, "\(place): NULL rule")
        #expect(declaredColumn.defaultValue == column.defaultValue, "\(place): default")
        #expect(
          declaredColumn.reference == column.reference.map { "\($0.table)(\($0.column))" },
          "\(place): reference")
      }
      for declaredColumn in found.columns where table.column(declaredColumn.name) == nil {
        Issue.record(
          "table \(table.name), column \(declaredColumn.name): in the page's DDL, not in the schema")
      }
    }
    let indexLines = ddl.split(separator: "\n").filter { $0.hasPrefix("CREATE INDEX") }.map(String.init)
    #expect(indexLines == SnapshotSchema.indexesDDL.split(separator: "\n").map(String.init), "the indexes")
  }

  @Test("The page's DDL is the schema's rendered DDL, byte for byte")
  func ddlText() throws {
    let ddl = try Self.documentedDDL(try Self.page())
    let documented = ddl.components(separatedBy: "\n")
    let rendered = SnapshotSchema.ddl.components(separatedBy: "\n")
    for (index, (page, schema)) in zip(documented, rendered).enumerated() where page != schema {
      Issue.record("DDL line \(index + 1) differs:\n  page:   \(page)\n  schema: \(schema)")
      return
    }
    #expect(documented.count == rendered.count, "the DDL's lines")
  }
}
