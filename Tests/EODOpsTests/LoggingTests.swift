import Foundation
import Logging
import Testing

@testable import EODOps

@Suite struct LoggingTests {
  let fixedClock: @Sendable () -> Date = { Date(timeIntervalSince1970: 1_735_780_500.25) }

  @Test func jsonLinesCarryMetadata() throws {
    let lines = LineCollector()
    var logger = Logger(label: "eod-extract") { label in
      JSONLogHandler(label: label, sink: LogSink { lines.append($0) }, clock: fixedClock)
    }
    logger[metadataKey: "run_id"] = "run-7"
    logger.info(
      "firm \"delivered\"\nok",
      metadata: [
        "firm": "F001", "date": "2025-01-02", "step": "deliver", "duration_ms": "\(1234)",
        "rows": .stringConvertible(42), "ratio": .stringConvertible(0.5),
        "files": ["a.csv.gz", "b.csv.gz"], "message": "collides",
      ])
    logger.debug("not logged at info")
    let output = lines.lines
    #expect(output.count == 1)
    let line = try #require(output.first)
    #expect(line.hasSuffix("}\n"))
    #expect(line.dropLast().contains("\n") == false)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    #expect(object["timestamp"] as? String == "2025-01-02T01:15:00.250Z")
    #expect(object["level"] as? String == "info")
    #expect(object["message"] as? String == "firm \"delivered\"\nok")
    #expect(object["logger"] as? String == "eod-extract")
    #expect(object["run_id"] as? String == "run-7")
    #expect(object["firm"] as? String == "F001")
    #expect(object["date"] as? String == "2025-01-02")
    #expect(object["step"] as? String == "deliver")
    #expect(object["duration_ms"] as? String == "1234")
    #expect(object["rows"] as? Int == 42)
    #expect(object["ratio"] as? Double == 0.5)
    #expect(object["files"] as? [String] == ["a.csv.gz", "b.csv.gz"])
    #expect(object["meta_message"] as? String == "collides")
  }

  @Test func humanLinesAreReadable() throws {
    let lines = LineCollector()
    var logger = Logger(label: "eod-extract") { label in
      HumanLogHandler(label: label, sink: LogSink { lines.append($0) }, clock: fixedClock)
    }
    logger[metadataKey: "run_id"] = "run-7"
    logger.warning("delivery retried", metadata: ["firm": "F001", "error": "connection reset by peer"])
    #expect(
      lines.lines == [
        "2025-01-02T01:15:00.250Z warning  delivery retried  error=\"connection reset by peer\"  firm=F001  run_id=run-7\n"
      ])
  }

  @Test func automaticFormatFollowsTheTerminal() throws {
    let lines = LineCollector()
    let pipe = EODLogging.makeHandler(label: "x", sink: LogSink(isTerminal: false) { lines.append($0) })
    #expect(pipe is JSONLogHandler)
    let terminal = EODLogging.makeHandler(label: "x", sink: LogSink(isTerminal: true) { lines.append($0) })
    #expect(terminal is HumanLogHandler)
    let forced = EODLogging.makeHandler(
      label: "x", format: .json, sink: LogSink(isTerminal: true) { lines.append($0) })
    #expect(forced is JSONLogHandler)
    #expect(EODLogging.makeHandler(label: "x", level: .debug).logLevel == .debug)
  }

  @Test func fileDescriptorSinkWritesWholeLines() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.file("log.jsonl")
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    try #require(fd >= 0)
    let sink = LogSink.fileDescriptor(fd)
    #expect(!sink.isTerminal)
    let logger = Logger(label: "t") { EODLogging.makeHandler(label: $0, sink: sink) }
    DispatchQueue.concurrentPerform(iterations: 200) { index in
      logger.info(
        "line", metadata: ["index": "\(index)", "padding": "\(String(repeating: "x", count: 300))"])
    }
    close(fd)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let lines = text.split(separator: "\n")
    #expect(lines.count == 200)
    for line in lines {
      #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil)
    }
  }
}
