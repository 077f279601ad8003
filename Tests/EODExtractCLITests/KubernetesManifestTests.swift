import Foundation
import Testing

/// deploy/kubernetes/ validated against the Kubernetes 1.31 API schemas by kubernetes-validate
/// (PyPI; scripts/setup.sh installs it). Without the tool the validation is skipped, unless
/// `EOD_REQUIRE_KUBERNETES_VALIDATE=1` (set by .ci/run), where it is a failure.
@Suite struct KubernetesManifestTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
  static var manifests: [String] {
    let folder = root + "/deploy/kubernetes"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    return names.filter { $0.hasSuffix(".yaml") }.sorted().map { folder + "/" + $0 }
  }

  /// The validator on PATH, if installed.
  static let validator: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for folder in path.split(separator: ":") {
      let candidate = "\(folder)/kubernetes-validate"
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
  }()
  static let required = ProcessInfo.processInfo.environment["EOD_REQUIRE_KUBERNETES_VALIDATE"] == "1"

  @Test(
    .enabled(
      if: validator != nil || required,
      "kubernetes-validate is not installed (scripts/setup.sh installs it); EOD_REQUIRE_KUBERNETES_VALIDATE=1 makes this a failure"
    ))
  func manifestsValidateStrictlyAgainstKubernetes131() throws {
    let validator = try #require(
      Self.validator, "kubernetes-validate is required (EOD_REQUIRE_KUBERNETES_VALIDATE=1) but not on PATH")
    let files = Self.manifests
    #expect(files.count >= 5, "deploy/kubernetes/ holds \(files)")
    let result = try Binary.run(
      program: validator, ["--strict", "--kubernetes-version", "1.31.0"] + files)
    #expect(result.status == 0, "kubernetes-validate failed:\n\(result.stdout)\n\(result.stderr)")
    #expect(!result.stdout.contains("ERROR"), "\(result.stdout)")
  }

  /// What docs/kubernetes.md promises of the night's CronJob, read from the manifest itself.
  @Test func theNightIsAnIndexedJobThatDoesNotRetryUsageOrRefusals() throws {
    let text = try String(contentsOfFile: Self.root + "/deploy/kubernetes/cronjob.yaml", encoding: .utf8)
    for line in [
      "concurrencyPolicy: Forbid", "timeZone: Europe/London", "completionMode: Indexed", "completions: 4",
      "parallelism: 4", "backoffLimitPerIndex: 2", "action: FailIndex", "values: [2, 64]", "action: Ignore",
      "type: DisruptionTarget", "readOnlyRootFilesystem: true", "runAsNonRoot: true",
      "\"--shards\", \"4\", \"--finalize-if-last\"",
    ] {
      #expect(text.contains(line), "cronjob.yaml lacks \(line)")
    }
    let config = try String(contentsOfFile: Self.root + "/deploy/kubernetes/configmap.yaml", encoding: .utf8)
    #expect(config.contains("state_store: postgres://"))
    #expect(!config.contains("password:"), "no password in the ConfigMap")
    // The schema is migrated before the night and the plan, on the store the configuration names.
    let url = try #require(
      config.split(separator: "\n").first {
        $0.trimmingCharacters(in: .whitespaces).hasPrefix("state_store: postgres://")
      }?
      .split(separator: " ").last.map(String.init))
    for file in ["cronjob.yaml", "plan-cronjob.yaml"] {
      let manifest = try String(contentsOfFile: Self.root + "/deploy/kubernetes/" + file, encoding: .utf8)
      #expect(
        manifest.contains("initContainers:")
          && manifest.contains("args: [\"migrate-state\", \"--state\", \"\(url)\"]"),
        "\(file) lacks the migrate-state init container on \(url)")
    }
  }
}
