using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Ipc.Tls;
using Microsoft.Extensions.Logging;

namespace Ipc.Grpc;

/// <summary>Turns <see cref="GrpcTlsOptions"/> into the client's and the server's TLS settings and validates peer certificates by them.</summary>
internal sealed class GrpcTls
{
    private readonly GrpcTlsOptions _options;
    private readonly TimeProvider _time;
    private readonly Action<string, Exception> _reloadFailed;
    private readonly CertificateFile? _authority;

    /// <summary>
    /// Loads the authority of <paramref name="options"/>. Its file, and the server certificate's, are read again when they
    /// change (by <paramref name="time"/>), for the handshakes after; a change that does not load keeps the last good
    /// certificate and is logged to <paramref name="logger"/> for the endpoint <paramref name="endpointName"/>.
    /// </summary>
    public GrpcTls(GrpcTlsOptions options, string endpointName, TimeProvider time, ILogger logger)
    {
        _options = options;
        _time = time;
        _reloadFailed = (path, ex) => Log.CertificateReloadFailed(logger, endpointName, path, ex.Message, ex);
        _authority = CertificateFile.ForAuthority(options, time, _reloadFailed);
    }

    /// <summary>Gets why the last server certificate this client saw was refused, for the error the caller gets.</summary>
    public string? LastRefusal { get; private set; }

    public SslClientAuthenticationOptions ClientOptions(string host)
    {
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = _options.TargetHost ?? host,
            CertificateRevocationCheckMode = RevocationMode,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => (LastRefusal = Validate(certificate, errors, checkName: true)) is null,
        };
        CertificateFile.ForClient(_options, _time, _reloadFailed)?.PresentAsClient(options);
        return options;
    }

    /// <summary>Checks a client certificate the handshake accepted without judging it: chain (or pins) only.</summary>
    public string? ValidateClient(X509Certificate2? certificate) =>
        TlsCertificates.ValidateClient(certificate, _options.AllowedThumbprints, _authority?.Current, RevocationMode);

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
                ?? throw new InvalidOperationException($"Grpc:Tls:CertificateThumbprint (under Ipc:Transports or Ipc:Endpoints:{endpointName}): no certificate with thumbprint {thumbprint} is in {_options.CertificateStoreLocation}/{_options.CertificateStoreName}."));
        }

        throw new InvalidOperationException(
            $"Endpoint '{endpointName}' has a grpcs:// address but no server certificate. Set Ipc:Transports:Grpc:Tls:CertificatePath (or CertificateThumbprint, or Certificate in code).");
    }

    private X509RevocationMode RevocationMode => TlsCertificates.RevocationMode(_options.CheckCertificateRevocation);

    /// <summary>Returns <see langword="null"/> when the peer certificate is acceptable, otherwise why not.</summary>
    private string? Validate(X509Certificate? certificate, SslPolicyErrors errors, bool checkName) =>
        TlsCertificates.Validate(certificate, errors, checkName, _options.AllowedThumbprints, _authority?.Current, RevocationMode);
}
