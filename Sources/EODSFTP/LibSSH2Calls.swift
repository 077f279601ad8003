// Every call into libssh2 made by this module lives in this file. Nothing here is public: the
// rest of the module sees Swift values and opaque pointers only.
import CLibSSH2

/// libssh2 must be initialised once per process before any session is made.
private let libssh2InitResult: Int32 = libssh2_init(0)

/// The host-key algorithms this module knows about.
enum HostKeyType: Sendable, Equatable {
  case ed25519, ecdsa256, ecdsa384, ecdsa521, rsa, dss, unknown

  /// The SSH algorithm name, as in known_hosts files and the host-key method preference.
  var methodName: String {
    switch self {
    case .ed25519: "ssh-ed25519"
    case .ecdsa256: "ecdsa-sha2-nistp256"
    case .ecdsa384: "ecdsa-sha2-nistp384"
    case .ecdsa521: "ecdsa-sha2-nistp521"
    case .rsa: "ssh-rsa"
    case .dss: "ssh-dss"
    case .unknown: "unknown"
    }
  }
}

enum LibSSH2 {
  typealias Session = OpaquePointer
  typealias SFTP = OpaquePointer
  typealias Handle = OpaquePointer
  typealias KnownHosts = OpaquePointer

  static let eagain = Int(LIBSSH2_ERROR_EAGAIN)
  static let errorSFTPProtocol = Int(LIBSSH2_ERROR_SFTP_PROTOCOL)
  static let errorAuthenticationFailed = Int(LIBSSH2_ERROR_AUTHENTICATION_FAILED)
  static let errorPublicKeyUnverified = Int(LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED)
  static let errorFile = Int(LIBSSH2_ERROR_FILE)
  static let errorKexFailure = Int(LIBSSH2_ERROR_KEX_FAILURE)
  static let errorMethodNotSupported = Int(LIBSSH2_ERROR_METHOD_NOT_SUPPORTED)
  static let errorTimeout = Int(LIBSSH2_ERROR_TIMEOUT)

  /// libssh2 error codes that mean the connection is gone or unusable.
  static let connectionErrors: Set<Int> = [
    Int(LIBSSH2_ERROR_BANNER_RECV), Int(LIBSSH2_ERROR_BANNER_SEND), Int(LIBSSH2_ERROR_SOCKET_SEND),
    Int(LIBSSH2_ERROR_SOCKET_DISCONNECT), Int(LIBSSH2_ERROR_SOCKET_TIMEOUT),
    Int(LIBSSH2_ERROR_SOCKET_RECV), Int(LIBSSH2_ERROR_CHANNEL_FAILURE),
    Int(LIBSSH2_ERROR_CHANNEL_CLOSED), Int(LIBSSH2_ERROR_CHANNEL_EOF_SENT),
    Int(LIBSSH2_ERROR_CHANNEL_OUTOFORDER), Int(LIBSSH2_ERROR_CHANNEL_UNKNOWN),
    Int(LIBSSH2_ERROR_TIMEOUT), Int(LIBSSH2_ERROR_DECRYPT), Int(LIBSSH2_ERROR_PROTO),
    Int(LIBSSH2_ERROR_HOSTKEY_SIGN), Int(LIBSSH2_ERROR_INVALID_MAC), Int(LIBSSH2_ERROR_KEX_FAILURE),
    Int(LIBSSH2_ERROR_BAD_SOCKET),
  ]

  static func ensureInitialized() -> Bool { libssh2InitResult == 0 }

  /// The libssh2 version the process runs with, e.g. `1.10.0`.
  static var version: String {
    guard let text = libssh2_version(0) else { return "unknown" }
    return String(cString: text)
  }

  /// Whether the running libssh2 can sign with RSA-SHA2 (1.11 or later).
  static var supportsRSASHA2: Bool { libssh2_version(0x010B00) != nil }

  // MARK: Session

  static func sessionInit() -> Session? { libssh2_session_init_ex(nil, nil, nil, nil) }

  static func setBlocking(_ session: Session, _ blocking: Bool) {
    libssh2_session_set_blocking(session, blocking ? 1 : 0)
  }

  static func preferHostKeyMethods(_ session: Session, _ methods: String) -> Int {
    Int(libssh2_session_method_pref(session, LIBSSH2_METHOD_HOSTKEY, methods))
  }

  static func configureKeepalive(_ session: Session, wantReply: Bool, intervalSeconds: Int) {
    libssh2_keepalive_config(session, wantReply ? 1 : 0, UInt32(clamping: intervalSeconds))
  }

  /// Sends a keepalive if one is due; returns libssh2's code and the seconds until the next one.
  static func sendKeepalive(_ session: Session) -> (code: Int, secondsToNext: Int) {
    var next: Int32 = 0
    let rc = libssh2_keepalive_send(session, &next)
    return (Int(rc), Int(next))
  }

  /// Which way the session is waiting after an `EAGAIN`.
  static func blockDirections(_ session: Session) -> (inbound: Bool, outbound: Bool) {
    let directions = libssh2_session_block_directions(session)
    return (
      directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0, directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0
    )
  }

  static func handshake(_ session: Session, socket: Int32) -> Int {
    Int(libssh2_session_handshake(session, socket))
  }

  static func lastErrno(_ session: Session) -> Int { Int(libssh2_session_last_errno(session)) }

  static func lastError(_ session: Session) -> (code: Int, message: String) {
    var message: UnsafeMutablePointer<CChar>?
    var length: Int32 = 0
    let code = libssh2_session_last_error(session, &message, &length, 0)
    let text = message.map { String(cString: $0) } ?? ""
    return (Int(code), text)
  }

  /// The server's host key blob and type, available after the handshake.
  static func hostKey(_ session: Session) -> (key: [UInt8], type: HostKeyType)? {
    var length = 0
    var type: Int32 = 0
    guard let pointer = libssh2_session_hostkey(session, &length, &type), length > 0 else {
      return nil
    }
    let bytes = pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
      Array(UnsafeBufferPointer(start: $0, count: length))
    }
    let keyType: HostKeyType =
      switch type {
      case LIBSSH2_HOSTKEY_TYPE_ED25519: .ed25519
      case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: .ecdsa256
      case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: .ecdsa384
      case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: .ecdsa521
      case LIBSSH2_HOSTKEY_TYPE_RSA: .rsa
      case LIBSSH2_HOSTKEY_TYPE_DSS: .dss
      default: .unknown
      }
    return (bytes, keyType)
  }

  /// The SHA-256 digest of the server's host key (32 bytes).
  static func hostKeySHA256(_ session: Session) -> [UInt8]? {
    guard let pointer = libssh2_hostkey_hash(session, LIBSSH2_HOSTKEY_HASH_SHA256) else { return nil }
    return pointer.withMemoryRebound(to: UInt8.self, capacity: 32) {
      Array(UnsafeBufferPointer(start: $0, count: 32))
    }
  }

  static func authenticate(
    _ session: Session, user: String, privateKeyPath: String, passphrase: String?
  ) -> Int {
    let userLength = UInt32(clamping: user.utf8.count)
    return Int(
      libssh2_userauth_publickey_fromfile_ex(
        session, user, userLength, nil, privateKeyPath, passphrase))
  }

  static func disconnect(_ session: Session, reason: String) -> Int {
    Int(libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, reason, ""))
  }

  static func sessionFree(_ session: Session) -> Int { Int(libssh2_session_free(session)) }

  // MARK: SFTP

  static func sftpInit(_ session: Session) -> SFTP? { libssh2_sftp_init(session) }

  static func sftpShutdown(_ sftp: SFTP) -> Int { Int(libssh2_sftp_shutdown(sftp)) }

  /// The last SFTP status code the server sent.
  static func sftpLastError(_ sftp: SFTP) -> Int { Int(libssh2_sftp_last_error(sftp)) }

  static let statusOpUnsupported = Int(LIBSSH2_FX_OP_UNSUPPORTED)
  static let statusNoSuchFile = Int(LIBSSH2_FX_NO_SUCH_FILE)
  static let statusNoSuchPath = Int(LIBSSH2_FX_NO_SUCH_PATH)
  static let statusPermissionDenied = Int(LIBSSH2_FX_PERMISSION_DENIED)
  static let statusWriteProtect = Int(LIBSSH2_FX_WRITE_PROTECT)
  static let statusConnectionLost = Int(LIBSSH2_FX_CONNECTION_LOST)
  static let statusNoConnection = Int(LIBSSH2_FX_NO_CONNECTION)

  /// Opens a file for writing: created if missing, truncated if present.
  static func openForWriting(_ sftp: SFTP, path: String, mode: Int) -> Handle? {
    let flags = UInt(LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC)
    return libssh2_sftp_open_ex(
      sftp, path, UInt32(clamping: path.utf8.count), flags, Int(mode), LIBSSH2_SFTP_OPENFILE)
  }

  static func openForReading(_ sftp: SFTP, path: String) -> Handle? {
    libssh2_sftp_open_ex(
      sftp, path, UInt32(clamping: path.utf8.count), UInt(LIBSSH2_FXF_READ), 0, LIBSSH2_SFTP_OPENFILE)
  }

  static func closeHandle(_ handle: Handle) -> Int { Int(libssh2_sftp_close_handle(handle)) }

  static func write(_ handle: Handle, _ buffer: UnsafeRawBufferPointer) -> Int {
    guard let base = buffer.baseAddress else { return 0 }
    return libssh2_sftp_write(handle, base.assumingMemoryBound(to: CChar.self), buffer.count)
  }

  static func read(_ handle: Handle, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
    guard let base = buffer.baseAddress else { return 0 }
    return libssh2_sftp_read(handle, base.assumingMemoryBound(to: CChar.self), buffer.count)
  }

  static func fsync(_ handle: Handle) -> Int { Int(libssh2_sftp_fsync(handle)) }

  /// `stat` (following links). Returns libssh2's code and, on success, size and permission bits.
  static func stat(_ sftp: SFTP, path: String) -> (code: Int, size: UInt64?, permissions: UInt?) {
    var attributes = LIBSSH2_SFTP_ATTRIBUTES()
    let rc = libssh2_sftp_stat_ex(
      sftp, path, UInt32(clamping: path.utf8.count), LIBSSH2_SFTP_STAT, &attributes)
    guard rc == 0 else { return (Int(rc), nil, nil) }
    let size = attributes.flags & UInt(LIBSSH2_SFTP_ATTR_SIZE) != 0 ? attributes.filesize : nil
    let permissions =
      attributes.flags & UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS) != 0 ? attributes.permissions : nil
    return (0, size, permissions)
  }

  static func openDirectory(_ sftp: SFTP, path: String) -> Handle? {
    libssh2_sftp_open_ex(sftp, path, UInt32(clamping: path.utf8.count), 0, 0, LIBSSH2_SFTP_OPENDIR)
  }

  /// One directory entry into `name`: the name's length (0 at the end, negative on error), and
  /// the entry's size and mode bits when the server gave them (OpenSSH: from `lstat`).
  static func readDirectory(_ handle: Handle, _ name: UnsafeMutableRawBufferPointer)
    -> (code: Int, size: UInt64?, permissions: UInt?)
  {
    guard let base = name.baseAddress else { return (0, nil, nil) }
    var attributes = LIBSSH2_SFTP_ATTRIBUTES()
    let rc = libssh2_sftp_readdir_ex(
      handle, base.assumingMemoryBound(to: CChar.self), name.count, nil, 0, &attributes)
    guard rc > 0 else { return (Int(rc), nil, nil) }
    let size = attributes.flags & UInt(LIBSSH2_SFTP_ATTR_SIZE) != 0 ? attributes.filesize : nil
    let permissions =
      attributes.flags & UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS) != 0 ? attributes.permissions : nil
    return (Int(rc), size, permissions)
  }

  static let directoryTypeBits: UInt = UInt(LIBSSH2_SFTP_S_IFMT)
  static let directoryType: UInt = UInt(LIBSSH2_SFTP_S_IFDIR)

  static func mkdir(_ sftp: SFTP, path: String, mode: Int) -> Int {
    Int(libssh2_sftp_mkdir_ex(sftp, path, UInt32(clamping: path.utf8.count), Int(mode)))
  }

  static func rename(_ sftp: SFTP, from source: String, to target: String) -> Int {
    // SFTP v3 has no rename flags; OpenSSH refuses to rename onto an existing name.
    Int(
      libssh2_sftp_rename_ex(
        sftp, source, UInt32(clamping: source.utf8.count), target, UInt32(clamping: target.utf8.count),
        0))
  }

  static func unlink(_ sftp: SFTP, path: String) -> Int {
    Int(libssh2_sftp_unlink_ex(sftp, path, UInt32(clamping: path.utf8.count)))
  }

  // MARK: Known hosts

  static let checkMatch = Int(LIBSSH2_KNOWNHOST_CHECK_MATCH)
  static let checkMismatch = Int(LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
  static let checkNotFound = Int(LIBSSH2_KNOWNHOST_CHECK_NOTFOUND)

  static func knownHostsInit(_ session: Session) -> KnownHosts? { libssh2_knownhost_init(session) }

  static func knownHostsFree(_ hosts: KnownHosts) { libssh2_knownhost_free(hosts) }

  /// Adds one OpenSSH known_hosts line; returns 0 on success.
  static func knownHostsReadLine(_ hosts: KnownHosts, _ line: String) -> Int {
    Int(
      libssh2_knownhost_readline(
        hosts, line, line.utf8.count, LIBSSH2_KNOWNHOST_FILE_OPENSSH))
  }

  private static func keyMask(_ type: HostKeyType) -> Int32 {
    switch type {
    case .ed25519: LIBSSH2_KNOWNHOST_KEY_ED25519
    case .ecdsa256: LIBSSH2_KNOWNHOST_KEY_ECDSA_256
    case .ecdsa384: LIBSSH2_KNOWNHOST_KEY_ECDSA_384
    case .ecdsa521: LIBSSH2_KNOWNHOST_KEY_ECDSA_521
    case .rsa: LIBSSH2_KNOWNHOST_KEY_SSHRSA
    case .dss: LIBSSH2_KNOWNHOST_KEY_SSHDSS
    case .unknown: LIBSSH2_KNOWNHOST_KEY_UNKNOWN
    }
  }

  private static func keyType(mask: Int32) -> HostKeyType {
    switch mask & LIBSSH2_KNOWNHOST_KEY_MASK {
    case LIBSSH2_KNOWNHOST_KEY_ED25519: .ed25519
    case LIBSSH2_KNOWNHOST_KEY_ECDSA_256: .ecdsa256
    case LIBSSH2_KNOWNHOST_KEY_ECDSA_384: .ecdsa384
    case LIBSSH2_KNOWNHOST_KEY_ECDSA_521: .ecdsa521
    case LIBSSH2_KNOWNHOST_KEY_SSHRSA: .rsa
    case LIBSSH2_KNOWNHOST_KEY_SSHDSS: .dss
    default: .unknown
    }
  }

  /// Every entry in the collection: its base64 key and key type.
  static func knownHostsEntries(_ hosts: KnownHosts) -> [(keyBase64: String, type: HostKeyType)] {
    var result: [(String, HostKeyType)] = []
    var previous: UnsafeMutablePointer<libssh2_knownhost>?
    while true {
      var entry: UnsafeMutablePointer<libssh2_knownhost>?
      let rc = libssh2_knownhost_get(hosts, &entry, previous)
      guard rc == 0, let entry else { break }
      if let key = entry.pointee.key {
        result.append((String(cString: key), keyType(mask: entry.pointee.typemask)))
      }
      previous = entry
    }
    return result
  }

  /// Checks `hostName` (exactly as written in known_hosts, e.g. `host` or `[host]:2222`) and a key
  /// against the collection. Passing port -1 stops libssh2 from also trying other host forms.
  static func knownHostsCheck(
    _ hosts: KnownHosts, hostName: String, keyBase64: String, type: HostKeyType
  ) -> Int {
    let mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_BASE64 | keyMask(type)
    return Int(
      libssh2_knownhost_checkp(hosts, hostName, -1, keyBase64, keyBase64.utf8.count, mask, nil))
  }

  static func knownHostsCheck(_ hosts: KnownHosts, hostName: String, key: [UInt8], type: HostKeyType)
    -> Int
  {
    let mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | keyMask(type)
    return key.withUnsafeBytes { raw in
      guard let base = raw.baseAddress else { return checkNotFound }
      return Int(
        libssh2_knownhost_checkp(
          hosts, hostName, -1, base.assumingMemoryBound(to: CChar.self), raw.count, mask, nil))
    }
  }

  /// Adds a host and key and returns the OpenSSH known_hosts line for it (with a newline).
  static func knownHostsAdd(
    _ hosts: KnownHosts, hostName: String, key: [UInt8], type: HostKeyType, comment: String
  ) -> String? {
    let mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | keyMask(type)
    var stored: UnsafeMutablePointer<libssh2_knownhost>?
    let rc = key.withUnsafeBytes { raw -> Int32 in
      guard let base = raw.baseAddress else { return -1 }
      return libssh2_knownhost_addc(
        hosts, hostName, nil, base.assumingMemoryBound(to: CChar.self), raw.count, comment,
        comment.utf8.count, mask, &stored)
    }
    guard rc == 0, let stored else { return nil }
    var buffer = [CChar](repeating: 0, count: 8192)
    var length = 0
    let written = libssh2_knownhost_writeline(
      hosts, stored, &buffer, buffer.count, &length, LIBSSH2_KNOWNHOST_FILE_OPENSSH)
    guard written == 0 else { return nil }
    return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
