/// The identity (private key) file: it must be the owner's alone, and whether it is an RSA key
/// (for the hint when authentication fails on a libssh2 without rsa-sha2).
enum KeyFile {
  /// Why the private key at `path` is not used: it cannot be read, or group or others can read it.
  static func refusal(privateKeyPath path: String) -> (code: SFTPError.Code, detail: String)? {
    switch LocalFile.mode(path) {
    case .failure(let code):
      return (
        .privateKeyUnreadable, "cannot read the identity (private key) file: \(LocalFile.describe(code))"
      )
    case .success(let mode):
      if mode & 0o077 != 0 {
        return (
          .privateKeyPermissions,
          "the identity (private key) file has mode 0\(String(mode, radix: 8)) and is readable by group or "
            + "others; refusing to use it (run chmod 600 on it)"
        )
      }
      return nil
    }
  }

  /// Whether the key at `path` is an RSA key (from its `.pub` file, PEM header, or OpenSSH blob).
  static func looksLikeRSA(_ path: String) -> Bool {
    if case .success(let bytes) = LocalFile.readAll(path + ".pub") {
      return String(decoding: bytes.prefix(16), as: UTF8.self).hasPrefix("ssh-rsa ")
    }
    guard case .success(let bytes) = LocalFile.readAll(path) else { return false }
    let text = String(decoding: bytes, as: UTF8.self)
    if text.contains("BEGIN RSA PRIVATE KEY") { return true }
    guard text.contains("BEGIN OPENSSH PRIVATE KEY") else { return false }
    let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
    guard let blob = Base64.decode(body) else { return false }
    // The public key (unencrypted) starts with its type name.
    let needle = Array("ssh-rsa".utf8)
    let head = Array(blob.prefix(256))
    guard head.count >= needle.count else { return false }
    for start in 0...(head.count - needle.count) where Array(head[start..<start + needle.count]) == needle {
      return true
    }
    return false
  }
}
