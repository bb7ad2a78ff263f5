using System.Globalization;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Ipc.Amqp.Tests;

/// <summary>
/// TLS to a real broker: private nodes of the class's own with a TLS listener, certificates of a test authority the
/// system does not trust, and clients that trust it through <see cref="AmqpTlsOptions.CertificateAuthorityPath"/>.
/// </summary>
public sealed class AmqpTlsTests(TlsNodesFixture nodes, ITestOutputHelper output) : IClassFixture<TlsNodesFixture>, IAsyncLifetime
{
    private readonly AmqpTestHost _hosts = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _hosts.DisposeAsync();

    /// <summary>
    /// A server and a client on an <c>amqps://</c> address of the node's TLS port, trusting the test authority, make a
    /// request/response call, and the broker lists both connections as TLS ones.
    /// </summary>
    [Fact]
    public async Task Amqps_ClientTrustingTheAuthority_CallsOverTls()
    {
        var broker = await nodes.PlainAsync;
        var address = Address(broker, "tls");
        await _hosts.StartServerAsync(address, Price, Trust);
        var requests = Requests(address, Trust);

        Assert.Equal(new Order(20), await requests.RequestAsync<Order, Order>("price", new Order(2)).AsTask().WaitAsync(AmqpTestHost.Bound));

        var ssl = await SslOfConnectionsAsync(broker);
        Assert.Equal(new[] { "true" }, ssl["ipc client of"]);
        Assert.Equal(new[] { "true" }, ssl["ipc server of"]);
    }

    /// <summary>
    /// Without <see cref="AmqpTlsOptions.CertificateAuthorityPath"/> the system's trust store decides, and it does not
    /// know the test authority: the client refuses the broker's certificate, and the call fails with Unauthorized naming
    /// CertificateAuthorityPath.
    /// </summary>
    [Fact]
    public async Task Amqps_ClientNotTrustingTheAuthority_RefusesTheBrokersCertificate()
    {
        var broker = await nodes.PlainAsync;
        var address = Address(broker, "untrusted");
        await _hosts.StartServerAsync(address, Price, Trust);
        var requests = Requests(address, _ => { });

        var ex = await RefusedAsync(requests);

        Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
        Assert.Contains("Tls:CertificateAuthorityPath", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// On a node whose certificate names only <see cref="TestCertificates.OtherHostName"/>, reached at 127.0.0.1, a client
    /// with that ServerName is served, and one without it refuses the certificate for its name.
    /// </summary>
    [Fact]
    public async Task ServerName_IsTheNameTheBrokersCertificateMustCarry()
    {
        var broker = await nodes.OtherHostAsync;
        var address = Address(broker, "named");
        await _hosts.StartServerAsync(address, Price, o => Trust(o, TestCertificates.OtherHostName));
        var named = Requests(address, o => Trust(o, TestCertificates.OtherHostName));
        var unnamed = Requests(address, Trust);

        Assert.Equal(new Order(30), await named.RequestAsync<Order, Order>("price", new Order(3)).AsTask().WaitAsync(AmqpTestHost.Bound));
        var ex = await RefusedAsync(unnamed);

        Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
        Assert.Contains("Tls:ServerName", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// On a node that requires a client certificate of the test authority, a client presenting one (ClientCertificatePath,
    /// PKCS#12 with ClientCertificatePassword) is served, and one without is refused by the broker.
    /// </summary>
    [Fact]
    public async Task ClientCertificate_IsPresentedToABrokerThatRequiresOne()
    {
        var broker = await nodes.MutualAsync;
        var address = Address(broker, "mutual");
        var pkcs12 = nodes.Certificates.WritePkcs12(nodes.Certificates.ClientCertificatePath, nodes.Certificates.ClientKeyPath, "client-secret");
        void Presenting(AmqpTransportOptions options)
        {
            Trust(options);
            options.Tls.ClientCertificatePath = pkcs12;
            options.Tls.ClientCertificatePassword = "client-secret";
        }

        await _hosts.StartServerAsync(address, Price, Presenting);
        var presenting = Requests(address, Presenting);
        var bare = Requests(address, Trust);

        Assert.Equal(new Order(40), await presenting.RequestAsync<Order, Order>("price", new Order(4)).AsTask().WaitAsync(AmqpTestHost.Bound));
        var ex = await RefusedAsync(bare);

        Assert.Contains("Tls:ClientCertificatePath", ex.Message, StringComparison.Ordinal);
        Assert.Equal(new[] { "true" }, (await SslOfConnectionsAsync(broker))["ipc client of"]);
    }

    private static void Price(IpcServerBuilder server) => server.MapRequest<Order, Order>("price", order => order with { Id = order.Id * 10 });

    private static string Address(RabbitBroker broker, string prefix) =>
        string.Create(CultureInfo.InvariantCulture, $"amqps://127.0.0.1:{broker.TlsPort()}/?name={prefix}-{Guid.NewGuid():N}");

    private void Trust(AmqpTransportOptions options) => Trust(options, null);

    private void Trust(AmqpTransportOptions options, string? serverName)
    {
        options.Tls.CertificateAuthorityPath = nodes.Certificates.AuthorityPath;
        options.Tls.ServerName = serverName;
    }

    /// <summary>Makes a call that must fail; writes its code and message to the test's output and returns it.</summary>
    private async Task<IpcException> RefusedAsync(IRequestClient requests)
    {
        var ex = await Assert.ThrowsAsync<IpcException>(() => requests.RequestAsync<Order, Order>("price", new Order(9)).AsTask().WaitAsync(AmqpTestHost.Bound));
        output.WriteLine($"{ex.ErrorCode}: {ex.Message}");
        return ex;
    }

    private IRequestClient Requests(string address, Action<AmqpTransportOptions> amqp) =>
        _hosts.CreateClientServices(address, amqp).GetRequiredService<IIpcClientFactory>().GetRequestClient(AmqpTestHost.Endpoint);

    /// <summary>The <c>ssl</c> column of the broker's connections, by the start of their name ("ipc client of", "ipc server of").</summary>
    private static async Task<Dictionary<string, string[]>> SslOfConnectionsAsync(RabbitBroker broker)
    {
        var listed = await broker.CtlAsync(0, "list_connections", "--quiet", "--no-table-headers", "client_properties", "ssl");
        return new[] { "ipc client of", "ipc server of" }.ToDictionary(
            name => name,
            name => listed.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(line => line.Contains($"{{\"connection_name\",\"{name}", StringComparison.Ordinal))
                .Select(line => line[(line.LastIndexOf('\t') + 1)..])
                .Distinct()
                .ToArray());
    }
}

/// <summary>
/// The test authority's certificates and three private nodes with a TLS listener, each started when a test first asks
/// for it: one with a certificate for localhost/127.0.0.1, one with a certificate for <see cref="TestCertificates.OtherHostName"/>
/// only, and one (for localhost) that requires a client certificate.
/// </summary>
public sealed class TlsNodesFixture : IAsyncLifetime
{
    private readonly Lazy<Task<RabbitBroker>> _plain;
    private readonly Lazy<Task<RabbitBroker>> _otherHost;
    private readonly Lazy<Task<RabbitBroker>> _mutual;

    public TlsNodesFixture()
    {
        var c = Certificates;
        _plain = new(() => RabbitBroker.StartAsync(1, new RabbitTls(c.AuthorityPath, c.ServerCertificatePath, c.ServerKeyPath)));
        _otherHost = new(() => RabbitBroker.StartAsync(1, new RabbitTls(c.AuthorityPath, c.OtherHostCertificatePath, c.OtherHostKeyPath)));
        _mutual = new(() => RabbitBroker.StartAsync(1, new RabbitTls(c.AuthorityPath, c.ServerCertificatePath, c.ServerKeyPath, RequireClientCertificate: true)));
    }

    public TestCertificates Certificates { get; } = new();

    public Task<RabbitBroker> PlainAsync => _plain.Value;

    public Task<RabbitBroker> OtherHostAsync => _otherHost.Value;

    public Task<RabbitBroker> MutualAsync => _mutual.Value;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var broker in new[] { _plain, _otherHost, _mutual })
        {
            if (broker.IsValueCreated)
            {
                try
                {
                    await (await broker.Value).DisposeAsync();
                }
                catch (InvalidOperationException)
                {
                    // It failed to start, and StartAsync disposed what it had started.
                }
            }
        }

        Certificates.Dispose();
    }
}
