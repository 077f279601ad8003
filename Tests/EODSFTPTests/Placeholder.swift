import Testing

@Test func EODSFTPTestsBuilds() { #expect(Bool(true)) }
