import Foundation

/// The templates in a directory, loaded and checked at start-up.
public struct TemplateLibrary: Sendable {
  /// By name, e.g. `positions.v1`.
  public private(set) var templates: [String: Template] = [:]
  public let directory: String

  /// Loads every `*.tmpl` file in `directory`. Any bad template is an error now.
  public init(directory: String) throws(TemplateError) {
    self.directory = directory
    let names: [String]
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
      throw TemplateError(
        file: directory, line: nil, detail: "templates directory: no such file or directory")
    }
    guard isDirectory.boolValue else {
      throw TemplateError(file: directory, line: nil, detail: "templates directory: is not a directory")
    }
    guard access(directory, R_OK | X_OK) == 0 else {
      throw TemplateError(
        file: directory, line: nil, detail: "templates directory: \(String(cString: strerror(errno)))")
    }
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".tmpl") }
        .sorted()
    } catch {
      throw TemplateError(file: directory, line: nil, detail: "cannot list the templates directory")
    }
    for name in names {
      let path = directory + "/" + name
      guard let data = FileManager.default.contents(atPath: path) else {
        throw TemplateError(file: path, line: nil, detail: "cannot read the file")
      }
      let template = try Template.parse(String(decoding: data, as: UTF8.self), file: path)
      let expected = String(name.dropLast(".tmpl".count))
      guard expected == template.name else {
        throw TemplateError(
          file: path, line: nil, detail: "file name says \(expected) but the template is \(template.name)")
      }
      templates[template.name] = template
    }
  }

  /// The template for an extract at a version, or an error naming what is available.
  public func template(_ extract: ExtractKind, version: Int) throws(TemplateError) -> Template {
    let name = "\(extract.rawValue).v\(version)"
    guard let template = templates[name] else {
      let available = templates.keys.sorted().joined(separator: ", ")
      throw TemplateError(file: directory, line: nil, detail: "no template \(name) (available: \(available))")
    }
    return template
  }

  /// Where the standard templates are looked for, in order: `$EOD_TEMPLATES`, `./templates`,
  /// the installed place `PREFIX/share/eod-extract/templates` for an executable in `PREFIX/bin`,
  /// and a `templates` folder beside or above the executable (a checkout's `.build/...`).
  public static func searchDirectories(executablePath: String) -> [String] {
    var directories: [String] = []
    if let fromEnvironment = ProcessInfo.processInfo.environment["EOD_TEMPLATES"], !fromEnvironment.isEmpty {
      directories.append(fromEnvironment)
    }
    directories.append(FileManager.default.currentDirectoryPath + "/templates")
    // The executable as the system runs it: /proc/self/exe when argv[0] is a bare name found on PATH.
    var executable = URL(fileURLWithPath: executablePath)
    if !executablePath.contains("/"), let running = Bundle.main.executableURL { executable = running }
    let folder = executable.resolvingSymlinksInPath().deletingLastPathComponent()
    directories.append(
      folder.deletingLastPathComponent().appendingPathComponent("share/eod-extract/templates")
        .standardizedFileURL
        .path)
    var directory = folder
    for _ in 0..<6 {
      directories.append(directory.appendingPathComponent("templates").standardizedFileURL.path)
      directory = directory.deletingLastPathComponent()
    }
    var seen: Set<String> = []
    return directories.filter { seen.insert($0).inserted }
  }

  /// Whether `directory` holds the standard templates (a `positions.v1.tmpl` at least).
  public static func holdsStandardTemplates(_ directory: String) -> Bool {
    FileManager.default.fileExists(atPath: directory + "/positions.v1.tmpl")
  }
}
