namespace Ipc.Transports;

/// <summary>How a route is called.</summary>
public enum IpcRouteKind
{
    /// <summary>A request/response route (<c>MapRequest</c>, <c>MapRaw</c>): dispatched with <see cref="IIpcDispatcher.DispatchRequestAsync"/>.</summary>
    Request,

    /// <summary>A stream route (<c>MapStream</c>): dispatched with <see cref="IIpcDispatcher.DispatchStreamAsync"/>.</summary>
    Stream,

    /// <summary>A one-way route (<c>MapMessage</c>) that receives messages sent to this endpoint: dispatched with <see cref="IIpcDispatcher.DispatchOneWayAsync"/>.</summary>
    OneWay,

    /// <summary>
    /// A subscription to a published topic (<c>MapSubscription</c>): the route's name is the topic. Each subscribing service
    /// (<see cref="IIpcDispatcher.ServiceName"/>) gets every message published to it once; dispatched with
    /// <see cref="IIpcDispatcher.DispatchOneWayAsync"/>.
    /// </summary>
    Subscription,
}

/// <summary>One route a server maps: its name, how it is called and its message types.</summary>
/// <remarks>
/// A listener reads the routes from <see cref="IIpcDispatcher.Routes"/> when it starts: a broker declares a queue and
/// bindings from them, an HTTP transport describes its routes. Immutable and thread-safe.
/// </remarks>
public sealed class IpcRoute
{
    /// <summary>Creates a route description.</summary>
    /// <param name="name">The route (for a <see cref="IpcRouteKind.Subscription"/>, the topic).</param>
    /// <param name="kind">How it is called.</param>
    /// <param name="requestType">The CLR type of the request or message body, or <see langword="null"/> for a raw route.</param>
    /// <param name="responseType">The CLR type of the response (of each item, for a stream), or <see langword="null"/> when there is none or the route is raw.</param>
    public IpcRoute(string name, IpcRouteKind kind, Type? requestType, Type? responseType)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        Kind = kind;
        RequestType = requestType;
        ResponseType = responseType;
    }

    /// <summary>Gets the route's name, as in <see cref="IpcMessage.Route"/>; for a subscription, the topic.</summary>
    public string Name { get; }

    /// <summary>Gets how the route is called.</summary>
    public IpcRouteKind Kind { get; }

    /// <summary>Gets the CLR type the handler reads from the body, or <see langword="null"/> for a raw route (<c>MapRaw</c>), whose handler reads the bytes itself.</summary>
    public Type? RequestType { get; }

    /// <summary>Gets the CLR type of the response, or of each streamed item; <see langword="null"/> for one-way and subscription routes, and for a raw route.</summary>
    public Type? ResponseType { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Kind}: {RequestType?.Name ?? "raw"}{(ResponseType is null ? string.Empty : " -> " + ResponseType.Name)})";
}
