namespace Ipc;

/// <summary>
/// What a transport can do. Callers read these from <see cref="IRequestClient.Capabilities"/> or
/// <see cref="IChannel.Capabilities"/>; an endpoint can require some in configuration (<c>RequiredCapabilities</c>),
/// and then a transport that lacks one fails at start, not deep inside a call.
/// </summary>
[Flags]
public enum TransportCapabilities
{
    /// <summary>Nothing.</summary>
    None = 0,

    /// <summary>Request/response calls (<see cref="IRequestClient.RequestAsync{TRequest, TResponse}"/>).</summary>
    RequestResponse = 1 << 0,

    /// <summary>One-way messages (<see cref="IChannel.SendAsync{TMessage}"/>).</summary>
    OneWay = 1 << 1,

    /// <summary>Server streams of responses (<see cref="IRequestClient.StreamAsync{TRequest, TResponse}"/>).</summary>
    Streaming = 1 << 2,

    /// <summary>One-way messages from one sender arrive in the order they were sent.</summary>
    Ordered = 1 << 3,

    /// <summary>Accepted messages survive a restart of the server or broker.</summary>
    Durable = 1 << 4,

    /// <summary>A published message reaches every subscriber (<see cref="IChannel.PublishAsync{TMessage}"/>).</summary>
    PublishSubscribe = 1 << 5,

    /// <summary>Client and server may run on different machines.</summary>
    CrossMachine = 1 << 6,

    /// <summary>Client and server are in the same process (<c>inmemory://</c>), with no connection that can drop. Such
    /// endpoints get the in-process resilience defaults (docs/resilience.md).</summary>
    InProcess = 1 << 7,

    /// <summary>
    /// A one-way or published message stays with the transport until its handler succeeded, and is delivered again after
    /// the handler failed or the server died (a broker acknowledges after the handler). Handlers may see a message more
    /// than once, so they should be idempotent. Without it, a message is delivered at most once.
    /// </summary>
    AtLeastOnce = 1 << 8,

    /// <summary>
    /// A caller's cancellation (or timeout) reaches the server: the token the handler gets is cancelled. Without it, the
    /// caller stops waiting but the handler runs on.
    /// </summary>
    CancellationPropagates = 1 << 9,
}
