import EODCompression
import Testing

/// Error codes are spelled one way across the job: kebab-case (docs/operations.md, "Error codes").
@Suite struct CompressionErrorTests {
  @Test func codesAreKebabCase() {
    let codes: [CompressionError.Code] = [
      .invalidConfiguration, .openFailed, .writeFailed, .syncFailed, .closeFailed, .readFailed, .zlibFailed,
      .corruptInput, .truncatedInput, .writerClosed,
    ]
    for code in codes {
      #expect(code.rawValue.allSatisfy { $0 == "-" || $0.isLowercase || $0.isNumber }, "\(code)")
    }
    let error = CompressionError(code: .writeFailed, step: "writing block 1", path: "/o/p.csv.gz")
    #expect(error.description == "write-failed: writing block 1 (file: /o/p.csv.gz)")
  }
}
