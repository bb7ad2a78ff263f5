using System.Collections.Concurrent;

namespace Ipc.Http;

/// <summary>
/// Why each endpoint's client last refused a server certificate. The refusal happens inside the handler's TLS handshake,
/// which reports only that its callback said no; the endpoint's client reads the reason from here for the error its
/// caller gets.
/// </summary>
internal sealed class HttpClientTlsRefusals
{
    private readonly ConcurrentDictionary<string, string> _last = new(StringComparer.Ordinal);

    /// <summary>Records the outcome of a handshake's check: <see langword="null"/> when the certificate was accepted.</summary>
    public void Record(string endpointName, string? refusal)
    {
        if (refusal is null)
        {
            _last.TryRemove(endpointName, out _);
        }
        else
        {
            _last[endpointName] = refusal;
        }
    }

    /// <summary>Gets why the endpoint's client refused the last server certificate it refused, if the one after was not accepted.</summary>
    public string? Last(string endpointName) => _last.TryGetValue(endpointName, out var refusal) ? refusal : null;
}
