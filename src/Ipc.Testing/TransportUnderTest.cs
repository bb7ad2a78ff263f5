using Xunit;

namespace Ipc.Testing;

/// <summary>
/// Describes a transport to the conformance suites: how to make an address no other test uses, and the hooks the
/// transport needs. Write one per transport and close each suite it supports over it:
/// <code>
/// public sealed class PipeTransportUnderTest : TransportUnderTest
/// {
///     public override string CreateAddress() => $"pipe://conformance-{Guid.NewGuid():N}";
/// }
///
/// [Trait("Transport", "Pipes")]
/// public sealed class PipeRequestResponseTests : RequestResponseConformanceTests&lt;PipeTransportUnderTest&gt;;
/// </code>
/// </summary>
/// <remarks>A new instance is created for every test; it needs a public parameterless constructor.</remarks>
public abstract class TransportUnderTest
{
    /// <summary>Returns a new address no other test uses (for example <c>pipe://conformance-&lt;guid&gt;</c>).</summary>
    public abstract string CreateAddress();

    /// <summary>Registers the transport on a client or server (not needed when the adapter is discovered by reference).</summary>
    public virtual void ConfigureIpc(IIpcBuilder ipc)
    {
    }

    /// <summary>Adjusts the endpoint options both sides use (for example a transport's own settings).</summary>
    public virtual void ConfigureEndpoint(IpcEndpointOptions endpoint)
    {
    }

    /// <summary>
    /// Checks the peer a server handler saw (<see cref="IpcContext.RemoteAddress"/>) and its failure logs name. The default
    /// asks for a non-empty one; a transport with no peer to name (in-memory, a broker) asserts <see langword="null"/>, and
    /// one with a known format asserts it (for example <c>127.0.0.1:port</c>).
    /// </summary>
    /// <param name="remoteAddress">What the server named the conformance client.</param>
    public virtual void AssertRemoteAddress(string? remoteAddress) =>
        Assert.False(string.IsNullOrEmpty(remoteAddress), "The server's handler saw no RemoteAddress: a transport with a peer sets IpcMessage.RemoteAddress on what it hands to the dispatcher.");

    /// <summary>
    /// Returns <paramref name="address"/> with a user name and <paramref name="password"/> in it
    /// (<c>scheme://user:password@...</c>). The default puts <c>ipc:password@</c> after <c>://</c>; a transport that logs in
    /// with the address's credentials keeps a user the server knows, and takes the real password from its options, so that
    /// calls still succeed.
    /// </summary>
    /// <param name="address">An address from <see cref="CreateAddress"/>.</param>
    /// <param name="password">The password to put in it; no log record, health report or error may show it.</param>
    public virtual string AddressWithPassword(string address, string password)
    {
        ArgumentNullException.ThrowIfNull(address);
        var start = address.IndexOf("://", StringComparison.Ordinal) + 3;
        return address[..start] + "ipc:" + password + "@" + address[start..];
    }

    /// <summary>Checks that nothing of <paramref name="address"/> is left once client and server are disposed (socket files, segments, queues).</summary>
    public virtual ValueTask AssertReleasedAsync(string address) => default;
}
