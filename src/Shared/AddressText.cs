namespace Ipc.Transports;

/// <summary>
/// How an endpoint's address is shown in logs, health reports and error messages: as configured, with the password of
/// its user info (<c>amqp://user:password@host</c>) replaced by <c>***</c>. Compiled into the contract (for
/// <see cref="IpcTransportContext.DisplayAddress"/>) and the runtime (for addresses not yet parsed) from one source file.
/// </summary>
internal static class AddressText
{
    /// <summary>What stands for a password.</summary>
    public const string Mask = "***";

    /// <summary>Returns <paramref name="address"/> as configured, without its password.</summary>
    public static string Redact(Uri address) => Redact(address.OriginalString, address.IsAbsoluteUri && address.UserInfo.Length == 0);

    /// <summary>Returns <paramref name="address"/>, which need not be a valid address, without anything that may be a password.</summary>
    public static string Redact(string? address)
    {
        if (string.IsNullOrEmpty(address))
        {
            return address ?? string.Empty;
        }

        return Redact(address, Uri.TryCreate(address, UriKind.Absolute, out var parsed) && parsed.UserInfo.Length == 0);
    }

    private static string Redact(string address, bool parsedWithoutUserInfo)
    {
        var start = address.IndexOf("://", StringComparison.Ordinal);
        if (parsedWithoutUserInfo || start < 0)
        {
            return address;
        }

        start += 3;

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
}
