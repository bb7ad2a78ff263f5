using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Grpc.Tests;

[Trait("Transport", "Grpc")]
public sealed class GrpcTlsTests : IDisposable
{
    private readonly TestCertificates _certificates = new();

    public void Dispose() => _certificates.Dispose();

    private static string NewAddress() => $"grpcs://127.0.0.1:{TestAddresses.FreePort()}";

    [Fact]
    public async Task RequestAsync_TlsWithTrustedServerCertificate_RoundTrips()
    {
        var address = NewAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddGrpc(o => Server(o)));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddGrpc(o => TrustAuthority(o)));

        await TestIpc.AssertServesAsync(client);
    }

    [Fact]
    public async Task RequestAsync_TlsWithUntrustedServerCertificate_ThrowsUnauthorizedSayingWhy()
    {
        var address = NewAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddGrpc(o => Server(o)));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddGrpc(o => o.Tls.CertificateAuthorityPath = _certificates.OtherAuthorityPath));

        var ex = await TlsChecks.AssertUnauthorizedAsync(client);

        Assert.Contains("was not issued by the configured authority", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.NotAccepted);
    }

    [Fact]
    public async Task RequestAsync_MutualTlsWithClientCertificateFromAuthority_RoundTrips()
    {
        var address = NewAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddGrpc(o => RequireClientCertificate(Server(o))));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddGrpc(o => Present(TrustAuthority(o), _certificates.ClientCertificatePath, _certificates.ClientKeyPath)));

        await TestIpc.AssertServesAsync(client);
    }

    [Fact]
    public async Task RequestAsync_MutualTlsWithWrongClientCertificate_ThrowsUnauthorizedNamingTheCertificate()
    {
        var address = NewAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddGrpc(o => RequireClientCertificate(Server(o))));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddGrpc(o => Present(TrustAuthority(o), _certificates.OtherClientCertificatePath, _certificates.OtherClientKeyPath)));

        var ex = await TlsChecks.AssertUnauthorizedAsync(client);

        Assert.Contains("intruder", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Ipc Test Authority", ex.Message, StringComparison.Ordinal); // what the server trusts is for its log only
    }

    [Fact]
    public async Task RequestAsync_MutualTlsWithoutClientCertificate_ThrowsUnauthorized()
    {
        var address = NewAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddGrpc(o => RequireClientCertificate(Server(o))));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddGrpc(o => TrustAuthority(o)));

        var ex = await TlsChecks.AssertUnauthorizedAsync(client);

        Assert.Contains("requires a client certificate", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_GrpcsWithoutServerCertificate_FailsNamingTheKey()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => TestIpc.StartServerAsync(NewAddress()));

        Assert.Contains("Ipc:Transports:Grpc:Tls:CertificatePath", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A server with CertificateThumbprint alone (SHA-1, as the store finds it) takes its certificate, with its key, from
    /// CurrentUser/My, the default store: a client that trusts the authority is served over TLS.
    /// </summary>
    [Fact]
    public Task RequestAsync_ServerCertificateFromTheStoreByThumbprint_RoundTrips() =>
        TlsChecks.AssertServesWithCertificateFromStoreAsync(
            _certificates,
            NewAddress(),
            thumbprint => ipc => ipc.AddGrpc(o => o.Tls.CertificateThumbprint = thumbprint),
            ipc => ipc.AddGrpc(o => TrustAuthority(o)));

    /// <summary>
    /// The thumbprint is looked up in CertificateStoreName at CertificateStoreLocation, and nowhere else: with the
    /// certificate in CurrentUser/CertificateAuthority, a server that looks in CurrentUser/My or in
    /// LocalMachine/CertificateAuthority fails at start naming the thumbprint and that store, and one that looks in
    /// CurrentUser/CertificateAuthority serves.
    /// </summary>
    [Fact]
    public Task StartAsync_CertificateThumbprint_IsLookedUpInTheConfiguredStoreOnly() =>
        TlsChecks.AssertThumbprintIsLookedUpInTheConfiguredStoreOnlyAsync(
            _certificates,
            NewAddress,
            (thumbprint, name, location) => ipc => ipc.AddGrpc(o =>
            {
                o.Tls.CertificateThumbprint = thumbprint;
                o.Tls.CertificateStoreName = name;
                o.Tls.CertificateStoreLocation = location;
            }),
            ipc => ipc.AddGrpc(o => TrustAuthority(o)));

    /// <summary>
    /// TargetHost is the name a client expects in the server certificate: a server at 127.0.0.1 whose certificate names
    /// only ipc.test serves a client with TargetHost ipc.test, and a client without it refuses the certificate for its
    /// name, with Unauthorized saying so.
    /// </summary>
    [Fact]
    public Task RequestAsync_ServerCertificateForAnotherName_ServesAClientWithThatTargetHostOnly() =>
        TlsChecks.AssertServesOnlyTheTargetHostAsync(
            NewAddress(),
            ipc => ipc.AddGrpc(o => Server(o, _certificates.OtherHostCertificatePath, _certificates.OtherHostKeyPath)),
            targetHost => ipc => ipc.AddGrpc(o => TrustAuthority(o).Tls.TargetHost = targetHost));

    /// <summary>
    /// A client with CheckCertificateRevocation refuses a server certificate whose revocation cannot be checked (the test
    /// authority publishes no revocation list, so nothing is fetched), with Unauthorized saying so; a client without it
    /// is served by the same server.
    /// </summary>
    [Fact]
    public Task RequestAsync_ClientCheckingRevocation_RefusesAServerCertificateWithoutRevocationInformation() =>
        TlsChecks.AssertClientCheckingRevocationRefusesAsync(
            NewAddress(),
            ipc => ipc.AddGrpc(o => Server(o)),
            check => ipc => ipc.AddGrpc(o => TrustAuthority(o).Tls.CheckCertificateRevocation = check),
            saysWhy: true);

    /// <summary>
    /// A server with mutual TLS and CheckCertificateRevocation refuses a client certificate of its authority whose
    /// revocation cannot be checked, with Unauthorized; without it, the same client is served.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public Task RequestAsync_ServerCheckingRevocation_RefusesAClientCertificateWithoutRevocationInformation(bool check) =>
        TlsChecks.AssertServerCheckingRevocationRefusesAsync(
            check,
            NewAddress(),
            ipc => ipc.AddGrpc(o => RequireClientCertificate(Server(o)).Tls.CheckCertificateRevocation = check),
            ipc => ipc.AddGrpc(o => Present(TrustAuthority(o), _certificates.ClientCertificatePath, _certificates.ClientKeyPath)),
            saysWhy: false);

    [Fact]
    public Task RequestAsync_ServerCertificateFileReplaced_NewConnectionsSeeTheNewCertificate() =>
        TlsChecks.AssertServerCertificateIsRenewedForNewConnectionsAsync(
            _certificates,
            NewAddress(),
            (certificatePath, keyPath) => ipc => ipc.AddGrpc(o => Server(o, certificatePath, keyPath)),
            thumbprint => ipc => ipc.AddGrpc(o => o.Tls.AllowedThumbprints.Add(thumbprint)));

    [Fact]
    public Task RequestAsync_AuthorityFileReplaced_ServerValidatesNewConnectionsByTheNewAuthority() =>
        TlsChecks.AssertServerAuthorityIsRenewedForNewConnectionsAsync(
            _certificates,
            NewAddress(),
            authorityPath => ipc => ipc.AddGrpc(o => RequireClientCertificate(Server(o)).Tls.CertificateAuthorityPath = authorityPath),
            ipc => ipc.AddGrpc(o => Present(TrustAuthority(o), _certificates.ClientCertificatePath, _certificates.ClientKeyPath)));

    [Fact]
    public Task RequestAsync_ClientCertificateFileReplaced_NewConnectionsPresentTheNewCertificate() =>
        TlsChecks.AssertClientCertificateIsRenewedForNewConnectionsAsync(
            _certificates,
            NewAddress(),
            thumbprint => ipc => ipc.AddGrpc(o => RequireClientCertificate(Server(o)).Tls.AllowedThumbprints.Add(thumbprint)),
            (certificatePath, keyPath) => ipc => ipc.AddGrpc(o => Present(TrustAuthority(o), certificatePath, keyPath)));

    private GrpcTransportOptions Server(GrpcTransportOptions options) => Server(options, _certificates.ServerCertificatePath, _certificates.ServerKeyPath);

    private GrpcTransportOptions Server(GrpcTransportOptions options, string certificatePath, string keyPath)
    {
        options.Tls.CertificatePath = certificatePath;
        options.Tls.CertificateKeyPath = keyPath;
        options.Tls.CertificateAuthorityPath = _certificates.AuthorityPath;
        return options;
    }

    private static GrpcTransportOptions RequireClientCertificate(GrpcTransportOptions options)
    {
        options.Tls.ClientCertificateRequired = true;
        return options;
    }

    private static GrpcTransportOptions Present(GrpcTransportOptions options, string certificatePath, string keyPath)
    {
        options.Tls.ClientCertificatePath = certificatePath;
        options.Tls.ClientCertificateKeyPath = keyPath;
        return options;
    }

    private GrpcTransportOptions TrustAuthority(GrpcTransportOptions options)
    {
        options.Tls.CertificateAuthorityPath = _certificates.AuthorityPath;
        return options;
    }
}
