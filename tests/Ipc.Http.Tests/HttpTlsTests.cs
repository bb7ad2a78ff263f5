using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Ipc.Http.Tests;

/// <summary>https:// on the transport's own Kestrel: TLS, and mutual TLS that refuses a certificate from another authority.</summary>
public sealed class HttpTlsTests : IDisposable
{
    private readonly TestCertificates _certificates = new();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public async Task RequestAsync_Tls_ServesClientThatTrustsTheAuthority()
    {
        var address = HttpTestAddresses.NewHttpsAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddHttp(o => ServerTls(o, requireClient: false)));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddHttp(o => o.Tls.CertificateAuthorityPath = _certificates.AuthorityPath));

        await TestIpc.AssertServesAsync(client);
        await server.StopAsync();
    }

    [Fact]
    public async Task RequestAsync_TlsHttp2_IsNegotiatedByAlpn()
    {
        var address = HttpTestAddresses.NewHttpsAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddHttp(o => ServerTls(o, requireClient: false)));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddHttp(o =>
        {
            o.Protocol = HttpIpcProtocol.Http2;
            o.Tls.CertificateAuthorityPath = _certificates.AuthorityPath;
        }));

        await TestIpc.AssertServesAsync(client);
        await server.StopAsync();
    }

    [Fact]
    public async Task RequestAsync_TlsServerNotTrusted_ThrowsUnauthorized()
    {
        var address = HttpTestAddresses.NewHttpsAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddHttp(o => ServerTls(o, requireClient: false)));
        await using var client = TestIpc.CreateClient(address, ipc =>
        {
            ipc.AddHttp(o => o.Tls.CertificateAuthorityPath = _certificates.OtherAuthorityPath);
            ipc.ConfigureResilience(r => r.Enabled = false);
        });

        var ex = await TlsChecks.AssertUnauthorizedAsync(client);

        Assert.Contains("this client refused the server's certificate: the certificate CN=localhost was not issued by the configured authority", ex.Message, StringComparison.Ordinal);
        await server.StopAsync();
    }

    [Fact]
    public async Task RequestAsync_MutualTls_ServesClientWithCertificateOfTheAuthority()
    {
        var address = HttpTestAddresses.NewHttpsAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddHttp(o => ServerTls(o, requireClient: true)));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddHttp(o =>
        {
            o.Tls.CertificateAuthorityPath = _certificates.AuthorityPath;
            o.Tls.ClientCertificatePath = _certificates.ClientCertificatePath;
            o.Tls.ClientCertificateKeyPath = _certificates.ClientKeyPath;
        }));

        await TestIpc.AssertServesAsync(client);
        await server.StopAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RequestAsync_MutualTlsRefusedOrMissingCertificate_ThrowsUnauthorizedSayingWhy(bool presentOther)
    {
        var address = HttpTestAddresses.NewHttpsAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddHttp(o => ServerTls(o, requireClient: true)));
        await using var client = TestIpc.CreateClient(address, ipc =>
        {
            ipc.AddHttp(o =>
            {
                o.Tls.CertificateAuthorityPath = _certificates.AuthorityPath;
                if (presentOther)
                {
                    o.Tls.ClientCertificatePath = _certificates.OtherClientCertificatePath;
                    o.Tls.ClientCertificateKeyPath = _certificates.OtherClientKeyPath;
                }
            });
            ipc.ConfigureResilience(r => r.Enabled = false);
        });

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("echo", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
        Assert.Contains(presentOther ? "intruder" : "no certificate was presented", ex.Message, StringComparison.Ordinal);
        await server.StopAsync();
    }

    /// <summary>
    /// The server logs a refused client certificate with its reason (event 1502), once per connection: two refused calls
    /// over one HTTP/2 connection judge the certificate once.
    /// </summary>
    [Fact]
    public async Task RequestAsync_MutualTlsRefusedCertificate_IsLoggedOncePerConnection()
    {
        var address = HttpTestAddresses.NewHttpsAddress();
        var collector = new FakeLogCollector();
        using var server = await TestIpc.StartServerAsync(address, ipc =>
        {
            ipc.Services.AddLogging(logging => logging.AddProvider(new FakeLoggerProvider(collector)));
            ipc.AddHttp(o => ServerTls(o, requireClient: true));
        });
        await using var client = TestIpc.CreateClient(address, ipc =>
        {
            Client(tls =>
            {
                tls.ClientCertificatePath = _certificates.OtherClientCertificatePath;
                tls.ClientCertificateKeyPath = _certificates.OtherClientKeyPath;
            })(ipc);
            ipc.AddHttp(o => o.Protocol = HttpIpcProtocol.Http2);
        });

        await TlsChecks.AssertUnauthorizedAsync(client);
        await TlsChecks.AssertUnauthorizedAsync(client);

        var refused = Assert.Single(collector.GetSnapshot(), r => r.Id.Id == 1502);
        Assert.Equal(LogLevel.Warning, refused.Level);
        Assert.Contains($"Endpoint '{TestIpc.Endpoint}' ({address}) refused a client certificate: the certificate CN=intruder", refused.Message, StringComparison.Ordinal);
        await server.StopAsync();
    }

    /// <summary>
    /// A client with CheckCertificateRevocation refuses a server certificate whose revocation cannot be checked (the test
    /// authority publishes no revocation list, so nothing is fetched), with Unauthorized; a client without it is served by
    /// the same server.
    /// </summary>
    [Fact]
    public Task RequestAsync_ClientCheckingRevocation_RefusesAServerCertificateWithoutRevocationInformation() =>
        TlsChecks.AssertClientCheckingRevocationRefusesAsync(
            HttpTestAddresses.NewHttpsAddress(),
            ipc => ipc.AddHttp(o => ServerTls(o, requireClient: false)),
            check => Client(tls => tls.CheckCertificateRevocation = check),
            saysWhy: true);

    /// <summary>
    /// A server with mutual TLS and CheckCertificateRevocation refuses a client certificate of its authority whose
    /// revocation cannot be checked, with 401 (Unauthorized) saying so; without it, the same client is served.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public Task RequestAsync_ServerCheckingRevocation_RefusesAClientCertificateWithoutRevocationInformation(bool check) =>
        TlsChecks.AssertServerCheckingRevocationRefusesAsync(
            check,
            HttpTestAddresses.NewHttpsAddress(),
            ipc => ipc.AddHttp(o => ServerTls(o, requireClient: true).CheckCertificateRevocation = check),
            Client(PresentClientCertificate),
            saysWhy: true);

    /// <summary>
    /// Without CertificateAuthorityPath a server with mutual TLS trusts what the system trusts: a client certificate of
    /// the test authority, which the system does not know, is refused with 401 (Unauthorized) saying it is not trusted.
    /// </summary>
    [Fact]
    public async Task RequestAsync_MutualTlsWithoutAuthority_RefusesAClientCertificateTheSystemDoesNotTrust()
    {
        var address = HttpTestAddresses.NewHttpsAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddHttp(o => ServerTls(o, requireClient: true).CertificateAuthorityPath = null));
        await using var client = TestIpc.CreateClient(address, Client(PresentClientCertificate));

        var ex = await TlsChecks.AssertUnauthorizedAsync(client);

        Assert.Contains("the certificate CN=ipc-client is not trusted", ex.Message, StringComparison.Ordinal);
        await server.StopAsync();
    }

    [Fact]
    public Task RequestAsync_ServerCertificateFileReplaced_NewConnectionsSeeTheNewCertificate() =>
        TlsChecks.AssertServerCertificateIsRenewedForNewConnectionsAsync(
            _certificates,
            HttpTestAddresses.NewHttpsAddress(),
            (certificatePath, keyPath) => ipc => ipc.AddHttp(o =>
            {
                ServerTls(o, requireClient: false);
                o.Tls.CertificatePath = certificatePath;
                o.Tls.CertificateKeyPath = keyPath;
            }),
            thumbprint => ipc => ipc.AddHttp(o => o.Tls.AllowedThumbprints.Add(thumbprint)));

    [Fact]
    public Task RequestAsync_AuthorityFileReplaced_ServerValidatesNewConnectionsByTheNewAuthority() =>
        TlsChecks.AssertServerAuthorityIsRenewedForNewConnectionsAsync(
            _certificates,
            HttpTestAddresses.NewHttpsAddress(),
            authorityPath => ipc => ipc.AddHttp(o => ServerTls(o, requireClient: true).CertificateAuthorityPath = authorityPath),
            Client(PresentClientCertificate));

    [Fact]
    public Task RequestAsync_ClientCertificateFileReplaced_NewConnectionsPresentTheNewCertificate() =>
        TlsChecks.AssertClientCertificateIsRenewedForNewConnectionsAsync(
            _certificates,
            HttpTestAddresses.NewHttpsAddress(),
            thumbprint => ipc => ipc.AddHttp(o => ServerTls(o, requireClient: true).AllowedThumbprints.Add(thumbprint)),
            (certificatePath, keyPath) => Client(tls =>
            {
                tls.ClientCertificatePath = certificatePath;
                tls.ClientCertificateKeyPath = keyPath;
            }));

    /// <summary>The settings of a client that trusts the authority and does not retry, its TLS options then set by <paramref name="tls"/>.</summary>
    private Action<IIpcBuilder> Client(Action<HttpTlsOptions> tls) => ipc =>
    {
        ipc.AddHttp(o =>
        {
            o.Tls.CertificateAuthorityPath = _certificates.AuthorityPath;
            tls(o.Tls);
        });
        ipc.ConfigureResilience(r => r.Enabled = false);
    };

    private void PresentClientCertificate(HttpTlsOptions tls)
    {
        tls.ClientCertificatePath = _certificates.ClientCertificatePath;
        tls.ClientCertificateKeyPath = _certificates.ClientKeyPath;
    }

    private HttpTlsOptions ServerTls(HttpTransportOptions options, bool requireClient)
    {
        options.Tls.CertificatePath = _certificates.ServerCertificatePath;
        options.Tls.CertificateKeyPath = _certificates.ServerKeyPath;
        options.Tls.CertificateAuthorityPath = _certificates.AuthorityPath;
        options.Tls.ClientCertificateRequired = requireClient;
        return options.Tls;
    }
}
