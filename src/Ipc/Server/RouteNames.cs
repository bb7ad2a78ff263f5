namespace Ipc.Server;

/// <summary>
/// The rule route names (and topics) follow on every transport: no segment between slashes is <c>.</c> or <c>..</c>.
/// URLs resolve such segments away (RFC 3986; <see cref="Uri"/>, HTTP servers and proxies do, <c>%2E</c> included), so
/// over HTTP a call of <c>x/../add</c> would reach <c>add</c>, or a path above the endpoint's base path.
/// </summary>
internal static class RouteNames
{
    /// <summary>Whether <paramref name="route"/> has a <c>.</c> or <c>..</c> segment.</summary>
    public static bool HasDotSegment(string route)
    {
        var rest = route.AsSpan();
        if (!rest.Contains('.'))
        {
            return false; // the common case: one scan
        }

        while (true)
        {
            var slash = rest.IndexOf('/');
            var segment = slash < 0 ? rest : rest[..slash];
            if (segment is "." or "..")
            {
                return true;
            }

            if (slash < 0)
            {
                return false;
            }

            rest = rest[(slash + 1)..];
        }
    }
}
