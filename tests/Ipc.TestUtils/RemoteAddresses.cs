using System.Text.RegularExpressions;
using Xunit;

namespace Ipc.TestUtils;

/// <summary>The peers the transports name, as the conformance suites' <c>AssertRemoteAddress</c> checks them.</summary>
public static partial class RemoteAddresses
{
    /// <summary>A client on the IPv4 loopback: <c>127.0.0.1:port</c> (TCP, TLS, HTTP, gRPC).</summary>
    public static void AssertLoopback(string? remoteAddress) =>
        Assert.Matches(Loopback(), remoteAddress ?? string.Empty);

    /// <summary>A client in this process, named by its credentials on Linux (<c>pid=… uid=…</c>); elsewhere any name.</summary>
    public static void AssertThisProcess(string? remoteAddress)
    {
        if (OperatingSystem.IsLinux())
        {
            Assert.Matches($"^pid={Environment.ProcessId} uid=[0-9]+$", remoteAddress ?? string.Empty);
        }
        else
        {
            Assert.False(string.IsNullOrEmpty(remoteAddress));
        }
    }

    [GeneratedRegex(@"^127\.0\.0\.1:[0-9]{1,5}$")]
    private static partial Regex Loopback();
}
