using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ipc.Transports;

namespace Ipc.Tls;

/// <summary>
/// A certificate that is read again from its files when they change (renewed by cert-manager or certbot, a Kubernetes
/// secret mount swapping its link), for the handshakes that come after; or one given once (in code, from a store), which
/// stays. The files are looked at lazily, when a handshake asks for the certificate and at most once per
/// <see cref="CheckInterval"/>: an idle side does no work, and nothing runs in the background.
/// </summary>
internal sealed class CertificateFile
{
    /// <summary>How often, at most, the files are looked at again.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private readonly string[] _paths;
    private readonly Func<X509Certificate2>? _load;
    private readonly TimeProvider? _time;
    private readonly long _interval;
    private readonly Action<string, Exception>? _reloadFailed;
    private Loaded _current;
    private byte[] _seen = [];
    private long _nextCheck;
    private int _checking;

    private CertificateFile(X509Certificate2 certificate)
    {
        _paths = [];
        _current = new Loaded(certificate);
    }

    /// <summary>
    /// Loads the certificate of <paramref name="paths"/> with <paramref name="load"/> (a failure here is thrown, to fail the
    /// start). A later change that does not load is given to <paramref name="reloadFailed"/> with the first path, once per
    /// change, and the last certificate that loaded stays.
    /// </summary>
    public CertificateFile(IEnumerable<string?> paths, Func<X509Certificate2> load, TimeProvider time, Action<string, Exception> reloadFailed)
    {
        _paths = [.. paths.OfType<string>()];
        _load = load;
        _time = time;
        _interval = (long)(CheckInterval.TotalSeconds * time.TimestampFrequency);
        _reloadFailed = reloadFailed;

        // The contents are read before the certificate: a change in between is seen, and loaded, at the next check.
        _seen = Fingerprint();
        _current = new Loaded(load());
        _nextCheck = time.GetTimestamp() + _interval;
    }

    /// <summary>Gets a value indicating whether the certificate is read again from files when they change.</summary>
    public bool Reloads => _load is not null;

    /// <summary>
    /// Gets the certificate for a handshake starting now: the one last loaded, after looking at the files again when the
    /// interval has passed. Costs one timestamp compare otherwise; a handshake never waits for another one's look.
    /// </summary>
    public X509Certificate2 Current => Latest().Certificate;

    /// <summary>
    /// Gets <see cref="Current"/> as a server presents it, with its chain, built once per certificate rather than at each
    /// handshake.
    /// </summary>
    public SslStreamCertificateContext CurrentContext => Latest().Context;

    /// <summary>
    /// The certificate a server presents: the one set in code (which stays), else the one in
    /// <see cref="TlsOptions.CertificatePath"/>, read again from its files when they change (a renewal that does not load
    /// keeps the last good one and is given to <paramref name="reloadFailed"/>); else none.
    /// </summary>
    public static CertificateFile? ForServer(TlsOptions tls, TimeProvider time, Action<string, Exception> reloadFailed) =>
        tls.Certificate is { } certificate ? Fixed(certificate)
        : tls.CertificatePath is { } path ? new CertificateFile([path, tls.CertificateKeyPath], () => WithKey(TlsCertificates.Load(path, tls.CertificateKeyPath, tls.CertificatePassword, string.Empty), path), time, reloadFailed)
        : null;

    /// <summary>
    /// The certificate a client presents: the one set in code (which stays), else the one in
    /// <see cref="TlsOptions.ClientCertificatePath"/>, read again from its files when they change (a renewal that does not
    /// load keeps the last good one and is given to <paramref name="reloadFailed"/>); else none.
    /// </summary>
    public static CertificateFile? ForClient(TlsOptions tls, TimeProvider time, Action<string, Exception> reloadFailed) =>
        tls.ClientCertificate is { } certificate ? Fixed(certificate)
        : tls.ClientCertificatePath is { } path ? new CertificateFile([path, tls.ClientCertificateKeyPath], () => WithKey(TlsCertificates.Load(path, tls.ClientCertificateKeyPath, tls.ClientCertificatePassword, "Client"), path), time, reloadFailed)
        : null;

    /// <summary>
    /// The authority of <see cref="TlsOptions.CertificateAuthorityPath"/>, when one is set, read again from its file when it
    /// changes; a renewal that does not load keeps the last good one and is given to <paramref name="reloadFailed"/>.
    /// </summary>
    public static CertificateFile? ForAuthority(TlsOptions tls, TimeProvider time, Action<string, Exception> reloadFailed) =>
        tls.CertificateAuthorityPath is { } path ? new CertificateFile([path], () => TlsCertificates.LoadPublic(path), time, reloadFailed) : null;

    /// <summary>A certificate that stays as it is.</summary>
    public static CertificateFile Fixed(X509Certificate2 certificate) => new(certificate);

    /// <summary>
    /// Has a client present this certificate: a fixed one as it is, one from files through the selection callback, so
    /// each new connection takes the current one.
    /// </summary>
    public void PresentAsClient(SslClientAuthenticationOptions options)
    {
        if (Reloads)
        {
            options.LocalCertificateSelectionCallback = (_, _, _, _, _) => Current;
        }
        else
        {
            options.ClientCertificates = [_current.Certificate];
        }
    }

    /// <summary>A certificate a side presents must come with its private key; one without is refused as it loads, not at each handshake.</summary>
    private static X509Certificate2 WithKey(X509Certificate2 certificate, string path)
    {
        if (certificate.HasPrivateKey)
        {
            return certificate;
        }

        certificate.Dispose();
        throw new CryptographicException($"The certificate '{path}' has no private key: give it in the file, or in its key file.");
    }

    private Loaded Latest()
    {
        if (_time is not null && _time.GetTimestamp() >= Volatile.Read(ref _nextCheck) && Interlocked.Exchange(ref _checking, 1) == 0)
        {
            try
            {
                Check();
            }
            finally
            {
                Volatile.Write(ref _nextCheck, _time.GetTimestamp() + _interval);
                Volatile.Write(ref _checking, 0);
            }
        }

        return Volatile.Read(ref _current);
    }

    private void Check()
    {
        var seen = Fingerprint();
        if (seen.AsSpan().SequenceEqual(_seen))
        {
            return;
        }

        _seen = seen;
        try
        {
            Volatile.Write(ref _current, new Loaded(_load!()));
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Half written, a key not yet matching, a wrong password: the last good certificate stays, until the files change again.
            _reloadFailed!(_paths[0], ex);
        }
    }

    /// <summary>A hash of the files' contents, through any links (a swapped link is a change); a missing file counts as empty.</summary>
    private byte[] Fingerprint()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var path in _paths)
        {
            byte[] contents;
            try
            {
                contents = File.ReadAllBytes(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                contents = [];
            }

            hash.AppendData(BitConverter.GetBytes(contents.Length));
            hash.AppendData(contents);
        }

        return hash.GetHashAndReset();
    }

    /// <summary>A certificate, and the context a server presents it with, made when first asked for.</summary>
    private sealed class Loaded(X509Certificate2 certificate)
    {
        private SslStreamCertificateContext? _context;

        public X509Certificate2 Certificate => certificate;

        public SslStreamCertificateContext Context => _context ??= SslStreamCertificateContext.Create(certificate, additionalCertificates: null);
    }
}
