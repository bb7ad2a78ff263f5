using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Ipc.Tls;

/// <summary>
/// Judges the client certificate of a Kestrel connection with mutual TLS once per connection: the first request runs the
/// check (a chain build, or the pins) and reports a refusal; later requests on the connection reuse the verdict. Shared by
/// the HTTP and gRPC transports; compiled into each of them from one source file.
/// </summary>
internal static class ClientCertificateCheck
{
    private static readonly object s_key = new();

    /// <summary>Returns <see langword="null"/> when the connection's client certificate is accepted, otherwise why not.</summary>
    /// <param name="http">The request.</param>
    /// <param name="validate">The check: <see langword="null"/> for an accepted certificate, otherwise why not.</param>
    /// <param name="refused">Called with the reason when the check refuses the certificate (once per connection).</param>
    public static string? Judge(HttpContext http, Func<X509Certificate2?, string?> validate, Action<string> refused)
    {
        var items = http.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items is not null && items.TryGetValue(s_key, out var known))
        {
            return (string?)known;
        }

        var refusal = validate(http.Connection.ClientCertificate);
        if (refusal is not null)
        {
            refused(refusal);
        }

        if (items is not null)
        {
            items[s_key] = refusal;
        }

        return refusal;
    }
}
