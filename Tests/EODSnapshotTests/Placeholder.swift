import Testing

@Test func EODSnapshotTestsBuilds() { #expect(Bool(true)) }
