import EODCore
import EODSnapshot
import EODState
import Foundation

/// Why a night cannot be sharded as asked.
public struct ShardError: Error, CustomStringConvertible, Sendable {
  public var detail: String
  public init(_ detail: String) { self.detail = detail }
  public var description: String { detail }
}

/// Splits a night's firms into shards (docs/kubernetes.md): longest processing time first, the
/// classic greedy rule for balancing jobs on machines. Each firm weighs its accounts plus its
/// positions in the snapshot (what the pass's time grows with); firms are taken heaviest first,
/// ties by firm id, and each goes to the shard with the least weight so far (ties: the lowest
/// shard). The same snapshot and firms always give the same plan.
public enum ShardPlanner {
  /// The assignments for `weights` (firm id → weight) over `shards` shards.
  public static func assign(weights: [String: Int], shards: Int) -> [ShardAssignment] {
    let order = weights.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    var loads = [Int](repeating: 0, count: max(1, shards))
    var out: [ShardAssignment] = []
    for (firm, weight) in order {
      var lightest = 0
      for index in loads.indices where loads[index] < loads[lightest] { lightest = index }
      loads[lightest] += weight
      out.append(ShardAssignment(firmID: firm, shard: lightest, weight: weight))
    }
    return out.sorted { $0.firmID < $1.firmID }
  }

  /// The plan for a snapshot: `firms` (empty: every firm of the snapshot) weighed by their
  /// accounts and positions in it; a listed firm the snapshot does not have weighs 0 (its shard
  /// reports it missing, as an unsharded run does).
  public static func plan(snapshotPath: String, firms: [String], shards: Int) throws -> StoredShardPlan {
    guard shards >= 1 else { throw ShardError("--shards must be at least 1, not \(shards)") }
    let reader = try SnapshotReader(path: snapshotPath)
    let sizes = try reader.firmSizes()
    let selected = firms.isEmpty ? try reader.firms().map(\.id) : firms
    var weights: [String: Int] = [:]
    for firm in selected {
      let size = sizes[firm] ?? (0, 0)
      weights[firm] = size.accounts + size.positions
    }
    return StoredShardPlan(
      businessDate: reader.businessDate.description, shardCount: shards,
      assignments: assign(weights: weights, shards: shards))
  }

  /// The plan for a person: one line per shard (its weight and firms).
  public static func text(_ plan: StoredShardPlan) -> String {
    var lines = ["plan \(plan.businessDate): \(plan.assignments.count) firms in \(plan.shardCount) shards"]
    for shard in 0..<plan.shardCount {
      let members = plan.assignments.filter { $0.shard == shard }
      let weight = members.reduce(0) { $0 + $1.weight }
      lines.append(
        "shard \(shard)/\(plan.shardCount): weight \(weight), \(members.count) firms: "
          + members.map(\.firmID).joined(separator: " "))
    }
    return lines.joined(separator: "\n")
  }

  /// The plan for a program: deterministic JSON (fixed key order).
  public static func json(_ plan: StoredShardPlan) -> String {
    var shards: [String] = []
    for shard in 0..<plan.shardCount {
      let members = plan.assignments.filter { $0.shard == shard }
      let firms = members.map { jsonString($0.firmID) }.joined(separator: ", ")
      shards.append(
        "    {\"shard\": \(shard), \"weight\": \(members.reduce(0) { $0 + $1.weight }), \"firms\": [\(firms)]}"
      )
    }
    let weights = plan.assignments.map { "    \(jsonString($0.firmID)): \($0.weight)" }
    return """
      {
        "business_date": "\(plan.businessDate)",
        "shard_count": \(plan.shardCount),
        "shards": [
      \(shards.joined(separator: ",\n"))
        ],
        "weights": {
      \(weights.joined(separator: ",\n"))
        }
      }
      """
  }
}

/// A JSON string literal (escaped by Foundation's encoder; slashes left as they are).
func jsonString(_ text: String) -> String {
  guard
    let data = try? JSONSerialization.data(
      withJSONObject: text, options: [.fragmentsAllowed, .withoutEscapingSlashes])
  else { return "\"\"" }
  return String(decoding: data, as: UTF8.self)
}
