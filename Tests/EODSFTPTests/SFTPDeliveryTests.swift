import EODDelivery
import EODSFTP
import Foundation
import Testing

@Suite(.serialized)
struct SFTPDeliveryTests {
  let server: TestSSHServer
  let local: String
  let base: String

  init() throws {
    server = try TestSSHServer()
    local = try makeTemporaryDirectory("local")
    base = try makeTemporaryDirectory("remote")
  }

  func destination(_ configuration: SFTPDestination.Configuration, events: EventLog? = nil) -> SFTPDestination
  {
    guard let events else { return SFTPDestination(configuration: configuration) }
    return SFTPDestination(configuration: configuration) { events.append($0) }
  }

  func deliveryError(_ body: () async throws(DeliveryError) -> [DeliveredFile]) async -> DeliveryError? {
    do {
      _ = try await body()
      return nil
    } catch {
      return error
    }
  }

  @Test func deliversEveryFileByteForByteWithTheManifestLast() async throws {
    let set = try makeSet(
      in: local, firm: "F001",
      files: [
        ("positions.csv.gz", bytes(3_000_000, seed: 1)), ("cash.csv.gz", bytes(10, seed: 2)),
        ("empty.csv.gz", []),
      ])
    let events = EventLog()
    let delivered = try await destination(configuration(for: server, base: base), events: events)
      .deliver(set, resend: false, logger: testLogger)

    #expect(
      delivered.map(\.fileName) == ["positions.csv.gz", "cash.csv.gz", "empty.csv.gz", "manifest.json"])
    #expect(delivered.allSatisfy { $0.outcome == .delivered && $0.attempts == 1 })
    #expect(events.placedOrder.last == "manifest.json")
    let directory = "\(base)/F001/2024-03-28"
    for item in set.files + [set.manifest] {
      #expect(fileBytes("\(directory)/\(item.fileName)") == fileBytes(item.localPath))
    }
    #expect(listing(directory) == ["cash.csv.gz", "empty.csv.gz", "manifest.json", "positions.csv.gz"])
    // The manifest's modification time is not before any data file's.
    let manifestDate = try #require(
      try FileManager.default.attributesOfItem(atPath: "\(directory)/manifest.json")[.modificationDate]
        as? Date)
    for item in set.files {
      let date = try #require(
        try FileManager.default.attributesOfItem(atPath: "\(directory)/\(item.fileName)")[.modificationDate]
          as? Date)
      #expect(date <= manifestDate)
    }
  }

  @Test func redeliveringTheSameSetFindsEverythingAlreadyPresent() async throws {
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(50_000, seed: 3))])
    let target = destination(configuration(for: server, base: base))
    _ = try await target.deliver(set, resend: false, logger: testLogger)
    let again = try await target.deliver(set, resend: false, logger: testLogger)
    #expect(again.map(\.outcome) == [.alreadyPresent, .alreadyPresent])
  }

  @Test func resendReplacesDifferentContent() async throws {
    let first = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(5_000, seed: 4))])
    let target = destination(configuration(for: server, base: base))
    _ = try await target.deliver(first, resend: false, logger: testLogger)
    let newBytes = bytes(7_000, seed: 5)
    let second = try makeSet(
      in: local, firm: "F001", runID: "run-2", files: [("a.csv.gz", newBytes)],
      manifest: Array("{\"v\":2}".utf8))
    let delivered = try await target.deliver(second, resend: true, logger: testLogger)
    #expect(delivered.map(\.outcome) == [.delivered, .delivered])
    #expect(fileBytes("\(base)/F001/2024-03-28/a.csv.gz") == newBytes)
    #expect(fileBytes("\(base)/F001/2024-03-28/manifest.json") == Array("{\"v\":2}".utf8))
  }

  /// A manifest in the job's layout: the run members on lines of their own.
  static func manifest(run: String, at time: String, rows: Int = 3) -> [UInt8] {
    Array(
      "{\n  \"firm_id\": \"F001\",\n  \"run_id\": \"\(run)\",\n  \"generated_at\": \"\(time)\",\n  \"files\": [{\"rows\": \(rows)}]\n}\n"
        .utf8)
  }

  /// A run killed after the server held its set and before the journal recorded it: the retry's
  /// manifest differs only in run_id and generated_at, is recognised, and nothing is sent; the
  /// manifest a consumer may have seen is left as it was. Another set's manifest is refused.
  @Test func aManifestOfTheSameSetInPlaceIsRecognisedAndAnotherIsRefused() async throws {
    let data = bytes(40_000, seed: 8)
    let events = EventLog()
    let target = destination(configuration(for: server, base: base), events: events)
    let first = try makeSet(
      in: local, firm: "F001", files: [("a.csv.gz", data)],
      manifest: Self.manifest(run: "run-1", at: "2024-03-29T01:15:00Z"))
    _ = try await target.deliver(first, resend: false, logger: testLogger)
    let directory = "\(base)/F001/2024-03-28"
    let seen = fileBytes("\(directory)/manifest.json")
    let uploads = { events.all.filter { if case .uploading = $0 { true } else { false } }.count }
    #expect(uploads() == 2)

    let retry = try makeSet(
      in: local, firm: "F001", runID: "run-2", files: [("a.csv.gz", data)],
      manifest: Self.manifest(run: "run-2", at: "2024-03-29T01:20:00Z"))
    let again = try await target.deliver(retry, resend: false, logger: testLogger)
    #expect(again.map(\.outcome) == [.alreadyPresent, .recognized])
    #expect(again.last?.sha256 == retry.manifest.sha256)
    #expect(uploads() == 2, "something was sent again")
    #expect(fileBytes("\(directory)/manifest.json") == seen, "the manifest was replaced")

    let other = try makeSet(
      in: local, firm: "F001", runID: "run-3", files: [("a.csv.gz", data)],
      manifest: Self.manifest(run: "run-3", at: "2024-03-29T01:25:00Z", rows: 4))
    let error = await deliveryError {
      () async throws(DeliveryError) in try await target.deliver(other, resend: false, logger: testLogger)
    }
    #expect(error?.code == .conflictingFile)
    #expect(error?.fileName == "manifest.json")
    let text = error.map(\.description) ?? ""
    #expect(text.contains("\(directory)/manifest.json") && text.contains("sftp://"), "\(text)")
    #expect(uploads() == 2)
    #expect(fileBytes("\(directory)/manifest.json") == seen)

    // A data file gone from beside a manifest of the same set: never sent after it.
    try FileManager.default.removeItem(atPath: "\(directory)/a.csv.gz")
    let later = try makeSet(
      in: local, firm: "F001", runID: "run-4", files: [("a.csv.gz", data)],
      manifest: Self.manifest(run: "run-4", at: "2024-03-29T01:30:00Z"))
    let missing = await deliveryError {
      () async throws(DeliveryError) in try await target.deliver(later, resend: false, logger: testLogger)
    }
    #expect(missing?.code == .conflictingFile)
    #expect(missing?.fileName == "a.csv.gz")
    #expect(listing(directory) == ["manifest.json"])
  }

  @Test func aDifferentFinalFileIsAConflictAndIsLeftAlone() async throws {
    let directory = "\(base)/F001/2024-03-28"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let other = Array("someone else's bytes".utf8)
    try Data(other).write(to: URL(fileURLWithPath: "\(directory)/b.csv.gz"))
    let set = try makeSet(
      in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 6)), ("b.csv.gz", bytes(200, seed: 7))])
    let error = await deliveryError {
      () async throws(DeliveryError) in
      try await destination(configuration(for: server, base: base)).deliver(
        set, resend: false, logger: testLogger)
    }
    #expect(error?.code == .conflictingFile)
    #expect(error?.fileName == "b.csv.gz")
    #expect(error?.completed.map(\.fileName) == ["a.csv.gz"])
    #expect(fileBytes("\(directory)/b.csv.gz") == other)
    #expect(listing(directory) == ["a.csv.gz", "b.csv.gz"])  // no manifest, no temporary file
  }

  @Test func anUnknownHostKeyIsRefusedBeforeAnythingIsSent() async throws {
    try "".write(toFile: server.knownHostsPath, atomically: true, encoding: .utf8)
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 8))])
    let error = await deliveryError {
      () async throws(DeliveryError) in
      try await destination(configuration(for: server, base: base)).deliver(
        set, resend: false, logger: testLogger)
    }
    #expect(error?.code == .hostKeyRejected)
    let detail = error?.detail ?? ""
    #expect(detail.contains("UNKNOWN HOST KEY"))
    #expect(
      detail.contains("127.0.0.1") && detail.contains("port \(server.port)") && detail.contains("ssh-ed25519")
    )
    let fingerprint = try run("/usr/bin/ssh-keygen", ["-l", "-f", server.hostKeyPath + ".pub"])
      .split(separator: " ")[1]
    #expect(detail.contains(String(fingerprint)))
    #expect(listing(base).isEmpty)
  }

  @Test func aChangedHostKeyIsRefused() async throws {
    let otherKey = try makeTemporaryDirectory("otherkey") + "/k"
    try run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherKey])
    let otherPublic = try String(contentsOfFile: otherKey + ".pub", encoding: .utf8).split(separator: " ")
      .prefix(2)
      .joined(separator: " ")
    try "[127.0.0.1]:\(server.port) \(otherPublic)\n".write(
      toFile: server.knownHostsPath, atomically: true, encoding: .utf8)
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 9))])
    let error = await deliveryError {
      () async throws(DeliveryError) in
      try await destination(configuration(for: server, base: base)).deliver(
        set, resend: false, logger: testLogger)
    }
    #expect(error?.code == .hostKeyRejected)
    #expect(error?.detail.contains("HOST KEY CHANGED") == true)
    #expect(listing(base).isEmpty)
  }

  @Test func aPlainEntryWithoutThePortDoesNotCoverANonStandardPort() async throws {
    try (server.knownHostsLine(hostForm: "127.0.0.1") + "\n").write(
      toFile: server.knownHostsPath, atomically: true, encoding: .utf8)
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 10))])
    let error = await deliveryError {
      () async throws(DeliveryError) in
      try await destination(configuration(for: server, base: base)).deliver(
        set, resend: false, logger: testLogger)
    }
    #expect(error?.code == .hostKeyRejected)
  }

  @Test func hashedEntriesAndUnparsableLinesAreHandled() async throws {
    try (server.knownHostsLine() + "\n").write(
      toFile: server.knownHostsPath, atomically: true, encoding: .utf8)
    try run("/usr/bin/ssh-keygen", ["-H", "-f", server.knownHostsPath])
    // A bad line first: libssh2's own reader would stop there and never see the hashed entry.
    let hashed = try String(contentsOfFile: server.knownHostsPath, encoding: .utf8)
    try ("garbage line that is not a key\n" + hashed).write(
      toFile: server.knownHostsPath, atomically: true, encoding: .utf8)
    let text = try String(contentsOfFile: server.knownHostsPath, encoding: .utf8)
    #expect(text.contains("|1|"))
    #expect(!text.contains("127.0.0.1"))
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 11))])
    let delivered = try await destination(configuration(for: server, base: base))
      .deliver(set, resend: false, logger: testLogger)
    #expect(delivered.count == 2)
  }

  @Test func trustOnFirstUseRecordsTheKeyOnlyWhenAskedTo() async throws {
    try "".write(toFile: server.knownHostsPath, atomically: true, encoding: .utf8)
    var config = configuration(for: server, base: base)
    config.hostKeys.trustOnFirstUse = true
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 12))])
    _ = try await destination(config).deliver(set, resend: false, logger: testLogger)
    let recorded = try String(contentsOfFile: server.knownHostsPath, encoding: .utf8)
    #expect(recorded.hasPrefix("[127.0.0.1]:\(server.port) \(try server.hostPublicKey())"))
    // Now strict mode accepts the recorded key.
    let again = try await destination(configuration(for: server, base: base))
      .deliver(set, resend: false, logger: testLogger)
    #expect(again.map(\.outcome) == [.alreadyPresent, .alreadyPresent])
  }

  @Test func aKeyTheServerDoesNotKnowFailsAuthentication() async throws {
    let otherKey = try makeTemporaryDirectory("wrongkey") + "/id_ed25519"
    try run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherKey])
    var config = configuration(for: server, base: base)
    config.identity = SFTPIdentity(privateKeyPath: otherKey)
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 13))])
    let error = await deliveryError {
      () async throws(DeliveryError) in
      try await destination(config).deliver(set, resend: false, logger: testLogger)
    }
    #expect(error?.code == .authenticationFailed)
    #expect(listing(base).isEmpty)
  }

  @Test func anEncryptedKeyWorksWithItsPassphrase() async throws {
    let keyPath = try makeTemporaryDirectory("passkey") + "/id_ed25519"
    try run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "correct horse", "-f", keyPath])
    let authorized = try String(contentsOfFile: server.directory + "/authorized_keys", encoding: .utf8)
    try (authorized + (try String(contentsOfFile: keyPath + ".pub", encoding: .utf8))).write(
      toFile: server.directory + "/authorized_keys", atomically: true, encoding: .utf8)
    var config = configuration(for: server, base: base)
    config.identity = SFTPIdentity(privateKeyPath: keyPath, passphrase: "correct horse")
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 14))])
    let delivered = try await destination(config).deliver(set, resend: false, logger: testLogger)
    #expect(delivered.count == 2)
    config.identity.passphrase = "wrong"
    let error = await deliveryError {
      () async throws(DeliveryError) in
      try await destination(config).deliver(set, resend: false, logger: testLogger)
    }
    #expect(error?.code == .configuration)
  }

  @Test func aPrivateKeyReadableByOthersIsRefused() async throws {
    chmod(server.userKeyPath, 0o644)
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 15))])
    let error = await deliveryError {
      () async throws(DeliveryError) in
      try await destination(configuration(for: server, base: base)).deliver(
        set, resend: false, logger: testLogger)
    }
    #expect(error?.code == .configuration)
    #expect(error?.detail.contains("readable by group or others") == true)
    #expect(listing(base).isEmpty)
  }

  @Test func aMissingRemoteDirectoryIsCreatedOnlyWhenAllowed() async throws {
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 16))])
    let error = await deliveryError {
      () async throws(DeliveryError) in
      try await destination(configuration(for: server, base: base, allowCreate: false))
        .deliver(set, resend: false, logger: testLogger)
    }
    #expect(error?.code == .remoteRefused)
    #expect(error?.detail.contains("does not exist") == true)
    #expect(listing(base).isEmpty)

    let delivered = try await destination(configuration(for: server, base: base, allowCreate: true))
      .deliver(set, resend: false, logger: testLogger)
    #expect(delivered.count == 2)
    #expect(listing("\(base)/F001/2024-03-28") == ["a.csv.gz", "manifest.json"])
  }

  @Test func twoFirmsToTwoDestinationsDoNotMix() async throws {
    let second = try TestSSHServer()
    let secondBase = try makeTemporaryDirectory("remote2")
    let firmA = try makeSet(in: local, firm: "A", files: [("a.csv.gz", bytes(1000, seed: 17))])
    let firmB = try makeSet(in: local, firm: "B", files: [("a.csv.gz", bytes(1000, seed: 18))])
    async let deliveredA = destination(configuration(for: server, base: base))
      .deliver(firmA, resend: false, logger: testLogger)
    async let deliveredB = destination(configuration(for: second, base: secondBase))
      .deliver(firmB, resend: false, logger: testLogger)
    let (resultA, resultB) = try await (deliveredA, deliveredB)
    #expect(resultA.count == 2 && resultB.count == 2)
    #expect(listing(base) == ["A"])
    #expect(listing(secondBase) == ["B"])
    #expect(fileBytes("\(base)/A/2024-03-28/a.csv.gz") == bytes(1000, seed: 17))
    #expect(fileBytes("\(secondBase)/B/2024-03-28/a.csv.gz") == bytes(1000, seed: 18))
  }

  @Test func aServerKilledMidUploadIsRetriedWithoutLeavingPartialFiles() async throws {
    let big = bytes(60_000_000, seed: 19)
    let set = try makeSet(in: local, firm: "F001", files: [("big.csv.gz", big)])
    let server = self.server
    let killed = EventLog()
    let events = EventLog()
    let target = SFTPDestination(configuration: configuration(for: server, base: base)) { event in
      events.append(event)
      if case .progress(_, let sent) = event, sent >= 10_000_000, killed.all.isEmpty {
        killed.append(event)
        server.killAll()
        try? server.start()
      }
    }
    let delivered = try await target.deliver(set, resend: false, logger: testLogger)
    #expect(!killed.all.isEmpty)
    #expect(delivered.first?.attempts == 2)
    #expect(events.all.contains { if case .retrying = $0 { true } else { false } })
    let directory = "\(base)/F001/2024-03-28"
    #expect(listing(directory) == ["big.csv.gz", "manifest.json"])
    #expect(fileBytes("\(directory)/big.csv.gz") == big)
  }

  @Test func aServerThatStaysDownIsUnreachableAfterTheRetries() async throws {
    server.killAll()
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 22))])
    let events = EventLog()
    let error = await deliveryError {
      () async throws(DeliveryError) in
      try await destination(configuration(for: server, base: base, maxAttempts: 3), events: events)
        .deliver(set, resend: false, logger: testLogger)
    }
    #expect(error?.code == .unreachable)
    #expect(error?.detail.contains("after 3 attempts") == true)
    // The last attempt's SFTP error is kept, typed, behind the delivery error.
    let cause = try #require(error?.cause as? SFTPError)
    #expect(error?.detail.hasPrefix(cause.description) == true)
    let retries = events.all.compactMap {
      if case .retrying(_, let n, let delay, _) = $0 { (n, delay) } else { nil }
    }
    #expect(retries.map(\.0) == [1, 2])
    #expect(retries.map(\.1) == [.milliseconds(100), .milliseconds(200)])
  }

  @Test func aStoppedServerTimesOutWithinTheBound() async throws {
    let set = try makeSet(in: local, firm: "F001", files: [("big.csv.gz", bytes(60_000_000, seed: 20))])
    let server = self.server
    let stopped = EventLog()
    let target = SFTPDestination(
      configuration: configuration(for: server, base: base, maxAttempts: 2, operationTimeout: .seconds(1))
    ) { event in
      if case .progress = event, stopped.all.isEmpty {
        stopped.append(event)
        server.signalAll(SIGSTOP)
      }
    }
    let started = ContinuousClock.now
    let error = await deliveryError {
      () async throws(DeliveryError) in try await target.deliver(set, resend: false, logger: testLogger)
    }
    let elapsed = ContinuousClock.now - started
    server.signalAll(SIGCONT)
    server.killAll()
    #expect(!stopped.all.isEmpty)
    #expect(error?.code == .timedOut)
    // Two attempts of one second each, plus a 100 ms pause and the upload before the stop.
    #expect(elapsed < .seconds(8))
    #expect(!FileManager.default.fileExists(atPath: "\(base)/F001/2024-03-28/big.csv.gz"))
  }
}

@Suite(.serialized)
struct SFTPPermissionTests {
  @Test func aReadOnlyServerRefusesWithoutRetrying() async throws {
    let server = try TestSSHServer(sftpSubsystem: "internal-sftp -R")
    let local = try makeTemporaryDirectory("local")
    let base = try makeTemporaryDirectory("remote")
    let set = try makeSet(in: local, firm: "F001", files: [("a.csv.gz", bytes(100, seed: 21))])
    let events = EventLog()
    let target = SFTPDestination(configuration: configuration(for: server, base: base)) { events.append($0) }
    // Creating the directory is refused...
    do {
      _ = try await target.deliver(set, resend: false, logger: testLogger)
      Issue.record("delivery to a read-only server succeeded")
    } catch {
      #expect(error.code == .remoteRefused)
      #expect(error.detail.contains("PERMISSION_DENIED"))
    }
    // ...and so is writing into an existing one.
    try FileManager.default.createDirectory(
      atPath: "\(base)/F001/2024-03-28", withIntermediateDirectories: true)
    do {
      _ = try await target.deliver(set, resend: false, logger: testLogger)
      Issue.record("delivery to a read-only server succeeded")
    } catch {
      #expect(error.code == .remoteRefused)
    }
    #expect(!events.all.contains { if case .retrying = $0 { true } else { false } })
    #expect(listing("\(base)/F001/2024-03-28").isEmpty)
  }
}

struct SFTPConfigurationTests {
  @Test func parsesSFTPURLs() throws {
    let url = try SFTPURL(parsing: "sftp://deliver@files.example.com:2222/incoming/eod")
    #expect(url.endpoint == SFTPEndpoint(host: "files.example.com", port: 2222, user: "deliver"))
    #expect(url.path == "/incoming/eod")
    #expect(url.description == "sftp://deliver@files.example.com:2222/incoming/eod")
    let v6 = try SFTPURL(parsing: "sftp://u@[::1]/x")
    #expect(v6.endpoint.host == "::1" && v6.endpoint.port == 22)
    #expect(v6.description == "sftp://u@[::1]:22/x")
    for bad in ["ftp://u@h/x", "sftp://h/x", "sftp://u:pw@h/x", "sftp://u@h:99999/x", "sftp://u@/x"] {
      #expect(throws: SFTPError.self) { try SFTPURL(parsing: bad) }
    }
  }

  @Test func displayNameShowsNoSecrets() throws {
    let config = try SFTPDestination.Configuration(
      url: "sftp://deliver@files.example.com:2222/incoming",
      identity: SFTPIdentity(privateKeyPath: "/keys/id_ed25519", passphrase: "hunter2"),
      hostKeys: SFTPHostKeyPolicy(knownHostsPath: "/keys/known_hosts"))
    let name = SFTPDestination(configuration: config).displayName
    #expect(name == "sftp://deliver@files.example.com:2222/incoming")
    #expect(!SFTPIdentity(privateKeyPath: "/k", passphrase: "hunter2").description.contains("hunter2"))
  }

  @Test func backoffDoublesUpToTheCapThroughTheJitter() {
    let policy = SFTPRetryPolicy(
      maxAttempts: 5, baseDelay: .seconds(1), maxDelay: .seconds(5), maxTotalTime: .seconds(60),
      jitter: { $0 / 2 })
    #expect(
      (1...5).map { policy.delay(afterFailedAttempts: $0) } == [
        .milliseconds(500), .seconds(1), .seconds(2), .milliseconds(2500), .milliseconds(2500),
      ])
    let random = SFTPRetryPolicy()
    for _ in 0..<20 {
      let delay = random.delay(afterFailedAttempts: 2)
      #expect(delay >= .seconds(2) && delay <= .seconds(4))
    }
  }
}
