using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ipc.Testing;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Ipc.Sockets.Tests;

[Trait("Transport", "Tcp")]
public sealed class TcpTlsTests : IDisposable
{
    private readonly TestCertificates _certificates = new();

    public void Dispose() => _certificates.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RequestAsync_PlainOrTls_HandlerRunsOnADedicatedReaderOnlyWithoutTls(bool tls)
    {
        // Plain TCP reads with blocking calls on the connection's own thread, which runs the request itself; TLS reads
        // asynchronously, and the request runs on the thread pool.
        var thread = await TestIpc.HandlerThreadNameAsync(
            TestAddresses.NewTcpAddress(),
            ipc => ipc.AddSockets(o => UseTls(o, tls, Server)),
            ipc => ipc.AddSockets(o => UseTls(o, tls, TrustAuthority)));

        Assert.Equal(!tls, thread == "Ipc connection reader");
    }

    [Fact]
    public async Task RequestAsync_TlsWithTrustedServerCertificate_RoundTrips()
    {
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => Server(o)));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o => TrustAuthority(o)));

        await TestIpc.AssertServesAsync(client);
    }

    [Fact]
    public async Task RequestAsync_Tls_HandlerSeesTheClientsAddressUnderTheHandshake()
    {
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => Server(o)));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o => TrustAuthority(o)));

        var info = await client.Requests().RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "who").AsTask().WaitAsync(TestIpc.Bound);

        RemoteAddresses.AssertLoopback(info.RemoteAddress);
    }

    [Fact]
    public async Task RequestAsync_TlsWithUntrustedServerCertificate_ThrowsUnauthorized()
    {
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => Server(o)));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o =>
        {
            o.Tls.Enabled = true;
            o.Tls.CertificateAuthorityPath = _certificates.OtherAuthorityPath;
        }));

        await TlsChecks.AssertUnauthorizedAsync(client);
    }

    [Fact]
    public async Task RequestAsync_MutualTlsWithClientCertificateFromAuthority_RoundTrips()
    {
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => RequireClientCertificate(Server(o))));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o => Present(TrustAuthority(o), _certificates.ClientCertificatePath, _certificates.ClientKeyPath)));

        await TestIpc.AssertServesAsync(client);
    }

    [Fact]
    public async Task RequestAsync_MutualTlsWithWrongClientCertificate_ThrowsUnauthorized()
    {
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => RequireClientCertificate(Server(o))));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o => Present(TrustAuthority(o), _certificates.OtherClientCertificatePath, _certificates.OtherClientKeyPath)));

        var ex = await TlsChecks.AssertUnauthorizedAsync(client);
        Assert.Contains("intruder", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_MutualTlsWithWrongClientCertificate_TellsTheTrustedAuthorityOnlyTheServerLog()
    {
        var address = TestAddresses.NewTcpAddress();
        var log = new CapturingLoggerProvider();
        using var server = await TestIpc.StartServerAsync(address, ipc =>
        {
            ipc.Services.AddLogging(logging => logging.AddProvider(log));
            ipc.AddSockets(o => RequireClientCertificate(Server(o)));
        });
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o => Present(TrustAuthority(o), _certificates.OtherClientCertificatePath, _certificates.OtherClientKeyPath)));

        var ex = await TlsChecks.AssertUnauthorizedAsync(client);

        Assert.DoesNotContain("Ipc Test Authority", ex.Message, StringComparison.Ordinal);
        Assert.Contains(log.Messages, m => m.Contains("intruder", StringComparison.Ordinal) && m.Contains("Ipc Test Authority", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RequestAsync_MutualTlsWithoutClientCertificate_ThrowsUnauthorized()
    {
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => RequireClientCertificate(Server(o))));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o => TrustAuthority(o)));

        await TlsChecks.AssertUnauthorizedAsync(client);
    }

    [Fact]
    public async Task RequestAsync_PlainClientToTlsServer_ThrowsUnauthorizedSayingTheServerRequiresTls()
    {
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => Server(o)));
        await using var client = TestIpc.CreateClient(address);

        var ex = await TlsChecks.AssertUnauthorizedAsync(client);

        Assert.Contains("did not start TLS", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_TlsClientToPlainServer_ThrowsSayingTheTlsHandshakeFailed()
    {
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address);
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o => TrustAuthority(o)));

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("echo", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.Contains("TLS handshake", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Start the server", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_PinnedServerThumbprint_RoundTrips()
    {
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => Server(o)));
        using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(_certificates.ServerCertificatePath);
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o =>
        {
            o.Tls.Enabled = true;
            o.Tls.AllowedThumbprints.Add(certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256));
        }));

        await TestIpc.AssertServesAsync(client);
    }

    /// <summary>
    /// A server with CertificateThumbprint alone (SHA-1, as the store finds it) takes its certificate, with its key, from
    /// CurrentUser/My, the default store: a client that trusts the authority is served over TLS.
    /// </summary>
    [Fact]
    public Task RequestAsync_ServerCertificateFromTheStoreByThumbprint_RoundTrips() =>
        TlsChecks.AssertServesWithCertificateFromStoreAsync(
            _certificates,
            TestAddresses.NewTcpAddress(),
            thumbprint => ipc => ipc.AddSockets(o => FromStore(o, thumbprint, StoreName.My, StoreLocation.CurrentUser)),
            ipc => ipc.AddSockets(o => TrustAuthority(o)));

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
            TestAddresses.NewTcpAddress,
            (thumbprint, name, location) => ipc => ipc.AddSockets(o => FromStore(o, thumbprint, name, location)),
            ipc => ipc.AddSockets(o => TrustAuthority(o)));

    /// <summary>
    /// TargetHost is the name a client expects in the server certificate: a server at 127.0.0.1 whose certificate names
    /// only ipc.test serves a client with TargetHost ipc.test, and a client without it refuses the certificate for its
    /// name, with Unauthorized saying so.
    /// </summary>
    [Fact]
    public Task RequestAsync_ServerCertificateForAnotherName_ServesAClientWithThatTargetHostOnly() =>
        TlsChecks.AssertServesOnlyTheTargetHostAsync(
            TestAddresses.NewTcpAddress(),
            ipc => ipc.AddSockets(o => Server(o, _certificates.OtherHostCertificatePath, _certificates.OtherHostKeyPath)),
            targetHost => ipc => ipc.AddSockets(o => TrustAuthority(o).Tls.TargetHost = targetHost));

    /// <summary>
    /// A client with CheckCertificateRevocation refuses a server certificate whose revocation cannot be checked (the test
    /// authority publishes no revocation list, so nothing is fetched), with Unauthorized saying so; a client without it
    /// is served by the same server.
    /// </summary>
    [Fact]
    public Task RequestAsync_ClientCheckingRevocation_RefusesAServerCertificateWithoutRevocationInformation() =>
        TlsChecks.AssertClientCheckingRevocationRefusesAsync(
            TestAddresses.NewTcpAddress(),
            ipc => ipc.AddSockets(o => Server(o)),
            check => ipc => ipc.AddSockets(o => TrustAuthority(o).Tls.CheckCertificateRevocation = check),
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
            TestAddresses.NewTcpAddress(),
            ipc => ipc.AddSockets(o => RequireClientCertificate(Server(o)).Tls.CheckCertificateRevocation = check),
            ipc => ipc.AddSockets(o => Present(TrustAuthority(o), _certificates.ClientCertificatePath, _certificates.ClientKeyPath)),
            saysWhy: false);

    /// <summary>
    /// The passwords of certificate files open them: a server whose certificate is a PKCS#12 file protected by
    /// CertificatePassword serves, with mutual TLS, a client whose certificate has a PEM key encrypted with
    /// ClientCertificatePassword.
    /// </summary>
    [Fact]
    public async Task RequestAsync_MutualTlsWithPasswordProtectedCertificates_RoundTrips()
    {
        var pfx = _certificates.WritePkcs12(_certificates.ServerCertificatePath, _certificates.ServerKeyPath, "server-pw");
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => RequireClientCertificate(ServerFromPkcs12(o, pfx, "server-pw"))));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o =>
        {
            Present(TrustAuthority(o), _certificates.ClientCertificatePath, _certificates.WriteEncryptedKey(_certificates.ClientKeyPath, "client-pw"));
            o.Tls.ClientCertificatePassword = "client-pw";
        }));

        await TestIpc.AssertServesAsync(client);
    }

    /// <summary>
    /// A server whose CertificatePassword does not open its PKCS#12 file fails at start saying the password may be
    /// incorrect; the same file with its password starts.
    /// </summary>
    [Fact]
    public async Task StartAsync_WrongCertificatePassword_FailsSayingThePasswordMayBeIncorrect()
    {
        var pfx = _certificates.WritePkcs12(_certificates.ServerCertificatePath, _certificates.ServerKeyPath, "server-pw");

        var ex = await Assert.ThrowsAsync<CryptographicException>(() => TestIpc.StartServerAsync(TestAddresses.NewTcpAddress(), ipc => ipc.AddSockets(o => ServerFromPkcs12(o, pfx, "wrong-pw"))));

        Assert.Contains("the password may be incorrect", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"'{pfx}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("and CertificatePassword", ex.Message, StringComparison.Ordinal);

        // The same file with its password starts: the failure was the password's.
        using var server = await TestIpc.StartServerAsync(TestAddresses.NewTcpAddress(), ipc => ipc.AddSockets(o => ServerFromPkcs12(o, pfx, "server-pw")));
    }

    /// <summary>
    /// A client whose ClientCertificatePassword does not open its key fails its call at once with Unauthorized, not
    /// retried as if the server were away, saying which file and options to check.
    /// </summary>
    [Fact]
    public async Task RequestAsync_WrongClientCertificatePassword_ThrowsUnauthorizedNamingTheOptions()
    {
        var key = _certificates.WriteEncryptedKey(_certificates.ClientKeyPath, "client-pw");
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => RequireClientCertificate(Server(o))));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o =>
        {
            Present(TrustAuthority(o), _certificates.ClientCertificatePath, key);
            o.Tls.ClientCertificatePassword = "wrong-pw";
        }));

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, string>(ConformanceRoutes.Inspect, "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
        Assert.True(ex.NotAccepted);
        Assert.Contains($"'{_certificates.ClientCertificatePath}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("ClientCertificatePassword", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A server whose certificate store this system does not have (on Linux, LocalMachine keeps only Root and
    /// CertificateAuthority) fails at start naming the store and the options, not with the store's own exception.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task StartAsync_StoreTheSystemDoesNotHave_FailsNamingTheStore()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => TestIpc.StartServerAsync(
            TestAddresses.NewTcpAddress(), ipc => ipc.AddSockets(o => FromStore(o, "00112233445566778899AABBCCDDEEFF00112233", StoreName.My, StoreLocation.LocalMachine))));

        Assert.Contains("LocalMachine/My cannot be opened", ex.Message, StringComparison.Ordinal);
        Assert.Contains("CertificateStoreLocation", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A client certificate set in code (ClientCertificate, with its key) is the one a client presents: a server with
    /// mutual TLS serves it.
    /// </summary>
    [Fact]
    public async Task RequestAsync_MutualTlsWithClientCertificateInCode_RoundTrips()
    {
        using var certificate = TestCertificates.Load(_certificates.ClientCertificatePath, _certificates.ClientKeyPath);
        var address = TestAddresses.NewTcpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => RequireClientCertificate(Server(o))));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o => TrustAuthority(o).Tls.ClientCertificate = certificate));

        await TestIpc.AssertServesAsync(client);
    }

    private static void UseTls(SocketTransportOptions options, bool tls, Func<SocketTransportOptions, SocketTransportOptions> configure)
    {
        if (tls)
        {
            configure(options);
        }
    }

    [Fact]
    public Task RequestAsync_ServerCertificateFileReplaced_NewConnectionsSeeTheNewCertificate() =>
        TlsChecks.AssertServerCertificateIsRenewedForNewConnectionsAsync(
            _certificates,
            TestAddresses.NewTcpAddress(),
            (certificatePath, keyPath) => ipc => ipc.AddSockets(o => Server(o, certificatePath, keyPath)),
            thumbprint => ipc => ipc.AddSockets(o =>
            {
                o.Tls.Enabled = true;
                o.Tls.AllowedThumbprints.Add(thumbprint);
            }));

    [Fact]
    public Task RequestAsync_AuthorityFileReplaced_ServerValidatesNewConnectionsByTheNewAuthority() =>
        TlsChecks.AssertServerAuthorityIsRenewedForNewConnectionsAsync(
            _certificates,
            TestAddresses.NewTcpAddress(),
            authorityPath => ipc => ipc.AddSockets(o => RequireClientCertificate(Server(o)).Tls.CertificateAuthorityPath = authorityPath),
            ipc => ipc.AddSockets(o => Present(TrustAuthority(o), _certificates.ClientCertificatePath, _certificates.ClientKeyPath)));

    [Fact]
    public async Task StartAsync_ServerCertificateFileWithoutKey_FailsSayingSo()
    {
        var pfx = _certificates.PathOf("public-only.pfx");
        using (var withoutKey = X509CertificateLoader.LoadCertificateFromFile(_certificates.ServerCertificatePath))
        {
            File.WriteAllBytes(pfx, withoutKey.Export(X509ContentType.Pkcs12, "server-pw"));
        }

        var ex = await Assert.ThrowsAsync<CryptographicException>(() => TestIpc.StartServerAsync(TestAddresses.NewTcpAddress(), ipc => ipc.AddSockets(o => ServerFromPkcs12(o, pfx, "server-pw"))));

        Assert.Contains($"The certificate '{pfx}' has no private key", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_ServerCertificateRenewedWithoutItsKey_KeepsPresentingTheLastGoodOne()
    {
        var pfx = _certificates.WritePkcs12(_certificates.ServerCertificatePath, _certificates.ServerKeyPath, "server-pw");
        var address = TestAddresses.NewTcpAddress();
        var time = new FakeTimeProvider();
        var log = new RecordingLog();
        using var server = await TestIpc.StartServerAsync(address, ipc =>
        {
            ipc.Services.AddSingleton<TimeProvider>(time);
            ipc.Services.AddLogging(logging => logging.AddProvider(log));
            ipc.AddSockets(o => ServerFromPkcs12(o, pfx, "server-pw"));
        });
        using (var withoutKey = X509CertificateLoader.LoadCertificateFromFile(_certificates.OtherHostCertificatePath))
        {
            File.WriteAllBytes(pfx, withoutKey.Export(X509ContentType.Pkcs12, "server-pw"));
        }

        time.Advance(TlsChecks.CertificateCheckInterval);
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o => TrustAuthority(o)));

        await TestIpc.AssertServesAsync(client);
        Assert.Contains(log.Warnings, w => w.Contains(pfx, StringComparison.Ordinal) && w.Contains("has no private key", StringComparison.Ordinal));
    }

    private SocketTransportOptions Server(SocketTransportOptions options) => Server(options, _certificates.ServerCertificatePath, _certificates.ServerKeyPath);

    private SocketTransportOptions Server(SocketTransportOptions options, string certificatePath, string? keyPath)
    {
        options.Tls.Enabled = true;
        options.Tls.CertificatePath = certificatePath;
        options.Tls.CertificateKeyPath = keyPath;
        options.Tls.CertificateAuthorityPath = _certificates.AuthorityPath;
        return options;
    }

    private static SocketTransportOptions FromStore(SocketTransportOptions options, string thumbprint, StoreName name, StoreLocation location)
    {
        options.Tls.Enabled = true;
        options.Tls.CertificateThumbprint = thumbprint;
        options.Tls.CertificateStoreName = name;
        options.Tls.CertificateStoreLocation = location;
        return options;
    }

    private SocketTransportOptions ServerFromPkcs12(SocketTransportOptions options, string path, string password)
    {
        Server(options, path, keyPath: null).Tls.CertificatePassword = password;
        return options;
    }

    private SocketTransportOptions RequireClientCertificate(SocketTransportOptions options)
    {
        options.Tls.ClientCertificateRequired = true;
        return options;
    }

    private static SocketTransportOptions Present(SocketTransportOptions options, string certificatePath, string keyPath)
    {
        options.Tls.ClientCertificatePath = certificatePath;
        options.Tls.ClientCertificateKeyPath = keyPath;
        return options;
    }

    private SocketTransportOptions TrustAuthority(SocketTransportOptions options)
    {
        options.Tls.Enabled = true;
        options.Tls.CertificateAuthorityPath = _certificates.AuthorityPath;
        return options;
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider, ILogger
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _messages = new();

        public IEnumerable<string> Messages => _messages;

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _messages.Enqueue(formatter(state, exception));

        public void Dispose()
        {
        }
    }
}
