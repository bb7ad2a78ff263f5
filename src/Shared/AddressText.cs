namespace Ipc.Transports;

/// <summary>
/// How an endpoint's address is shown in logs, health reports, error messages and telemetry: as configured, with the
/// password of its user info (<c>amqp://user:password@host</c>) and the value of every query parameter
/// (<c>?api_key=...</c>, <c>?code=...</c>) replaced by <c>***</c>, the parameters' names kept. Every value, since no list
/// of names catches every secret (a signature, a code, a key under a name of the service's choosing). Compiled into the
/// contract (for <see cref="IpcTransportContext.DisplayAddress"/>) and the runtime (for addresses not yet parsed) from
/// one source file.
/// </summary>
internal static class AddressText
{
    /// <summary>What stands for a password.</summary>
    public const string Mask = "***";

    /// <summary>Returns <paramref name="address"/> as configured, without its password.</summary>
    public static string Redact(Uri address) => RedactQuery(Redact(address.OriginalString, address.IsAbsoluteUri && address.UserInfo.Length == 0));

    /// <summary>Returns <paramref name="address"/>, which need not be a valid address, without anything that may be a password.</summary>
    public static string Redact(string? address)
    {
        if (string.IsNullOrEmpty(address))
        {
            return address ?? string.Empty;
        }

        return RedactQuery(Redact(address, Uri.TryCreate(address, UriKind.Absolute, out var parsed) && parsed.UserInfo.Length == 0));
    }

    /// <summary>Replaces the value of each query parameter with <see cref="Mask"/>; a parameter without <c>=</c> stays.</summary>
    private static string RedactQuery(string address)
    {
        var query = address.IndexOf('?', StringComparison.Ordinal);
        if (query < 0)
        {
            return address;
        }

        var fragment = address.IndexOf('#', query);
        var end = fragment < 0 ? address.Length : fragment;
        var parameters = address[(query + 1)..end].Split('&');
        var changed = false;
        for (var i = 0; i < parameters.Length; i++)
        {
            var equals = parameters[i].IndexOf('=', StringComparison.Ordinal);
            if (equals >= 0)
            {
                parameters[i] = string.Concat(parameters[i].AsSpan(0, equals + 1), Mask);
                changed = true;
            }
        }

        return changed ? string.Concat(address.AsSpan(0, query + 1), string.Join('&', parameters), address.AsSpan(end)) : address;
    }

    private static string Redact(string address, bool parsedWithoutUserInfo)
    {
        // The scheme ends at the first ':'; in text without a scheme, that ':' may still end a user name.
        var scheme = address.IndexOf(':', StringComparison.Ordinal);
        if (scheme < 0)
        {
            return address;
        }

        var start = scheme + 1;
        var rest = address.AsSpan(start);
        if (!rest.StartsWith("//", StringComparison.Ordinal) || rest.StartsWith("///", StringComparison.Ordinal))
        {
            return RedactWithoutHost(address, start);
        }

        if (parsedWithoutUserInfo)
        {
            return address;
        }

        start += 2;

        // A valid address ends its user info at its first '@' (a '@' in a password is written %40). In one that is not
        // valid, the password may hold a '@' or a '/' as typed, so everything up to the last '@' counts.
        var at = Uri.TryCreate(address, UriKind.Absolute, out _) ? address.IndexOf('@', start) : address.LastIndexOf('@');
        if (at < start)
        {
            return address;
        }

        var colon = address.IndexOf(':', start, at - start);
        return colon < 0 ? address : string.Concat(address.AsSpan(0, colon + 1), Mask, address.AsSpan(at));
    }

    /// <summary>
    /// Redacts an address with no host after <c>//</c>, where nothing is parsed as user info but a password may have been
    /// typed: <c>amqp:user:password@host</c>, <c>user:password@host</c> (the scheme left out), <c>amqp:/user:password@host</c>.
    /// </summary>
    private static string RedactWithoutHost(string address, int start)
    {
        var at = address.LastIndexOf('@');
        if (at <= start)
        {
            return address;
        }

        if (address[start] != '/')
        {
            // The "scheme" may be the user name of an address written without a scheme, so all up to the '@' may be the password.
            return string.Concat(address.AsSpan(0, start), Mask, address.AsSpan(at));
        }

        // After a '/', a path (unix:/run/calc@2.sock) or a user info written one '/' too few or too many: a password, if
        // any, starts after its ':'.
        var colon = address.IndexOf(':', start, at - start);
        return colon < 0 ? address : string.Concat(address.AsSpan(0, colon + 1), Mask, address.AsSpan(at));
    }
}
