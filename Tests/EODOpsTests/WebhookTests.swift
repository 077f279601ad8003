import Foundation
import Logging
import Synchronization
import Testing

@testable import EODOps

/// Records requested waits instead of sleeping.
final class SleepRecorder: Sendable {
  private let storage = Mutex<[Duration]>([])
  var waits: [Duration] { storage.withLock { $0 } }
  func record(_ duration: Duration) { storage.withLock { $0.append(duration) } }
}

/// A fake wall clock that advances only when slept on.
final class FakeClock: Sendable {
  private let storage: Mutex<Date>
  init(_ start: Date) { storage = Mutex(start) }
  var now: Date { storage.withLock { $0 } }
  func advance(_ duration: Duration) {
    storage.withLock { $0 = $0.addingTimeInterval(Double(duration.components.seconds)) }
  }
}

/// A transport answering from a script, without a network.
final class ScriptedTransport: WebhookTransport {
  let responses: Mutex<[Result<WebhookHTTPResponse, URLError>]>
  let calls = Mutex<Int>(0)

  init(_ responses: [Result<WebhookHTTPResponse, URLError>]) { self.responses = Mutex(responses) }

  func post(url: URL, headers: [String: String], body: Data, timeout: Duration) async throws
    -> WebhookHTTPResponse
  {
    calls.withLock { $0 += 1 }
    let next = responses.withLock {
      $0.isEmpty ? .success(WebhookHTTPResponse(status: 500, headers: [:])) : $0.removeFirst()
    }
    return try next.get()
  }
}

@Suite struct WebhookTests {
  let logger = Logger(label: "test")
  let manifest = Data(
    #"{"firm_id":"F001","business_date":"2025-01-02","files":[{"name":"positions.csv.gz","rows":3}]}"#.utf8)

  func hmacHex(secret: String, timestamp: String, body: Data) throws -> String {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let bodyFile = dir.file("body")
    try body.write(to: URL(fileURLWithPath: bodyFile))
    let script =
      "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode()+b'.'+open(sys.argv[3],'rb').read(), hashlib.sha256).hexdigest())"
    let result = try run("/usr/bin/env", ["python3", "-c", script, secret, timestamp, bodyFile])
    try #require(result.status == 0, "python3 is needed to verify the HMAC independently")
    return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// A real local HTTP server answers 500, then 429 with Retry-After: 1, then 200.
  @Test func retriesAgainstRealServerHonouringRetryAfter() async throws {
    // Real waits are measured: on an executor of its own (see DedicatedExecutor).
    try await withTaskExecutorPreference(DedicatedExecutor.shared) {
      let server = try TestHTTPServer(responses: [
        .init(status: 500, body: "boom"),
        .init(status: 429, headers: ["Retry-After": "1"]),
        .init(status: 200, body: "ok"),
      ])
      defer { server.stop() }
      let recorder = SleepRecorder()
      let sender = WebhookSender(
        policy: WebhookRetryPolicy(
          maxAttempts: 5, baseDelay: .milliseconds(100), maxDelay: .seconds(2), totalTimeout: .seconds(120),
          requestTimeout: .seconds(5)),
        transport: URLSessionWebhookTransport(addresses: .allowAll),  // the server is on loopback
        sleep: { recorder.record($0) })
      let secret = "s3cret-key"
      let event = try WebhookEvent.delivered(
        firmID: "F001", businessDate: "2025-01-02", runID: "run-42", manifestJSON: manifest)
      let outcome = await sender.send(
        event, to: WebhookEndpoint(url: try server.url, secret: Array(secret.utf8)), logger: logger)

      #expect(outcome.succeeded)
      #expect(outcome.attempts.map(\.status) == [500, 429, 200])
      let requests = server.requests
      #expect(requests.count == 3)
      // Backoff after the 500: within the upper half of the base delay; after the 429: exactly Retry-After.
      let waits = recorder.waits
      #expect(waits.count == 2)
      if waits.count == 2 {
        #expect(waits[0] >= .milliseconds(50) && waits[0] <= .milliseconds(100))
        #expect(waits[1] == .seconds(1))
      }
      for request in requests {
        #expect(request.method == "POST")
        #expect(request.path == "/hooks/eod")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["webhook-id"] == event.id)
        let timestamp = try #require(request.headers["webhook-timestamp"])
        let seconds = try #require(Int64(timestamp))
        #expect(abs(Double(seconds) - Date().timeIntervalSince1970) < 60)
        let expected = try hmacHex(secret: secret, timestamp: timestamp, body: request.body)
        #expect(request.headers["webhook-signature"] == "v1=" + expected)
        #expect(request.body == event.body())
      }
      // The body is JSON carrying the complete manifest.
      let lastBody = try #require(requests.last).body
      let object = try #require(try JSONSerialization.jsonObject(with: lastBody) as? [String: Any])
      #expect(object["type"] as? String == "extract.delivered")
      #expect(object["firm_id"] as? String == "F001")
      #expect(object["business_date"] as? String == "2025-01-02")
      #expect(object["run_id"] as? String == "run-42")
      let embedded = try #require(object["manifest"] as? [String: Any])
      #expect((embedded["files"] as? [Any])?.count == 1)
    }
  }

  /// A tampered body does not verify against the header: the test's HMAC is meaningful.
  @Test func signatureCoversTimestampAndBody() throws {
    let body = Data(#"{"a":1}"#.utf8)
    let header = WebhookSignature.header(secret: Array("k".utf8), timestamp: 1_700_000_000, body: body)
    #expect(header == "v1=" + (try hmacHex(secret: "k", timestamp: "1700000000", body: body)))
    #expect(header != "v1=" + (try hmacHex(secret: "k", timestamp: "1700000001", body: body)))
    #expect(
      header != "v1=" + (try hmacHex(secret: "k", timestamp: "1700000000", body: Data(#"{"a":2}"#.utf8))))
  }

  /// A sharded night's fan-in: `night.completed` / `night.incomplete` carry the summary verbatim
  /// and no `firm_id` (the night is every firm's); a summary that is not a JSON object is refused.
  @Test func nightEventsCarryTheSummaryAndNoFirm() throws {
    let summary = Data(#"{"business_date":"2026-10-01","complete":false,"missing":["FIRM002"]}"#.utf8)
    let event = try WebhookEvent.night(
      businessDate: "2026-10-01", runID: "r1", summaryJSON: summary, complete: false, id: "e1",
      occurredAt: Date(timeIntervalSince1970: 0))
    #expect(event.kind == .nightIncomplete)
    let body = String(decoding: event.body(), as: UTF8.self)
    #expect(
      body
        == #"{"id":"e1","type":"night.incomplete","occurred_at":"1970-01-01T00:00:00.000Z","business_date":"2026-10-01","run_id":"r1","night":{"business_date":"2026-10-01","complete":false,"missing":["FIRM002"]}}"#
    )
    let complete = try WebhookEvent.night(
      businessDate: "2026-10-01", runID: "r1", summaryJSON: summary, complete: true)
    #expect(complete.kind == .nightCompleted)
    #expect(throws: WebhookEventError.self) {
      try WebhookEvent.night(
        businessDate: "2026-10-01", runID: "r1", summaryJSON: Data("[1]".utf8), complete: true)
    }
  }

  /// A transport failure is logged and reported in words ("connection refused"), never as a raw
  /// `NSURLErrorDomain Code=-1004`.
  @Test func aRefusedConnectionIsSaidInWords() async throws {
    // On an executor of its own (see DedicatedExecutor): under load the shared threads can be
    // held long enough to use up the time bound before the one attempt is made.
    try await withTaskExecutorPreference(DedicatedExecutor.shared) {
      // Port 1 (tcpmux): nothing listens there, and no test binds it (a port freed by a stopped
      // test server could be taken again by another test's server meanwhile).
      let url = try #require(URL(string: "http://127.0.0.1:1/hooks/eod"))
      let sender = WebhookSender(
        policy: WebhookRetryPolicy(maxAttempts: 1, baseDelay: .milliseconds(10), totalTimeout: .seconds(120)),
        transport: URLSessionWebhookTransport(addresses: .allowAll))
      let event = WebhookEvent.failed(
        firmID: "F002", businessDate: "2025-01-02", runID: "run-1",
        problem: ProblemDetails(
          type: ProblemDetails.typeURI(code: "delivery-failed"), title: "Delivery failed", status: 502,
          detail: "x", runID: "run-1", firmID: "F002"))
      let outcome = await sender.send(event, to: WebhookEndpoint(url: url, secret: [1]), logger: logger)
      #expect(!outcome.succeeded)
      let error = outcome.attempts.first?.error ?? ""
      #expect(error.contains("connection refused"), "\(outcome)")
      #expect(!error.contains("NSURLErrorDomain") && !error.contains("Code="), "\(error)")
    }
  }

  @Test func realRetryAfterWaitWithRealSleep() async throws {
    // Real waits are measured: on an executor of its own (see DedicatedExecutor).
    try await withTaskExecutorPreference(DedicatedExecutor.shared) {
      let server = try TestHTTPServer(responses: [
        .init(status: 503, headers: ["Retry-After": "1"]), .init(status: 204),
      ])
      defer { server.stop() }
      let sender = WebhookSender(
        policy: WebhookRetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), totalTimeout: .seconds(120)),
        transport: URLSessionWebhookTransport(addresses: .allowAll))
      let event = WebhookEvent.failed(
        firmID: "F002", businessDate: "2025-01-02", runID: "run-1",
        problem: ProblemDetails(
          type: ProblemDetails.typeURI(code: "delivery-failed"), title: "Delivery failed", status: 502,
          detail: "sftp: connection refused", runID: "run-1", firmID: "F002"))
      let outcome = await sender.send(
        event, to: WebhookEndpoint(url: try server.url, secret: [1, 2, 3]), logger: logger)
      #expect(outcome.succeeded)
      let requests = server.requests
      #expect(requests.count == 2)
      if requests.count == 2 {
        #expect(requests[1].receivedAt.timeIntervalSince(requests[0].receivedAt) >= 0.95)
      }
      let firstBody = try #require(requests.first).body
      let object = try #require(try JSONSerialization.jsonObject(with: firstBody) as? [String: Any])
      #expect(object["type"] as? String == "extract.failed")
      let problem = try #require(object["problem"] as? [String: Any])
      #expect(problem["type"] as? String == "urn:eod-extract:problem:delivery-failed")
      #expect(problem["title"] as? String == "Delivery failed")
      #expect(problem["status"] as? Int == 502)
      #expect(problem["detail"] as? String == "sftp: connection refused")
      #expect(problem["instance"] as? String == "urn:eod-extract:run:run-1:firm:F002")
      #expect(problem["run_id"] as? String == "run-1")
      #expect(problem["firm_id"] as? String == "F002")
    }
  }

  @Test func clientErrorIsPermanent() async throws {
    let server = try TestHTTPServer(responses: [.init(status: 400), .init(status: 200)])
    defer { server.stop() }
    let recorder = SleepRecorder()
    let sender = WebhookSender(
      transport: URLSessionWebhookTransport(addresses: .allowAll), sleep: { recorder.record($0) })
    let event = try WebhookEvent.delivered(
      firmID: "F1", businessDate: "2025-01-02", runID: "r", manifestJSON: manifest)
    let outcome = await sender.send(
      event, to: WebhookEndpoint(url: try server.url, secret: [9]), logger: logger)
    guard case .failure(let failure) = outcome.result else {
      Issue.record("a 400 must fail")
      return
    }
    #expect(failure.code == .rejected)
    #expect(failure.lastStatus == 400)
    #expect(server.requests.count == 1)
    #expect(recorder.waits.isEmpty)
  }

  @Test func timeoutAndTooManyRequestsAreRetried() async throws {
    let transport = ScriptedTransport([
      .success(WebhookHTTPResponse(status: 408, headers: [:])),
      .success(WebhookHTTPResponse(status: 429, headers: [:])),
      .failure(URLError(.networkConnectionLost)),
      .success(WebhookHTTPResponse(status: 202, headers: [:])),
    ])
    let recorder = SleepRecorder()
    let sender = WebhookSender(
      policy: WebhookRetryPolicy(maxAttempts: 4, baseDelay: .seconds(1), maxDelay: .seconds(3)),
      transport: transport, sleep: { recorder.record($0) }, random: { 0.999 })
    let event = try WebhookEvent.delivered(
      firmID: "F1", businessDate: "2025-01-02", runID: "r", manifestJSON: manifest)
    let outcome = await sender.send(
      event, to: WebhookEndpoint(url: try #require(URL(string: "https://example.invalid/h")), secret: [1]),
      logger: logger)
    #expect(outcome.succeeded)
    #expect(outcome.attempts.count == 4)
    #expect(outcome.attempts[2].error != nil)
    // Exponential (1 s, 2 s, then capped at 3 s), each in the upper half, near the top with random≈1.
    let waits = recorder.waits.map {
      Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18
    }
    #expect(waits.count == 3)
    if waits.count == 3 {
      #expect(abs(waits[0] - 1) < 0.01 && abs(waits[1] - 2) < 0.01 && abs(waits[2] - 3) < 0.01)
    }
  }

  @Test func attemptsAreBounded() async throws {
    let transport = ScriptedTransport(
      Array(repeating: .success(WebhookHTTPResponse(status: 502, headers: [:])), count: 10))
    let sender = WebhookSender(
      policy: WebhookRetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1)), transport: transport,
      sleep: { _ in })
    let event = try WebhookEvent.delivered(
      firmID: "F1", businessDate: "2025-01-02", runID: "r", manifestJSON: manifest)
    let outcome = await sender.send(
      event, to: WebhookEndpoint(url: try #require(URL(string: "http://x.invalid/")), secret: [1]),
      logger: logger)
    guard case .failure(let failure) = outcome.result else {
      Issue.record("must fail")
      return
    }
    #expect(failure.code == .attemptsExhausted)
    #expect(failure.attempts == 3)
    #expect(transport.calls.withLock { $0 } == 3)
  }

  @Test func retryAfterBeyondTotalTimeStopsWithoutWaiting() async throws {
    let clock = FakeClock(Date(timeIntervalSince1970: 1_700_000_000))
    let transport = ScriptedTransport([
      .success(WebhookHTTPResponse(status: 503, headers: ["Retry-After": "120"])),
      .success(WebhookHTTPResponse(status: 200, headers: [:])),
    ])
    let recorder = SleepRecorder()
    let sender = WebhookSender(
      policy: WebhookRetryPolicy(maxAttempts: 5, totalTimeout: .seconds(60)), transport: transport,
      now: { clock.now },
      sleep: {
        recorder.record($0); clock.advance($0)
      })
    let event = try WebhookEvent.delivered(
      firmID: "F1", businessDate: "2025-01-02", runID: "r", manifestJSON: manifest)
    let outcome = await sender.send(
      event, to: WebhookEndpoint(url: try #require(URL(string: "http://x.invalid/")), secret: [1]),
      logger: logger)
    guard case .failure(let failure) = outcome.result else {
      Issue.record("must fail")
      return
    }
    #expect(failure.code == .timeBudgetExhausted)
    #expect(failure.lastStatus == 503)
    #expect(recorder.waits.isEmpty)
  }

  @Test func totalTimeBoundsManyBackoffs() async throws {
    let clock = FakeClock(Date(timeIntervalSince1970: 1_700_000_000))
    let transport = ScriptedTransport(
      Array(repeating: .success(WebhookHTTPResponse(status: 500, headers: [:])), count: 50))
    let sender = WebhookSender(
      policy: WebhookRetryPolicy(
        maxAttempts: 50, baseDelay: .seconds(10), maxDelay: .seconds(40), totalTimeout: .seconds(100)),
      transport: transport, now: { clock.now }, sleep: { clock.advance($0) }, random: { 0.999 })
    let event = try WebhookEvent.delivered(
      firmID: "F1", businessDate: "2025-01-02", runID: "r", manifestJSON: manifest)
    let outcome = await sender.send(
      event, to: WebhookEndpoint(url: try #require(URL(string: "http://x.invalid/")), secret: [1]),
      logger: logger)
    #expect(!outcome.succeeded)
    #expect(clock.now.timeIntervalSince1970 - 1_700_000_000 < 100)
    #expect(transport.calls.withLock { $0 } < 10)
  }

  @Test func connectionRefusedIsRetriedThenFails() async throws {
    // Find a free port by opening and closing a server.
    let probe = try TestHTTPServer(responses: [])
    let url = try probe.url
    probe.stop()
    try await Task.sleep(for: .milliseconds(200))
    let recorder = SleepRecorder()
    let sender = WebhookSender(
      policy: WebhookRetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1), requestTimeout: .seconds(2)),
      transport: URLSessionWebhookTransport(addresses: .allowAll), sleep: { recorder.record($0) })
    let event = try WebhookEvent.delivered(
      firmID: "F1", businessDate: "2025-01-02", runID: "r", manifestJSON: manifest)
    let outcome = await sender.send(event, to: WebhookEndpoint(url: url, secret: [1]), logger: logger)
    guard case .failure(let failure) = outcome.result else {
      Issue.record("must fail")
      return
    }
    #expect(failure.code == .attemptsExhausted)
    #expect(outcome.attempts.count == 3)
    #expect(outcome.attempts.allSatisfy { $0.status == nil && $0.error != nil })
    #expect(recorder.waits.count == 2)
  }

  @Test func nonHTTPEndpointIsRefused() async throws {
    let sender = WebhookSender(sleep: { _ in })
    let event = try WebhookEvent.delivered(
      firmID: "F1", businessDate: "2025-01-02", runID: "r", manifestJSON: manifest)
    let outcome = await sender.send(
      event, to: WebhookEndpoint(url: try #require(URL(string: "ftp://x/")), secret: [1]), logger: logger)
    guard case .failure(let failure) = outcome.result else {
      Issue.record("must fail")
      return
    }
    #expect(failure.code == .invalidEndpoint)
    #expect(outcome.attempts.isEmpty)
  }

  @Test func endpointsOnlyReceiveSubscribedEvents() async throws {
    let transport = ScriptedTransport([.success(WebhookHTTPResponse(status: 200, headers: [:]))])
    let sender = WebhookSender(transport: transport, sleep: { _ in })
    let event = try WebhookEvent.delivered(
      firmID: "F1", businessDate: "2025-01-02", runID: "r", manifestJSON: manifest)
    let endpoints = [
      WebhookEndpoint(url: try #require(URL(string: "http://a.invalid/")), secret: [1], events: [.failed]),
      WebhookEndpoint(url: try #require(URL(string: "http://b.invalid/")), secret: [1]),
    ]
    let outcomes = await sender.send(event, to: endpoints, logger: logger)
    #expect(outcomes.map(\.endpoint) == ["http://b.invalid/"])
  }

  @Test func manifestMustBeAJSONObject() {
    #expect(throws: WebhookEventError.self) {
      try WebhookEvent.delivered(
        firmID: "F1", businessDate: "2025-01-02", runID: "r", manifestJSON: Data("[1".utf8))
    }
  }

  @Test func parsesRetryAfter() throws {
    let now = Date(timeIntervalSince1970: 784_111_777)  // Sun, 06 Nov 1994 08:49:37 GMT
    #expect(WebhookSender.parseRetryAfter("120", now: now) == .seconds(120))
    #expect(WebhookSender.parseRetryAfter(" 0 ", now: now) == .zero)
    #expect(WebhookSender.parseRetryAfter("Sun, 06 Nov 1994 08:50:37 GMT", now: now) == .seconds(60))
    #expect(WebhookSender.parseRetryAfter("Sunday, 06-Nov-94 08:50:37 GMT", now: now) == .seconds(60))
    #expect(WebhookSender.parseRetryAfter("Sun Nov  6 08:51:37 1994", now: now) == .seconds(120))
    #expect(WebhookSender.parseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now: now) == .zero)
    #expect(WebhookSender.parseRetryAfter("-5", now: now) == nil)
    #expect(WebhookSender.parseRetryAfter("soon", now: now) == nil)
  }

  @Test func eventBodyEscapesStrings() throws {
    let event = WebhookEvent.failed(
      firmID: "F\"1", businessDate: "2025-01-02", runID: "r\n1",
      problem: ProblemDetails(
        type: "urn:x", title: "T", status: 500, detail: "line1\nline2 \u{01} \\ \"q\"", runID: "r\n1",
        firmID: "F\"1"))
    let object = try #require(try JSONSerialization.jsonObject(with: event.body()) as? [String: Any])
    #expect(object["firm_id"] as? String == "F\"1")
    #expect((object["problem"] as? [String: Any])?["detail"] as? String == "line1\nline2 \u{01} \\ \"q\"")
  }
}

/// Issue 11: webhooks go only to public addresses unless the configuration allows others, and
/// the check is on what a name resolves to, not only on the literal.
@Suite struct WebhookAddressTests {
  let logger = Logger(label: "test")

  @Test func refusedRangesAndTheAllowRules() throws {
    let policy = WebhookAddressPolicy()
    for refused in [
      "169.254.169.254", "127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "172.31.255.255",
      "192.168.1.1", "fc00::1", "fd12::1", "fe80::1", "0.0.0.0", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    ] {
      let address = try #require(WebhookAddress(literal: refused), "\(refused)")
      #expect(policy.refusal(address) != nil, "\(refused) must be refused")
    }
    for allowed in ["93.184.216.34", "172.32.0.1", "2606:4700::1111", "8.8.8.8"] {
      let address = try #require(WebhookAddress(literal: allowed))
      #expect(policy.refusal(address) == nil, "\(allowed) is public")
    }
    let cidr = WebhookAddressPolicy(allowedCIDRs: [try #require(WebhookCIDR("10.20.0.0/16"))])
    #expect(cidr.refusal(try #require(WebhookAddress(literal: "10.20.3.4"))) == nil)
    #expect(cidr.refusal(try #require(WebhookAddress(literal: "10.21.3.4"))) != nil)
    #expect(cidr.refusal(try #require(WebhookAddress(literal: "169.254.169.254"))) != nil)
    #expect(WebhookAddressPolicy.allowAll.refusal(try #require(WebhookAddress(literal: "127.0.0.1"))) == nil)
    #expect(WebhookCIDR("10.0.0.0/33") == nil && WebhookCIDR("nope") == nil)
  }

  @Test func aNameThatResolvesToAnyRefusedAddressIsRefused() {
    let policy = WebhookAddressPolicy()
    let answer: @Sendable (String) -> [WebhookAddress] = { _ in
      [WebhookAddress(literal: "93.184.216.34"), WebhookAddress(literal: "169.254.169.254")].compactMap { $0 }
    }
    guard case .failure(let refusal) = policy.check(host: "hooks.example.com", resolve: answer) else {
      Issue.record("a name with a link-local answer must be refused")
      return
    }
    #expect(refusal.detail.contains("169.254.169.254"))
  }

  /// A host name that resolves to loopback is refused before any byte is sent; allowed by a
  /// network list, the request goes to the checked address (the name kept in `Host`).
  @Test func theResolvedAddressIsCheckedAndUsed() async throws {
    let server = try TestHTTPServer(responses: [.init(status: 204)])
    defer { server.stop() }
    let url = try #require(URL(string: "http://localhost:\(server.port)/hook"))
    let event = try WebhookEvent.delivered(
      firmID: "F1", businessDate: "2025-01-02", runID: "r", manifestJSON: Data("{}".utf8))
    let refused = await WebhookSender(sleep: { _ in }).send(
      event, to: WebhookEndpoint(url: url, secret: [1]), logger: logger)
    guard case .failure(let failure) = refused.result else {
      Issue.record("localhost must be refused by default")
      return
    }
    #expect(failure.code == .addressRefused, "\(failure)")
    #expect(server.requests.isEmpty, "nothing was sent")

    let allowed = WebhookSender(
      transport: URLSessionWebhookTransport(
        addresses: WebhookAddressPolicy(allowedCIDRs: [try #require(WebhookCIDR("127.0.0.0/8"))]),
        resolve: { _ in [WebhookAddress(literal: "127.0.0.1")].compactMap { $0 } }),
      sleep: { _ in })
    let outcome = await allowed.send(event, to: WebhookEndpoint(url: url, secret: [1]), logger: logger)
    #expect(outcome.succeeded, "\(outcome.result)")
    #expect(server.requests.first?.headers["host"] == "localhost:\(server.port)")
  }
}
