import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// An IPv4 or IPv6 network, `ADDRESS/BITS` (a bare address is a single host).
public struct WebhookCIDR: Sendable, Equatable, Codable, CustomStringConvertible {
  /// 4 bytes (IPv4) or 16 (IPv6).
  public var network: [UInt8]
  public var prefixLength: Int

  /// Parses `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`; nil when it is not one.
  public init?(_ text: String) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 1 || parts.count == 2, let address = WebhookAddress(literal: String(parts[0])) else {
      return nil
    }
    let bits = address.bytes.count * 8
    var length = bits
    if parts.count == 2 {
      guard let value = Int(parts[1]), (0...bits).contains(value) else { return nil }
      length = value
    }
    network = address.bytes
    prefixLength = length
  }

  public func contains(_ address: WebhookAddress) -> Bool {
    guard address.bytes.count == network.count else { return false }
    var remaining = prefixLength
    for (a, b) in zip(address.bytes, network) {
      if remaining <= 0 { return true }
      let mask: UInt8 = remaining >= 8 ? 0xFF : ~(UInt8(0xFF) >> UInt8(remaining))
      if a & mask != b & mask { return false }
      remaining -= 8
    }
    return true
  }

  public var description: String {
    "\(WebhookAddress(bytes: network).description)/\(prefixLength)"
  }
}

/// One resolved IP address.
public struct WebhookAddress: Sendable, Equatable, CustomStringConvertible {
  /// 4 bytes (IPv4) or 16 (IPv6).
  public var bytes: [UInt8]

  public init(bytes: [UInt8]) { self.bytes = bytes }

  /// An address literal (`127.0.0.1`, `::1`, `[::1]`); nil for a host name.
  public init?(literal text: String) {
    var text = text
    if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 {
      bytes = withUnsafeBytes(of: &v4) { Array($0) }
      return
    }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, text, &v6) == 1 {
      bytes = withUnsafeBytes(of: &v6) { Array($0) }
      return
    }
    return nil
  }

  public var description: String {
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    var copy = bytes
    let family = bytes.count == 4 ? AF_INET : AF_INET6
    guard inet_ntop(family, &copy, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it stands for.
  var unmapped: WebhookAddress {
    if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
      return WebhookAddress(bytes: Array(bytes[12...]))
    }
    return self
  }
}

/// Which addresses webhooks may go to. By default only public ones: loopback, link-local (cloud
/// metadata at 169.254.169.254 included), private, unique-local, unspecified, multicast and
/// other reserved ranges are refused, for the URL's literal address and for every address its
/// host name resolves to. `webhooks.allow_private_addresses: true` allows every address;
/// `webhooks.allowed_cidrs` allows the listed networks only (docs/operations.md).
public struct WebhookAddressPolicy: Sendable, Equatable, Codable {
  public var allowPrivateAddresses: Bool
  public var allowedCIDRs: [WebhookCIDR]

  public init(allowPrivateAddresses: Bool = false, allowedCIDRs: [WebhookCIDR] = []) {
    self.allowPrivateAddresses = allowPrivateAddresses
    self.allowedCIDRs = allowedCIDRs
  }

  /// Every address allowed.
  public static let allowAll = WebhookAddressPolicy(allowPrivateAddresses: true)

  /// The ranges refused unless allowed, with a name for messages.
  static let refused: [(WebhookCIDR, String)] = [
    ("0.0.0.0/8", "unspecified"), ("10.0.0.0/8", "private"), ("100.64.0.0/10", "shared (carrier NAT)"),
    ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private"), ("192.0.0.0/24", "reserved"), ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"), ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"), ("::1/128", "loopback"), ("fc00::/7", "unique-local (private)"),
    ("fe80::/10", "link-local"), ("ff00::/8", "multicast"), ("64:ff9b::/96", "NAT64"),
  ].compactMap { text, name in WebhookCIDR(text).map { ($0, name) } }

  /// Why an address is refused, or nil when it may be used.
  public func refusal(_ address: WebhookAddress) -> String? {
    if allowPrivateAddresses { return nil }
    let address = address.unmapped
    if allowedCIDRs.contains(where: { $0.contains(address) }) { return nil }
    for (range, name) in Self.refused where range.contains(address) {
      return "\(address) is a \(name) address (\(range)); webhooks go only to public addresses unless "
        + "webhooks.allow_private_addresses or webhooks.allowed_cidrs allows it"
    }
    return nil
  }

  /// Resolves `host` (or takes it as a literal) and checks every address. Returns the addresses,
  /// or why the host is refused (any refused address refuses the host: a name that also resolves
  /// to a private address could be answered with it on the next lookup).
  public func check(host: String, resolve: (String) -> [WebhookAddress] = WebhookAddressPolicy.resolve)
    -> Result<[WebhookAddress], WebhookAddressRefusal>
  {
    if allowPrivateAddresses { return .success([]) }
    let addresses = WebhookAddress(literal: host).map { [$0] } ?? resolve(host)
    guard !addresses.isEmpty else {
      return .failure(
        WebhookAddressRefusal(host: host, detail: "\(host) does not resolve to any address", unresolved: true)
      )
    }
    for address in addresses {
      if let why = refusal(address) {
        return .failure(WebhookAddressRefusal(host: host, detail: why))
      }
    }
    return .success(addresses)
  }

  /// The system resolver (getaddrinfo), TCP addresses, in its order; empty when the name does
  /// not resolve.
  public static func resolve(_ host: String) -> [WebhookAddress] {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    #if canImport(Glibc)
      hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    #else
      hints.ai_socktype = SOCK_STREAM
    #endif
    var list: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
    defer { freeaddrinfo(first) }
    var out: [WebhookAddress] = []
    var cursor: UnsafeMutablePointer<addrinfo>? = first
    while let entry = cursor {
      if let address = entry.pointee.ai_addr {
        switch Int32(entry.pointee.ai_family) {
        case AF_INET:
          let sin = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in.self)
          var raw = sin.sin_addr
          out.append(WebhookAddress(bytes: withUnsafeBytes(of: &raw) { Array($0) }))
        case AF_INET6:
          let sin6 = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in6.self)
          var raw = sin6.sin6_addr
          out.append(WebhookAddress(bytes: withUnsafeBytes(of: &raw) { Array($0) }))
        default: break
        }
      }
      cursor = entry.pointee.ai_next
    }
    var unique: [WebhookAddress] = []
    for address in out where !unique.contains(address) { unique.append(address) }
    return unique
  }
}

/// Why a webhook endpoint's host is refused.
public struct WebhookAddressRefusal: Error, Sendable, CustomStringConvertible {
  public var host: String
  public var detail: String
  /// The name did not resolve (rather than resolving to a refused address).
  public var unresolved = false
  public var description: String { "webhook host \(host) refused: \(detail)" }
}
