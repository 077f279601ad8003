import Testing

@Test func EODPipelineTestsBuilds() { #expect(Bool(true)) }
