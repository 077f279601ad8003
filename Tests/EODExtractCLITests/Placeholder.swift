import Testing

@Test func EODExtractCLITestsBuilds() { #expect(Bool(true)) }
