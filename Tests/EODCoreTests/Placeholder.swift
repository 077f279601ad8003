import Testing

@Test func EODCoreTestsBuilds() { #expect(Bool(true)) }
