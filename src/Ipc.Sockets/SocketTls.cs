using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Ipc.Tls;
using Microsoft.Extensions.Logging;

namespace Ipc.Sockets;

/// <summary>Turns <see cref="SocketTlsOptions"/> into SslStream settings and validates peer certificates by them.</summary>
internal sealed class SocketTls
{
    private readonly SocketTlsOptions _options;
    private readonly TimeProvider _time;
    private readonly Action<string, Exception> _reloadFailed;
    private readonly CertificateFile? _authority;

    /// <summary>
    /// Loads the authority of <paramref name="options"/>. Its file, and the server certificate's, are read again when they
    /// change (by <paramref name="time"/>), for the handshakes after; a change that does not load keeps the last good
    /// certificate and is logged to <paramref name="logger"/> for the endpoint <paramref name="endpointName"/>.
    /// </summary>
    public SocketTls(SocketTlsOptions options, string endpointName, TimeProvider time, ILogger logger)
    {
        _options = options;
        _time = time;
        _reloadFailed = (path, ex) => Log.CertificateReloadFailed(logger, endpointName, path, ex.Message, ex);
        _authority = CertificateFile.ForAuthority(options, time, _reloadFailed);
    }

    public async ValueTask<SslStream> AuthenticateAsClientAsync(Stream stream, string host, CancellationToken cancellationToken)
    {
        X509Certificate2? clientCertificate;
        try
        {
            clientCertificate = TlsCertificates.ClientCertificate(_options);
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            // Refused here, before the server sees it: a call fails at once, without retries, saying which file and options.
            throw new AuthenticationException($"This client cannot present its certificate. {ex.Message}", ex);
        }

        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        string? refusal = null;
        try
        {
            await ssl.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = _options.TargetHost ?? host,
                    ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                    CertificateRevocationCheckMode = RevocationMode,
                    RemoteCertificateValidationCallback = (_, certificate, chain, errors) => (refusal = Validate(certificate, errors, checkName: true)) is null,
                },
                cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch (AuthenticationException ex) when (refusal is not null)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new AuthenticationException($"This client refused the server's certificate: {refusal}.", ex);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs the server handshake; returns the stream and, when the client certificate is not acceptable, why.</summary>
    public async ValueTask<(SslStream Stream, string? Refusal)> AuthenticateAsServerAsync(Stream stream, SslStreamCertificateContext certificate, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        string? refusal = null;
        try
        {
            // The handshake accepts any client certificate; a bad one is refused afterwards over the TLS stream, so the
            // client is told why (Unauthorized) whatever the TLS version, instead of seeing a bare alert.
            await ssl.AuthenticateAsServerAsync(
                new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = certificate,
                    ClientCertificateRequired = _options.ClientCertificateRequired,
                    CertificateRevocationCheckMode = RevocationMode,
                    RemoteCertificateValidationCallback = (_, clientCertificate, _, errors) =>
                    {
                        if (_options.ClientCertificateRequired)
                        {
                            refusal = Validate(clientCertificate, errors, checkName: false);
                        }

                        return true;
                    },
                },
                cancellationToken).ConfigureAwait(false);
            if (_options.ClientCertificateRequired && refusal is null && ssl.RemoteCertificate is null)
            {
                refusal = "no client certificate was presented";
            }

            return (ssl, refusal);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The server certificate: from <see cref="Transports.TlsOptions.Certificate"/>, its file (read again when it changes) or the store.</summary>
    public CertificateFile LoadServerCertificate(string endpointName)
    {
        if (CertificateFile.ForServer(_options, _time, _reloadFailed) is { } certificate)
        {
            return certificate;
        }

        if (_options.CertificateThumbprint is { } thumbprint)
        {
            return CertificateFile.Fixed(TlsCertificates.Find(_options.CertificateStoreName, _options.CertificateStoreLocation, thumbprint)
                ?? throw new InvalidOperationException($"Sockets:Tls:CertificateThumbprint (under Ipc:Transports or Ipc:Endpoints:{endpointName}): no certificate with thumbprint {thumbprint} is in {_options.CertificateStoreLocation}/{_options.CertificateStoreName}."));
        }

        throw new InvalidOperationException(
            $"Endpoint '{endpointName}' enables TLS but has no server certificate. Set Ipc:Transports:Sockets:Tls:CertificatePath (or CertificateThumbprint, or Certificate in code).");
    }

    private X509RevocationMode RevocationMode => TlsCertificates.RevocationMode(_options.CheckCertificateRevocation);

    /// <summary>Returns <see langword="null"/> when the peer certificate is acceptable, otherwise why not.</summary>
    private string? Validate(X509Certificate? certificate, SslPolicyErrors errors, bool checkName) =>
        TlsCertificates.Validate(certificate, errors, checkName, _options.AllowedThumbprints, _authority?.Current, RevocationMode);
}
