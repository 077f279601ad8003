import Testing

@Test func EODCompressionTestsBuilds() { #expect(Bool(true)) }
