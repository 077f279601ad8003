import Testing

@Test func EODRenderTestsBuilds() { #expect(Bool(true)) }
