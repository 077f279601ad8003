import Crypto
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Checking a configuration against this machine (``JobConfiguration/validate(environment:templatesDirectory:)``):
// files and directories, secrets, SFTP keys and known_hosts entries.

enum FileSystem {
  static func isDirectory(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
  }

  static func mode(_ path: String) -> Int? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return Int(info.st_mode) & 0o7777
  }

  static func isWritableDirectory(_ path: String) -> Bool {
    isDirectory(path) && access(path, W_OK | X_OK) == 0
  }
}

/// Machine-dependent checks, collecting problems with paths and lines.
struct EnvironmentChecker {
  let lines: [String: Int]
  let environment: [String: String]
  var problems: [ConfigurationProblem] = []

  mutating func problem(_ path: String, _ message: String, severity: ConfigurationProblem.Severity = .error) {
    var line = lines[path]
    var prefix = path
    while line == nil, let dot = prefix.lastIndex(of: ".") {
      prefix = String(prefix[..<dot])
      line = lines[prefix]
    }
    problems.append(ConfigurationProblem(path: path, line: line, message: message, severity: severity))
  }

  /// The part of a pattern before its first placeholder component must be an existing directory.
  mutating func directoryOfPattern(_ pattern: String, _ path: String, what: String, creatable: Bool = false) {
    let components = pattern.split(separator: "/", omittingEmptySubsequences: false)
    if let first = components.firstIndex(where: { $0.contains("{") }) {
      let prefix = components[..<first].joined(separator: "/")
      let base = prefix.isEmpty ? "/" : prefix
      let isLast = first == components.count - 1
      // For a file pattern (snapshot), the directory holding it; for a directory pattern, its parent.
      if !FileSystem.isDirectory(base) {
        problem(path, "\(what): \(base) does not exist or is not a directory")
      } else if creatable && !isLast && !FileSystem.isWritableDirectory(base) {
        problem(path, "\(what): \(base) is not writable")
      } else if creatable && isLast && !FileSystem.isWritableDirectory(base) {
        problem(path, "\(what): \(base) is not writable, so \(pattern) cannot be created")
      }
    } else if creatable {
      directoryCreatable(pattern, path)
    } else {
      let parent = URL(fileURLWithPath: pattern).deletingLastPathComponent().path
      if !FileSystem.isDirectory(parent) { problem(path, "\(what): \(parent) does not exist") }
    }
  }

  mutating func parentWritable(_ file: String, _ path: String, what: String) {
    let parent = URL(fileURLWithPath: file).deletingLastPathComponent().path
    if !FileSystem.isDirectory(parent) {
      problem(path, "the directory \(parent) for the \(what) does not exist")
    } else if !FileSystem.isWritableDirectory(parent) {
      problem(path, "the directory \(parent) for the \(what) is not writable")
    } else if FileManager.default.fileExists(atPath: file), !FileSystem.isDirectory(file),
      access(file, R_OK | W_OK) != 0
    {
      problem(path, "\(file) exists but is not readable and writable")
    }
  }

  mutating func directoryCreatable(_ directory: String, _ path: String) {
    if FileManager.default.fileExists(atPath: directory) {
      if !FileSystem.isDirectory(directory) {
        problem(path, "\(directory) is not a directory")
      } else if !FileSystem.isWritableDirectory(directory) {
        problem(path, "\(directory) is not writable")
      }
      return
    }
    let parent = URL(fileURLWithPath: directory).deletingLastPathComponent().path
    if !FileSystem.isWritableDirectory(parent) {
      problem(path, "\(directory) does not exist and cannot be created (\(parent) missing or not writable)")
    }
  }

  /// A private file: exists, readable, no group/other permissions.
  mutating func privateFile(_ file: String, _ path: String, what: String) -> Bool {
    guard FileManager.default.fileExists(atPath: file), !FileSystem.isDirectory(file) else {
      problem(path, "\(what) \(file) does not exist")
      return false
    }
    guard access(file, R_OK) == 0 else {
      problem(path, "\(what) \(file) is not readable by this user")
      return false
    }
    if let mode = FileSystem.mode(file), mode & 0o077 != 0 {
      problem(path, "\(what) \(file) has permissions \(String(mode, radix: 8)), too open; chmod 600 it")
      return false
    }
    return true
  }

  mutating func secret(_ source: SecretSource, _ path: String, prefix: String) {
    switch source {
    case .environment(let name):
      if (environment[name] ?? "").isEmpty {
        problem(path + ".\(prefix)_env", "environment variable \(name) is unset or empty")
      }
    case .file(let file):
      if privateFile(file, path + ".\(prefix)_file", what: "secret file"),
        (FileManager.default.contents(atPath: file) ?? Data()).allSatisfy({ $0 == 10 || $0 == 13 })
      {
        problem(path + ".\(prefix)_file", "secret file \(file) is empty")
      }
    }
  }

  mutating func sftp(_ sftp: SFTPDestinationConfiguration, _ path: String) {
    if privateFile(sftp.identityFile, path + ".identity_file", what: "identity file") {
      switch PrivateKeyInfo.read(sftp.identityFile) {
      case .some(let info):
        if info.type == "ssh-rsa" || info.type == "RSA" {
          problem(
            path + ".identity_file",
            "\(sftp.identityFile) is an RSA key; this libssh2 cannot sign with RSA-SHA2, use an ed25519 or ECDSA key"
          )
        } else if info.type == "ssh-dss" || info.type == "DSA" {
          problem(
            path + ".identity_file", "\(sftp.identityFile) is a DSA key, which servers refuse; use ed25519")
        }
        if info.encrypted && sftp.passphrase == nil {
          problem(
            path + ".identity_file",
            "\(sftp.identityFile) is encrypted but no passphrase_env/passphrase_file is set")
        }
      case .none:
        problem(
          path + ".identity_file", "\(sftp.identityFile) is not a recognised private key", severity: .warning)
      }
    }
    if let passphrase = sftp.passphrase { secret(passphrase, path, prefix: "passphrase") }
    knownHosts(sftp, path + ".known_hosts")
  }

  mutating func knownHosts(_ sftp: SFTPDestinationConfiguration, _ path: String) {
    guard let data = FileManager.default.contents(atPath: sftp.knownHosts),
      !FileSystem.isDirectory(sftp.knownHosts)
    else {
      problem(path, "known_hosts file \(sftp.knownHosts) does not exist or is not readable")
      return
    }
    let name = sftp.port == 22 ? sftp.host : "[\(sftp.host)]:\(sftp.port)"
    let knownTypes: Set<String> = [
      "ssh-rsa", "ssh-dss", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
      "ecdsa-sha2-nistp521",
    ]
    var firstBad: Int?
    for (index, raw) in String(decoding: data, as: UTF8.self).split(
      separator: "\n", omittingEmptySubsequences: false
    )
    .enumerated() {
      let line = raw.trimmingCharacters(in: .whitespaces)
      if line.isEmpty || line.hasPrefix("#") { continue }
      var fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
      if fields.first?.hasPrefix("@") == true { fields.removeFirst() }
      guard fields.count >= 3, knownTypes.contains(fields[1]) else {
        if firstBad == nil { firstBad = index + 1 }
        continue
      }
      if Self.hostMatches(fields[0], name) {
        if let firstBad {
          problem(
            path,
            "line \(firstBad) of \(sftp.knownHosts) cannot be parsed and libssh2 stops reading there, so the key for \(name) on line \(index + 1) is never seen"
          )
        }
        return
      }
    }
    problem(
      path,
      "\(sftp.knownHosts) has no key for \(name); add it (ssh-keyscan -p \(sftp.port) -t ed25519 \(sftp.host)) after checking its fingerprint"
    )
  }

  /// Whether a known_hosts host field (comma list, or `|1|salt|hash`) names `name`.
  static func hostMatches(_ field: String, _ name: String) -> Bool {
    if field.hasPrefix("|1|") {
      let parts = field.split(separator: "|")
      guard parts.count == 3, let salt = Data(base64Encoded: String(parts[1])),
        let hash = Data(base64Encoded: String(parts[2]))
      else { return false }
      let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(name.utf8), using: SymmetricKey(data: salt))
      return Data(mac) == hash
    }
    return field.split(separator: ",").contains { $0 == name }
  }
}

/// The type and encryption of a private key file, read without decrypting it.
struct PrivateKeyInfo {
  var type: String
  var encrypted: Bool

  static func read(_ path: String) -> PrivateKeyInfo? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    let text = String(decoding: data, as: UTF8.self)
    for legacy in ["RSA", "DSA", "EC"] where text.contains("-----BEGIN \(legacy) PRIVATE KEY-----") {
      return PrivateKeyInfo(type: legacy, encrypted: text.contains("ENCRYPTED"))
    }
    guard let begin = text.range(of: "-----BEGIN OPENSSH PRIVATE KEY-----"),
      let end = text.range(of: "-----END OPENSSH PRIVATE KEY-----")
    else { return nil }
    let body = text[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
    guard let blob = Data(base64Encoded: String(body)) else { return nil }
    var bytes = [UInt8](blob)[...]
    let magic = Array("openssh-key-v1\0".utf8)
    guard bytes.starts(with: magic) else { return nil }
    bytes = bytes.dropFirst(magic.count)
    func readString() -> ArraySlice<UInt8>? {
      guard bytes.count >= 4 else { return nil }
      let length = bytes.prefix(4).reduce(0) { $0 << 8 | Int($1) }
      bytes = bytes.dropFirst(4)
      guard bytes.count >= length else { return nil }
      defer { bytes = bytes.dropFirst(length) }
      return bytes.prefix(length)
    }
    guard let cipher = readString(), readString() != nil, readString() != nil, bytes.count >= 4 else {
      return nil
    }
    bytes = bytes.dropFirst(4)  // number of keys
    guard var publicKey = readString(), publicKey.count >= 4 else { return nil }
    let typeLength = publicKey.prefix(4).reduce(0) { $0 << 8 | Int($1) }
    publicKey = publicKey.dropFirst(4)
    guard publicKey.count >= typeLength else { return nil }
    let type = String(decoding: publicKey.prefix(typeLength), as: UTF8.self)
    return PrivateKeyInfo(type: type, encrypted: String(decoding: cipher, as: UTF8.self) != "none")
  }
}
