using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace Ipc.Peers;

/// <summary>
/// Names the client of an ASP.NET Core request as <c>ip:port</c> (<c>[ipv6]:port</c>; an IPv4 client of a dual-mode
/// socket as IPv4), or <see langword="null"/> when the server has no IP peer (a Unix socket, a test server). Shared by the
/// HTTP and gRPC transports; compiled into each of them from one source file.
/// </summary>
internal static class HttpPeer
{
    public static string? Describe(HttpContext context)
    {
        var connection = context.Connection;
        if (connection.RemoteIpAddress is not { } address)
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        // IPAddress keeps its text once formatted, so this costs one small string per call.
        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? string.Create(CultureInfo.InvariantCulture, $"[{address}]:{connection.RemotePort}")
            : string.Create(CultureInfo.InvariantCulture, $"{address}:{connection.RemotePort}");
    }
}
