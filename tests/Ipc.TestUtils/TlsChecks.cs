using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Ipc.TestUtils;

/// <summary>
/// Checks of TLS options that each transport speaking TLS runs with its own options: a test passes the server and client
/// settings of its transport, and the check starts them and says what must happen.
/// </summary>
public static class TlsChecks
{
    /// <summary>Checks that a call from <paramref name="client"/> fails with Unauthorized; returns the exception.</summary>
    public static async Task<IpcException> AssertUnauthorizedAsync(IServiceProvider client)
    {
        var ex = await Xunit.Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("echo", "x").AsTask().WaitAsync(TestIpc.Bound));
        Xunit.Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
        return ex;
    }

    /// <summary>
    /// With the server certificate in CurrentUser/My, a server given its thumbprint alone by <paramref name="server"/>
    /// serves <paramref name="client"/> over TLS.
    /// </summary>
    public static async Task AssertServesWithCertificateFromStoreAsync(TestCertificates certificates, string address, Func<string, Action<IIpcBuilder>> server, Action<IIpcBuilder> client)
    {
        using var stored = new StoredCertificate(certificates.ServerCertificatePath, certificates.ServerKeyPath, StoreName.My);
        using var host = await TestIpc.StartServerAsync(address, server(stored.Thumbprint));
        await using var services = TestIpc.CreateClient(address, client);

        await TestIpc.AssertServesAsync(services);
    }

    /// <summary>
    /// With the server certificate in CurrentUser/CertificateAuthority, a server that <paramref name="server"/> has look
    /// for its thumbprint in CurrentUser/My or in LocalMachine/CertificateAuthority fails at start naming the thumbprint
    /// and that store, and one that looks in CurrentUser/CertificateAuthority serves <paramref name="client"/>.
    /// </summary>
    public static async Task AssertThumbprintIsLookedUpInTheConfiguredStoreOnlyAsync(
        TestCertificates certificates,
        Func<string> newAddress,
        Func<string, StoreName, StoreLocation, Action<IIpcBuilder>> server,
        Action<IIpcBuilder> client)
    {
        using var stored = new StoredCertificate(certificates.ServerCertificatePath, certificates.ServerKeyPath, StoreName.CertificateAuthority);

        foreach (var (name, location) in new[] { (StoreName.My, StoreLocation.CurrentUser), (StoreName.CertificateAuthority, StoreLocation.LocalMachine) })
        {
            var ex = await Xunit.Assert.ThrowsAsync<InvalidOperationException>(() => TestIpc.StartServerAsync(newAddress(), server(stored.Thumbprint, name, location)));
            Xunit.Assert.Contains($"no certificate with thumbprint {stored.Thumbprint} is in {location}/{name}", ex.Message, StringComparison.Ordinal);
        }

        var address = newAddress();
        using var host = await TestIpc.StartServerAsync(address, server(stored.Thumbprint, StoreName.CertificateAuthority, StoreLocation.CurrentUser));
        await using var services = TestIpc.CreateClient(address, client);
        await TestIpc.AssertServesAsync(services);
    }

    /// <summary>
    /// A server at <paramref name="address"/> (127.0.0.1) whose certificate names only <see cref="TestCertificates.OtherHostName"/>
    /// (set by <paramref name="server"/>) serves the client <paramref name="client"/> makes with that TargetHost, and the
    /// one it makes without (<see langword="null"/>) refuses the certificate for its name, with Unauthorized saying so.
    /// </summary>
    public static async Task AssertServesOnlyTheTargetHostAsync(string address, Action<IIpcBuilder> server, Func<string?, Action<IIpcBuilder>> client)
    {
        using var host = await TestIpc.StartServerAsync(address, server);
        await using var named = TestIpc.CreateClient(address, client(TestCertificates.OtherHostName));
        await using var unnamed = TestIpc.CreateClient(address, client(null));

        await TestIpc.AssertServesAsync(named);
        var ex = await AssertUnauthorizedAsync(unnamed);
        Xunit.Assert.Contains($"the certificate CN={TestCertificates.OtherHostName} does not match the expected host name", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A client that <paramref name="client"/> makes with CheckCertificateRevocation refuses the server certificate, whose
    /// revocation cannot be checked (the test authority publishes no revocation list, so nothing is fetched), with
    /// Unauthorized, saying so when the transport tells the client why (<paramref name="saysWhy"/>); the one it makes
    /// without is served by the same server.
    /// </summary>
    public static async Task AssertClientCheckingRevocationRefusesAsync(string address, Action<IIpcBuilder> server, Func<bool, Action<IIpcBuilder>> client, bool saysWhy)
    {
        using var host = await TestIpc.StartServerAsync(address, server);
        await using var checking = TestIpc.CreateClient(address, client(true));
        await using var trusting = TestIpc.CreateClient(address, client(false));

        var ex = await AssertUnauthorizedAsync(checking);

        if (saysWhy)
        {
            Xunit.Assert.Contains("the certificate CN=localhost failed the revocation check", ex.Message, StringComparison.Ordinal);
        }

        await TestIpc.AssertServesAsync(trusting);
        await host.StopAsync().WaitAsync(TestIpc.Bound);
    }

    /// <summary>
    /// A server with mutual TLS that <paramref name="server"/> sets up with CheckCertificateRevocation as <paramref name="check"/>
    /// says refuses a client certificate of its authority, whose revocation cannot be checked, with Unauthorized (saying
    /// so when the transport tells the client why, <paramref name="saysWhy"/>); without it, the same client is served.
    /// </summary>
    public static async Task AssertServerCheckingRevocationRefusesAsync(bool check, string address, Action<IIpcBuilder> server, Action<IIpcBuilder> client, bool saysWhy)
    {
        using var host = await TestIpc.StartServerAsync(address, server);
        await using var services = TestIpc.CreateClient(address, client);

        if (check)
        {
            var ex = await AssertUnauthorizedAsync(services);
            if (saysWhy)
            {
                Xunit.Assert.Contains("the certificate CN=ipc-client failed the revocation check", ex.Message, StringComparison.Ordinal);
            }
        }
        else
        {
            await TestIpc.AssertServesAsync(services);
        }

        await host.StopAsync().WaitAsync(TestIpc.Bound);
    }

    /// <summary>How often, at most, a server looks at its certificate files again.</summary>
    public static readonly TimeSpan CertificateCheckInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A server that <paramref name="server"/> sets up with the certificate and key files it is given presents the
    /// certificate in them, and after they are renewed, once the check interval has passed on its clock, presents the new
    /// one to new connections while a connection made before keeps working. The files are mounted as Kubernetes mounts a
    /// secret (<see cref="SecretMount"/>), renewed by swapping a link. A replacement that does not load keeps the last good
    /// certificate and is logged as a warning once. <paramref name="client"/> sets up a client that accepts only the
    /// server certificate of a thumbprint.
    /// </summary>
    public static async Task AssertServerCertificateIsRenewedForNewConnectionsAsync(
        TestCertificates certificates,
        string address,
        Func<string, string, Action<IIpcBuilder>> server,
        Func<string, Action<IIpcBuilder>> client)
    {
        var mount = new SecretMount(certificates.PathOf("server-secret"));
        var certificatePath = mount.PathOf("tls.crt");
        var keyPath = mount.PathOf("tls.key");
        mount.Publish(("tls.crt", certificates.ServerCertificatePath), ("tls.key", certificates.ServerKeyPath));
        var first = TestCertificates.Thumbprint(certificates.ServerCertificatePath);
        var renewed = TestCertificates.Thumbprint(certificates.OtherHostCertificatePath);
        var time = new FakeTimeProvider();
        var log = new RecordingLog();
        using var host = await TestIpc.StartServerAsync(address, ipc =>
        {
            ipc.Services.AddSingleton<TimeProvider>(time);
            ipc.Services.AddLogging(logging => logging.AddProvider(log));
            server(certificatePath, keyPath)(ipc);
        });
        await using var before = TestIpc.CreateClient(address, Pinned(client, first));
        await TestIpc.AssertServesAsync(before);

        mount.Publish(("tls.crt", certificates.OtherHostCertificatePath), ("tls.key", certificates.OtherHostKeyPath));
        await using (var early = TestIpc.CreateClient(address, Pinned(client, renewed)))
        {
            // Within the interval the files are not looked at again.
            await AssertUnauthorizedAsync(early);
        }

        time.Advance(CertificateCheckInterval);
        await using (var after = TestIpc.CreateClient(address, Pinned(client, renewed)))
        {
            await TestIpc.AssertServesAsync(after);
        }

        await TestIpc.AssertServesAsync(before);

        await AssertBadRenewalKeepsLastGoodAsync(certificatePath, time, log, async () =>
        {
            await using var afterBadRenewal = TestIpc.CreateClient(address, Pinned(client, renewed));
            await TestIpc.AssertServesAsync(afterBadRenewal);
        });
        await host.StopAsync().WaitAsync(TestIpc.Bound);
    }

    /// <summary>
    /// A server with mutual TLS that <paramref name="server"/> sets up with the authority file it is given refuses a
    /// client certificate of another authority, and after the file is replaced by that authority, once the check interval
    /// has passed on its clock, serves new connections from <paramref name="client"/>. A replacement that does not load
    /// keeps the last good authority and is logged as a warning once.
    /// </summary>
    public static async Task AssertServerAuthorityIsRenewedForNewConnectionsAsync(
        TestCertificates certificates,
        string address,
        Func<string, Action<IIpcBuilder>> server,
        Action<IIpcBuilder> client)
    {
        var authorityPath = certificates.PathOf("renewed-authority.pem");
        File.Copy(certificates.OtherAuthorityPath, authorityPath);
        var time = new FakeTimeProvider();
        var log = new RecordingLog();
        using var host = await TestIpc.StartServerAsync(address, ipc =>
        {
            ipc.Services.AddSingleton<TimeProvider>(time);
            ipc.Services.AddLogging(logging => logging.AddProvider(log));
            server(authorityPath)(ipc);
        });
        await using (var before = TestIpc.CreateClient(address, NoRetries(client)))
        {
            await AssertUnauthorizedAsync(before);
        }

        File.Copy(certificates.AuthorityPath, authorityPath, overwrite: true);
        time.Advance(CertificateCheckInterval);
        await using (var after = TestIpc.CreateClient(address, NoRetries(client)))
        {
            await TestIpc.AssertServesAsync(after);
        }

        await AssertBadRenewalKeepsLastGoodAsync(authorityPath, time, log, async () =>
        {
            await using var afterBadRenewal = TestIpc.CreateClient(address, NoRetries(client));
            await TestIpc.AssertServesAsync(afterBadRenewal);
        });
        await host.StopAsync().WaitAsync(TestIpc.Bound);
    }

    /// <summary>
    /// A client that <paramref name="client"/> sets up with the client certificate and key files it is given presents the
    /// certificate in them, and after they are replaced, once the check interval has passed on its clock, presents the new
    /// one on its next connection (here, to a server started again on <paramref name="address"/>, accepting only the new
    /// one). A replacement that does not load keeps the last good certificate and is logged as a warning once.
    /// <paramref name="server"/> sets up a server with mutual TLS accepting only the client certificate of a thumbprint.
    /// </summary>
    public static async Task AssertClientCertificateIsRenewedForNewConnectionsAsync(
        TestCertificates certificates,
        string address,
        Func<string, Action<IIpcBuilder>> server,
        Func<string, string, Action<IIpcBuilder>> client)
    {
        var certificatePath = certificates.PathOf("renewed-client.pem");
        var keyPath = certificates.PathOf("renewed-client.key");
        File.Copy(certificates.ClientCertificatePath, certificatePath);
        File.Copy(certificates.ClientKeyPath, keyPath);
        var first = TestCertificates.Thumbprint(certificates.ClientCertificatePath);
        var renewed = TestCertificates.Thumbprint(certificates.OtherClientCertificatePath);
        var time = new FakeTimeProvider();
        var log = new RecordingLog();
        await using var services = TestIpc.CreateClient(address, NoRetries(ipc =>
        {
            ipc.Services.AddSingleton<TimeProvider>(time);
            ipc.Services.AddLogging(logging => logging.AddProvider(log));
            client(certificatePath, keyPath)(ipc);
        }));
        using (var host = await TestIpc.StartServerAsync(address, server(first)))
        {
            await TestIpc.AssertServesAsync(services);
            await host.StopAsync().WaitAsync(TestIpc.Bound);
        }

        File.Copy(certificates.OtherClientCertificatePath, certificatePath, overwrite: true);
        File.Copy(certificates.OtherClientKeyPath, keyPath, overwrite: true);
        time.Advance(CertificateCheckInterval);
        using (var host = await TestIpc.StartServerAsync(address, server(renewed)))
        {
            await AssertServesAfterRestartAsync(services);
            await host.StopAsync().WaitAsync(TestIpc.Bound);
        }

        await AssertBadRenewalKeepsLastGoodAsync(certificatePath, time, log, async () =>
        {
            using var host = await TestIpc.StartServerAsync(address, server(renewed));
            await AssertServesAfterRestartAsync(services);
            await host.StopAsync().WaitAsync(TestIpc.Bound);
        });
    }

    /// <summary>
    /// Replaces <paramref name="path"/> with a half-written certificate, then twice lets the check interval pass and has
    /// <paramref name="serveNewConnection"/> make a new connection, which must still be served: the last good certificate
    /// stays, and the failed reload is logged as one warning naming the file.
    /// </summary>
    private static async Task AssertBadRenewalKeepsLastGoodAsync(string path, FakeTimeProvider time, RecordingLog log, Func<Task> serveNewConnection)
    {
        await File.WriteAllTextAsync(path, "-----BEGIN CERTIFICATE-----\nhalf written\n");
        for (var i = 0; i < 2; i++)
        {
            time.Advance(CertificateCheckInterval);
            await serveNewConnection();
        }

        var warning = Xunit.Assert.Single(log.Warnings, w => w.Contains(path, StringComparison.Ordinal));
        Xunit.Assert.Contains("keeps", warning, StringComparison.Ordinal);
    }

    /// <summary>
    /// Checks that a server started again serves <paramref name="services"/>'s client, which may first find its connection
    /// to the stopped server still closing (Unavailable) and then makes a new one. A refused certificate is Unauthorized.
    /// </summary>
    private static async Task AssertServesAfterRestartAsync(IServiceProvider services)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await TestIpc.AssertServesAsync(services);
                return;
            }
            catch (IpcException ex) when (ex.ErrorCode == IpcErrorCode.Unavailable && attempt < 3)
            {
            }
        }
    }

    private static Action<IIpcBuilder> NoRetries(Action<IIpcBuilder> client) => ipc =>
    {
        client(ipc);
        ipc.ConfigureResilience(r => r.Enabled = false);
    };

    private static Action<IIpcBuilder> Pinned(Func<string, Action<IIpcBuilder>> client, string thumbprint) => ipc =>
    {
        client(thumbprint)(ipc);
        ipc.ConfigureResilience(r => r.Enabled = false);
    };
}
