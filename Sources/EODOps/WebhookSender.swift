import Crypto
import EODCore
import Foundation
import Logging

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// Where webhooks go: an `http://` or `https://` URL and the shared signing secret.
public struct WebhookEndpoint: Sendable {
  public var url: URL
  /// The HMAC-SHA256 key; never logged.
  public var secret: [UInt8]
  /// Which event types this endpoint receives (all by default).
  public var events: Set<WebhookEvent.Kind>

  public init(url: URL, secret: [UInt8], events: Set<WebhookEvent.Kind> = Set(WebhookEvent.Kind.allCases)) {
    self.url = url
    self.secret = secret
    self.events = events
  }

  /// The URL without user info, query or fragment, for logs.
  public var displayName: String {
    guard var parts = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return "webhook" }
    parts.user = nil
    parts.password = nil
    parts.query = nil
    parts.fragment = nil
    return parts.string ?? "webhook"
  }
}

/// Bounds on webhook delivery: attempts, backoff, and time.
public struct WebhookRetryPolicy: Sendable, Equatable {
  /// Attempts in all, including the first (at least 1).
  public var maxAttempts: Int
  /// The backoff before the second attempt; it doubles per attempt, up to `maxDelay`, with jitter.
  public var baseDelay: Duration
  public var maxDelay: Duration
  /// The whole delivery to one endpoint, retries and waits included, never takes longer.
  public var totalTimeout: Duration
  /// One HTTP request's timeout.
  public var requestTimeout: Duration

  public init(
    maxAttempts: Int = 6, baseDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(60),
    totalTimeout: Duration = .seconds(300), requestTimeout: Duration = .seconds(10)
  ) {
    self.maxAttempts = max(1, maxAttempts)
    self.baseDelay = baseDelay
    self.maxDelay = maxDelay
    self.totalTimeout = totalTimeout
    self.requestTimeout = requestTimeout
  }
}

/// The status and headers of an HTTP response.
public struct WebhookHTTPResponse: Sendable {
  public var status: Int
  /// Header fields, names lower-cased.
  public var headers: [String: String]

  public init(status: Int, headers: [String: String]) {
    self.status = status
    self.headers = Dictionary(
      headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
  }
}

/// Sends one HTTP POST. Errors thrown are treated as network errors (retried).
public protocol WebhookTransport: Sendable {
  func post(url: URL, headers: [String: String], body: Data, timeout: Duration) async throws
    -> WebhookHTTPResponse
}

/// The default transport: Foundation's `URLSession` (FoundationNetworking on Linux), ephemeral,
/// no cookies or cache, **no redirects** (a 3xx is returned as it is, a permanent failure), and
/// only to addresses its ``WebhookAddressPolicy`` allows: the host is resolved and every address
/// checked before each attempt; an `http://` request is then sent to the checked address itself
/// (the `Host` header keeps the name), so a second lookup cannot swap it. An `https://` request
/// is sent by name (certificate checking needs it): libcurl looks the name up again, so a DNS
/// answer that changes between the check and the connection is the remaining window
/// (docs/security.md).
public struct URLSessionWebhookTransport: WebhookTransport {
  private let session: URLSession
  public let addresses: WebhookAddressPolicy
  private let resolve: @Sendable (String) -> [WebhookAddress]

  public init(
    addresses: WebhookAddressPolicy = WebhookAddressPolicy(),
    resolve: @escaping @Sendable (String) -> [WebhookAddress] = { WebhookAddressPolicy.resolve($0) }
  ) {
    let configuration = URLSessionConfiguration.ephemeral
    configuration.httpCookieStorage = nil
    configuration.urlCache = nil
    configuration.httpShouldSetCookies = false
    configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
    configuration.connectionProxyDictionary = [:]
    session = URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    self.addresses = addresses
    self.resolve = resolve
  }

  public func post(url: URL, headers: [String: String], body: Data, timeout: Duration) async throws
    -> WebhookHTTPResponse
  {
    guard let host = url.host else { throw URLError(.badURL) }
    var target = url
    var hostHeader: String?
    if addresses != .allowAll {
      let checked = try addresses.check(host: host, resolve: resolve).get()
      if url.scheme?.lowercased() == "http", WebhookAddress(literal: host) == nil,
        let pinned = checked.first(where: { $0.bytes.count == 4 }) ?? checked.first,
        var parts = URLComponents(url: url, resolvingAgainstBaseURL: false)
      {
        parts.host = pinned.bytes.count == 16 ? "[\(pinned)]" : pinned.description
        if let pinnedURL = parts.url {
          target = pinnedURL
          hostHeader = url.port.map { "\(host):\($0)" } ?? host
        }
      }
    }
    var request = URLRequest(url: target)
    request.httpMethod = "POST"
    request.httpBody = body
    request.timeoutInterval =
      Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    if let hostHeader { request.setValue(hostHeader, forHTTPHeaderField: "Host") }
    let (_, response) = try await session.data(for: request)
    guard let http = response as? HTTPURLResponse else {
      throw URLError(.badServerResponse)
    }
    var fields: [String: String] = [:]
    for (name, value) in http.allHeaderFields {
      if let name = name as? String, let value = value as? String { fields[name] = value }
    }
    return WebhookHTTPResponse(status: http.statusCode, headers: fields)
  }
}

/// Refuses every redirect: the 3xx response itself is what the request returns. Stateless, so
/// Sendable as checked (URLSession calls its delegate on its own queue).
private final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
  func urlSession(
    _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
  ) {
    completionHandler(nil)
  }
}

/// Why a webhook was not delivered. Returned, never thrown into delivery logic.
public struct WebhookFailure: Error, CustomStringConvertible, Sendable {
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    /// The receiver answered with a status that retrying will not fix (4xx but 408/429, and
    /// every 3xx: redirects are never followed).
    public static let rejected = Code("rejected")
    /// Every attempt failed with a retryable status or network error.
    public static let attemptsExhausted = Code("attempts-exhausted")
    /// The next wait would end past the total time bound.
    public static let timeBudgetExhausted = Code("time-budget-exhausted")
    /// The endpoint URL is not http(s).
    public static let invalidEndpoint = Code("invalid-endpoint")
    /// The endpoint's host is, or resolves to, an address the configuration does not allow
    /// (loopback, link-local, private...). Not retried.
    public static let addressRefused = Code("address-refused")
    /// The task was cancelled.
    public static let cancelled = Code("cancelled")
  }

  public var code: Code
  public var endpoint: String
  /// The last HTTP status received, if any.
  public var lastStatus: Int?
  public var attempts: Int
  public var detail: String

  public init(code: Code, endpoint: String, lastStatus: Int?, attempts: Int, detail: String) {
    self.code = code
    self.endpoint = endpoint
    self.lastStatus = lastStatus
    self.attempts = attempts
    self.detail = detail
  }

  public var description: String {
    var text = "webhook to \(endpoint) failed (\(code)) after \(attempts) attempt(s)"
    if let lastStatus { text += ", last status \(lastStatus)" }
    return text + ": \(detail)"
  }
}

/// One attempt at delivering a webhook.
public struct WebhookAttempt: Sendable, Equatable {
  public var number: Int
  /// The HTTP status, or nil after a network error.
  public var status: Int?
  /// The network error, if any.
  public var error: String?
  /// The wait before the next attempt, if there was one.
  public var waitAfter: Duration?
}

/// The outcome of delivering one event to one endpoint.
public struct WebhookOutcome: Sendable {
  public var eventID: String
  public var endpoint: String
  public var attempts: [WebhookAttempt]
  /// The final 2xx status, or why it failed.
  public var result: Result<Int, WebhookFailure>

  public var succeeded: Bool { if case .success = result { true } else { false } }
}

/// Computing and checking `Webhook-Signature`.
public enum WebhookSignature {
  /// `v1=` + lower-case hex HMAC-SHA256(secret, `"<timestamp>." + body`).
  public static func header(secret: [UInt8], timestamp: Int64, body: Data) -> String {
    var message = Data("\(timestamp).".utf8)
    message.append(body)
    let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret))
    return "v1=" + Hex.lowercase(mac)
  }
}

/// Delivers ``WebhookEvent``s: signed, retried with exponential backoff and jitter, bounded.
///
/// Each attempt is a POST with `Content-Type: application/json`, `Webhook-Id` (the event id, the
/// same on every attempt), `Webhook-Timestamp` (unix seconds at the attempt) and
/// `Webhook-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
/// 2xx is success. 5xx, 408, 429 and network errors are retried; 429 and 503 with `Retry-After`
/// (delta-seconds or HTTP-date) wait exactly that long; other statuses are permanent failures.
/// Attempts stop at ``WebhookRetryPolicy/maxAttempts`` or when the next wait would pass
/// ``WebhookRetryPolicy/totalTimeout``. Failures are returned, never thrown.
public struct WebhookSender: Sendable {
  public var policy: WebhookRetryPolicy
  private let transport: any WebhookTransport
  private let now: @Sendable () -> Date
  private let sleep: @Sendable (Duration) async throws -> Void
  private let random: @Sendable () -> Double

  /// - Parameters:
  ///   - transport: The HTTP client; ``URLSessionWebhookTransport`` by default.
  ///   - now: The wall clock, for timestamps and the total time bound.
  ///   - sleep: Waits between attempts (inject a recorder in tests).
  ///   - random: A number in `0..<1` for jitter.
  public init(
    policy: WebhookRetryPolicy = WebhookRetryPolicy(),
    transport: any WebhookTransport = URLSessionWebhookTransport(),
    now: @escaping @Sendable () -> Date = { Date() },
    sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
    random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
  ) {
    self.policy = policy
    self.transport = transport
    self.now = now
    self.sleep = sleep
    self.random = random
  }

  /// Sends an event to every endpoint subscribed to its type, concurrently.
  public func send(_ event: WebhookEvent, to endpoints: [WebhookEndpoint], logger: Logger) async
    -> [WebhookOutcome]
  {
    let chosen = endpoints.enumerated().filter { $0.element.events.contains(event.kind) }
    return await withTaskGroup(of: (Int, WebhookOutcome).self) { group in
      for (index, endpoint) in chosen {
        group.addTask { (index, await self.send(event, to: endpoint, logger: logger)) }
      }
      var outcomes: [(Int, WebhookOutcome)] = []
      for await outcome in group { outcomes.append(outcome) }
      return outcomes.sorted { $0.0 < $1.0 }.map(\.1)
    }
  }

  /// Sends an event to one endpoint, retrying within the policy's bounds.
  public func send(_ event: WebhookEvent, to endpoint: WebhookEndpoint, logger: Logger) async
    -> WebhookOutcome
  {
    var logger = logger
    logger[metadataKey: "webhook_id"] = "\(event.id)"
    logger[metadataKey: "endpoint"] = "\(endpoint.displayName)"
    logger[metadataKey: "event"] = "\(event.kind.rawValue)"
    let body = event.body()
    var attempts: [WebhookAttempt] = []
    func finish(_ code: WebhookFailure.Code, _ lastStatus: Int?, _ detail: String) -> WebhookOutcome {
      let failure = WebhookFailure(
        code: code, endpoint: endpoint.displayName, lastStatus: lastStatus, attempts: attempts.count,
        detail: detail)
      logger.warning("webhook not delivered", metadata: ["error": "\(failure)"])
      return WebhookOutcome(
        eventID: event.id, endpoint: endpoint.displayName, attempts: attempts, result: .failure(failure))
    }

    guard let scheme = endpoint.url.scheme?.lowercased(), scheme == "http" || scheme == "https",
      endpoint.url.host != nil
    else {
      return finish(.invalidEndpoint, nil, "the URL must be http:// or https:// with a host")
    }

    let started = now()
    var lastStatus: Int?
    for number in 1...policy.maxAttempts {
      let elapsed = Self.duration(now().timeIntervalSince(started))
      let remaining = policy.totalTimeout - elapsed
      if remaining <= .zero {
        return finish(
          .timeBudgetExhausted, lastStatus, "the total time bound \(policy.totalTimeout) is spent")
      }
      let timestamp = Int64(now().timeIntervalSince1970.rounded(.down))
      let headers = [
        "Content-Type": "application/json",
        "Webhook-Id": event.id,
        "Webhook-Timestamp": String(timestamp),
        "Webhook-Signature": WebhookSignature.header(
          secret: endpoint.secret, timestamp: timestamp, body: body),
        "User-Agent": "eod-extract-webhook/1",
      ]
      var attempt = WebhookAttempt(number: number, status: nil, error: nil, waitAfter: nil)
      var retryAfter: Duration?
      do {
        let response = try await transport.post(
          url: endpoint.url, headers: headers, body: body, timeout: min(policy.requestTimeout, remaining))
        attempt.status = response.status
        lastStatus = response.status
        switch response.status {
        case 200..<300:
          attempts.append(attempt)
          logger.info(
            "webhook delivered",
            metadata: ["status": .stringConvertible(response.status), "attempts": .stringConvertible(number)])
          return WebhookOutcome(
            eventID: event.id, endpoint: endpoint.displayName, attempts: attempts,
            result: .success(response.status))
        case 429, 503:
          if let value = response.headers["retry-after"] {
            retryAfter = Self.parseRetryAfter(value, now: now())
          }
        case 408, 500..<600:
          break
        case 300..<400:
          attempts.append(attempt)
          return finish(
            .rejected, response.status,
            "the receiver answered \(response.status), a redirect: redirects are never followed (the signed "
              + "body is not sent anywhere else) and a 3xx is a permanent failure")
        default:
          attempts.append(attempt)
          return finish(
            .rejected, response.status, "the receiver answered \(response.status), which is not retried")
        }
      } catch let refusal as WebhookAddressRefusal {
        attempt.error = refusal.detail
        attempts.append(attempt)
        return finish(.addressRefused, lastStatus, refusal.description)
      } catch {
        if Task.isCancelled {
          attempts.append(attempt)
          return finish(.cancelled, lastStatus, "cancelled")
        }
        attempt.error = SystemErrorText.words(error)
      }
      guard number < policy.maxAttempts else {
        attempts.append(attempt)
        break
      }
      let wait = retryAfter ?? backoff(afterAttempt: number)
      let elapsedNow = Self.duration(now().timeIntervalSince(started))
      if elapsedNow + wait >= policy.totalTimeout {
        attempts.append(attempt)
        return finish(
          .timeBudgetExhausted, lastStatus,
          "the next attempt would start after \(wait) more, past the total time bound \(policy.totalTimeout)")
      }
      attempt.waitAfter = wait
      attempts.append(attempt)
      logger.debug(
        "webhook attempt failed; retrying",
        metadata: [
          "attempt": .stringConvertible(number), "status": "\(attempt.status.map(String.init) ?? "-")",
          "error": "\(attempt.error ?? "-")", "wait_ms": .stringConvertible(Self.milliseconds(wait)),
        ])
      do {
        try await sleep(wait)
      } catch {
        return finish(.cancelled, lastStatus, "cancelled while waiting to retry")
      }
    }
    let last = attempts.last
    let reason = last?.status.map { "last status \($0)" } ?? "last error: \(last?.error ?? "unknown")"
    return finish(.attemptsExhausted, lastStatus, "\(policy.maxAttempts) attempts failed; \(reason)")
  }

  /// The jittered exponential backoff after a failed attempt (1-based): a random point in
  /// the upper half of `min(maxDelay, baseDelay * 2^(attempt-1))`.
  public func backoff(afterAttempt attempt: Int) -> Duration {
    var ceiling = policy.baseDelay
    for _ in 1..<max(1, attempt) {
      ceiling = ceiling * 2
      if ceiling >= policy.maxDelay { break }
    }
    ceiling = min(ceiling, policy.maxDelay)
    let half = ceiling / 2
    let jitter = Self.duration(Double(Self.milliseconds(half)) / 1000 * min(max(random(), 0), 1))
    return half + jitter
  }

  /// Parses a `Retry-After` value: delta-seconds, or an HTTP-date (IMF-fixdate, RFC 850 or
  /// asctime form). A date in the past is zero. Returns nil when unparsable.
  public static func parseRetryAfter(_ value: String, now: Date) -> Duration? {
    let text = value.trimmingCharacters(in: .whitespaces)
    if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
      guard let seconds = Int64(text) else { return nil }
      return .seconds(seconds)
    }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    for format in [
      "EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy",
    ] {
      formatter.dateFormat = format
      if let date = formatter.date(from: text) {
        let delta = date.timeIntervalSince(now)
        return delta <= 0 ? .zero : .seconds(Int64(delta.rounded(.up)))
      }
    }
    return nil
  }

  static func duration(_ seconds: Double) -> Duration {
    .milliseconds(Int64((seconds * 1000).rounded()))
  }

  static func milliseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
  }
}

extension WebhookSender {
  /// Sends an event to every endpoint of the configuration subscribed to it (the signing and retry
  /// rules of every webhook); a failure is logged and changes nothing else.
  public static func send(
    _ event: WebhookEvent, configuration: JobConfiguration, about subject: String, unaffected: String,
    logger: Logger
  ) async {
    var endpoints: [WebhookEndpoint] = []
    for item in configuration.webhooks.endpoints {
      do { endpoints.append(try item.endpoint()) } catch {
        logger.error("webhook endpoint \(item.url): \(error)")
      }
    }
    guard !endpoints.isEmpty else { return }
    let sender = WebhookSender(
      policy: configuration.webhooks.policy.policy,
      transport: URLSessionWebhookTransport(addresses: configuration.webhooks.addresses))
    for outcome in await sender.send(event, to: endpoints, logger: logger) where !outcome.succeeded {
      logger.error(
        "webhook to \(outcome.endpoint) for \(subject) failed; \(unaffected) is unaffected: \(outcome.result)"
      )
    }
  }
}
