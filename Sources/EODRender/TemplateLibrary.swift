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
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".tmpl") }
        .sorted()
    } catch {
      throw TemplateError(file: directory, line: nil, detail: "cannot list the templates directory: \(error)")
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

  /// Finds the standard templates directory: `$EOD_TEMPLATES`, else `./templates`, else a
  /// `templates` folder beside or above the executable (as in a checkout's `.build`).
  public static func defaultDirectory(executablePath: String) -> String {
    let manager = FileManager.default
    if let fromEnvironment = ProcessInfo.processInfo.environment["EOD_TEMPLATES"], !fromEnvironment.isEmpty {
      return fromEnvironment
    }
    func hasTemplates(_ directory: String) -> Bool {
      manager.fileExists(atPath: directory + "/positions.v1.tmpl")
    }
    let cwd = manager.currentDirectoryPath + "/templates"
    if hasTemplates(cwd) { return cwd }
    var directory = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<6 {
      let candidate = directory.appendingPathComponent("templates").path
      if hasTemplates(candidate) { return candidate }
      directory = directory.deletingLastPathComponent()
    }
    return cwd
  }
}
