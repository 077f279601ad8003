import EODCore
import EODOps
import EODState
import Foundation
import Logging

/// Which shard of a night a `run` is: `--shard K/N`, or `--shards N` with K from
/// `JOB_COMPLETION_INDEX` (what a Kubernetes Indexed Job sets in each pod).
public struct ShardSelection: Equatable, Sendable {
  public var index: Int
  public var count: Int

  public init(index: Int, count: Int) {
    self.index = index
    self.count = count
  }

  /// The shard asked for, nil when the run is not sharded; a bad value is a usage error (64).
  public static func resolve(shard: String?, shards: Int?, environment: [String: String]) throws
    -> ShardSelection?
  {
    if let shard {
      let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
      guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, index >= 0,
        index < count
      else {
        throw RunRefusal(.usage, "--shard '\(shard)' is not K/N with 0 <= K < N (for example 0/4)")
      }
      return ShardSelection(index: index, count: count)
    }
    guard let shards else { return nil }
    guard shards >= 1 else { throw RunRefusal(.usage, "--shards \(shards): at least 1") }
    guard let text = environment["JOB_COMPLETION_INDEX"] else {
      throw RunRefusal(
        .usage,
        "--shards \(shards) takes the shard from JOB_COMPLETION_INDEX, which is not set (or give --shard K/N)"
      )
    }
    guard let index = Int(text.trimmingCharacters(in: .whitespaces)), index >= 0, index < shards else {
      throw RunRefusal(.usage, "JOB_COMPLETION_INDEX '\(text)' is not a shard index from 0 to \(shards - 1)")
    }
    return ShardSelection(index: index, count: shards)
  }

  public var description: String { "\(index)/\(count)" }
}
