namespace Ipc.Server;

/// <summary>
/// The rules route names (and topics) follow on every transport: no segment between slashes is <c>.</c> or <c>..</c>,
/// and none is empty (no leading or trailing <c>/</c>, no <c>//</c>). URLs resolve dot segments away (RFC 3986;
/// <see cref="Uri"/>, HTTP servers and proxies do, <c>%2E</c> included), so over HTTP a call of <c>x/../add</c> would
/// reach <c>add</c>, or a path above the endpoint's base path; and proxies that merge slashes would send a call of
/// <c>/add</c> (<c>{base}//add</c>) or <c>a//add</c> to another path.
/// </summary>
internal static class RouteNames
{
    /// <summary>What is wrong with a route name, if anything.</summary>
    public enum Problem
    {
        None,
        DotSegment,
        EmptySegment,
    }

    /// <summary>Returns the first rule <paramref name="route"/> breaks: a <c>.</c> or <c>..</c> segment, or an empty one.</summary>
    public static Problem Check(string route)
    {
        var rest = route.AsSpan();
        if (!rest.ContainsAny('.', '/'))
        {
            return Problem.None; // the common case: one scan
        }

        while (true)
        {
            var slash = rest.IndexOf('/');
            var segment = slash < 0 ? rest : rest[..slash];
            if (segment.IsEmpty)
            {
                return Problem.EmptySegment;
            }

            if (segment is "." or "..")
            {
                return Problem.DotSegment;
            }

            if (slash < 0)
            {
                return Problem.None;
            }

            rest = rest[(slash + 1)..];
        }
    }

    /// <summary>The rule <paramref name="problem"/> breaks, for messages: "has a '.' or '..' segment, which ...".</summary>
    public static string Describe(Problem problem) => problem switch
    {
        Problem.DotSegment => "has a '.' or '..' segment, which URLs resolve away (over HTTP the call would go to another route's path)",
        _ => "has an empty segment (it starts or ends with '/', or has '//'), which proxies that merge slashes change (over HTTP the call would go to another route's path)",
    };

    /// <summary>How to name a route instead.</summary>
    public const string Rule = "route names have no empty, '.' or '..' segment: no leading or trailing '/', no '//' (dots within a segment, as in 'v1.0/add', are fine)";
}
