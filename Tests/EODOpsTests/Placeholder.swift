import Testing

@Test func EODOpsTestsBuilds() { #expect(Bool(true)) }
