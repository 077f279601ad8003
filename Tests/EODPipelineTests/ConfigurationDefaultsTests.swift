import EODCompression
import EODOps
import EODPipeline
import EODRender
import Testing

/// A configuration that leaves a key out gets what the job uses when run without one (`run
/// --snapshot`): the same format, compression and number of processing threads.
@Suite struct ConfigurationDefaultsTests {
  @Test func theConfigurationsDefaultsAreTheJobs() throws {
    let configuration = try JobConfiguration.parse(
      yaml: """
        version: 1
        snapshot: /data/ledger-{date}.sqlite
        state_store: /var/lib/eod/state.sqlite
        output_dir: /var/lib/eod/out
        firms:
          - firm_id: F1
            destination:
              local_dir: /srv/x

        """)
    let settings = FirmSettings()
    #expect(configuration.format == settings.format)
    #expect(configuration.compression == settings.encoding)
    let options = JobOptions(
      snapshotPath: "s.sqlite", outputDirectory: "out", templates: try Fixtures.library())
    #expect(configuration.concurrency == options.processingThreads)
  }
}
