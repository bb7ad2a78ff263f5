namespace Ipc.Transports;

/// <summary>
/// A transport: the part of an adapter package that the runtime picks by address scheme. It creates the client side and
/// the server side for an endpoint; the runtime does everything else (serialization, dispatch, timeouts, resilience,
/// telemetry).
/// </summary>
/// <remarks>
/// Implementations are registered as singletons and must be thread-safe. To prove a transport, subclass the
/// conformance suites of <c>Ipc.Testing</c> it supports; see docs/writing-a-transport.md.
/// </remarks>
public interface IIpcTransport
{
    /// <summary>Gets the transport's name, as used in the conformance trait <c>Transport=&lt;Name&gt;</c> (for example <c>InMemory</c>).</summary>
    string Name { get; }

    /// <summary>Gets the address schemes this transport handles (for example <c>inmemory</c>), lower case.</summary>
    IReadOnlyList<string> Schemes { get; }

    /// <summary>Gets what the transport can do for <paramref name="address"/>.</summary>
    TransportCapabilities GetCapabilities(Uri address);

    /// <summary>Checks an address of one of <see cref="Schemes"/>; returns <see langword="null"/> when valid, otherwise what is wrong with it.</summary>
    string? ValidateAddress(Uri address);

    /// <summary>Creates the client side for an endpoint. It connects lazily, on its first call.</summary>
    IIpcTransportClient CreateClient(IpcTransportContext context);

    /// <summary>Creates the server side for an endpoint. It listens once started.</summary>
    IIpcTransportListener CreateListener(IpcTransportContext context);
}
