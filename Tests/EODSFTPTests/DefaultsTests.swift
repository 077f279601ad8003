import EODCompression
import EODDelivery
import EODOps
import EODRender
import EODSFTP
import Testing

/// One default per setting: a configuration that leaves a key out gets what the client uses when
/// given nothing (a run without a configuration: `run --destination`, `verify sftp://`).
@Suite struct DefaultsTests {
  static let minimal = """
    version: 1
    snapshot: /data/ledger-{date}.sqlite
    state_store: /var/lib/eod/state.sqlite
    output_dir: /var/lib/eod/out
    firms:
      - firm_id: F1
        destination:
          local_dir: /srv/x

    """

  @Test func theConfigurationsDeliveryDefaultsAreTheClients() throws {
    let configuration = try JobConfiguration.parse(yaml: Self.minimal)
    let retry = SFTPRetryPolicy()
    let timeouts = SFTPTimeouts()
    #expect(configuration.retry.deliveryAttempts == retry.maxAttempts)
    #expect(configuration.retry.baseDelay == retry.baseDelay)
    #expect(configuration.retry.maxDelay == retry.maxDelay)
    #expect(configuration.timeouts.connect == timeouts.connect)
    #expect(configuration.timeouts.operation == timeouts.operation)
    // The documented numbers (docs/operations.md, docs/sftp.md).
    #expect(SFTPDefaults.deliveryAttempts == 5 && SFTPDefaults.connectTimeout == .seconds(30))
    #expect(SFTPDefaults.operationTimeout == .seconds(600))
    // The overall bounds: the night's from a configuration, one delivery's without one.
    #expect(configuration.timeouts.overall == SFTPDefaults.nightOverallTimeout)
    #expect(SFTPDefaults.nightOverallTimeout == .seconds(3 * 3600))
    let endpoint = SFTPEndpoint(host: "127.0.0.1", port: 22, user: "u")
    let client = SFTPDestination.Configuration(
      endpoint: endpoint, remoteBase: "/x", identity: SFTPIdentity(privateKeyPath: "/k"),
      hostKeys: SFTPHostKeyPolicy(knownHostsPath: "/h"))
    #expect(client.overallTimeout == SFTPDefaults.deliveryOverallTimeout)
    #expect(SFTPDefaults.deliveryOverallTimeout == .seconds(1800))
    #expect(retry.maxTotalTime == SFTPDefaults.retryMaxTotalTime && retry.maxTotalTime == .seconds(600))
  }

  @Test func theConfigurationsWebhookDefaultsAreTheSenders() throws {
    let configuration = try JobConfiguration.parse(yaml: Self.minimal)
    #expect(configuration.webhooks.policy.policy == WebhookRetryPolicy())
  }

  @Test func theConfigurationsFormatAndCompressionAreTheWritersTypes() throws {
    let configuration = try JobConfiguration.parse(yaml: Self.minimal)
    let format: ExtractFormat = configuration.format
    let compression: OutputEncoding = configuration.compression
    #expect(format == .csv)
    #expect(compression == OutputEncoding.defaultGzip)
  }
}
