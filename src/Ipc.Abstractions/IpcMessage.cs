namespace Ipc;

/// <summary>
/// The envelope every transport carries: a route, a message id, an optional correlation id, headers and an opaque body.
/// A response may carry a <see cref="Fault"/> instead of a body.
/// </summary>
/// <remarks>
/// The body is bytes the transport never looks into; typed calls fill it with the endpoint's serializer, raw calls
/// set it directly. Not thread-safe: build a message on one thread, then hand it over.
/// </remarks>
public sealed class IpcMessage
{
    private IpcHeaders? _headers;

    /// <summary>Creates a message for <paramref name="route"/> with <paramref name="body"/> and a new message id.</summary>
    public IpcMessage(string route, ReadOnlyMemory<byte> body = default)
    {
        ArgumentNullException.ThrowIfNull(route);
        Route = route;
        Body = body;
        MessageId = NewMessageId();
    }

    /// <summary>Gets or sets the route: which handler on the server receives the message.</summary>
    public string Route { get; set; }

    /// <summary>Gets or sets the message id. A retried call keeps it, so a server can recognise a duplicate.</summary>
    public string MessageId { get; set; }

    /// <summary>Gets or sets the correlation id that ties together the messages of one conversation.</summary>
    public string? CorrelationId { get; set; }

    /// <summary>Gets the headers (created on first use).</summary>
    public IpcHeaders Headers => _headers ??= new IpcHeaders();

    /// <summary>Gets a value indicating whether the message has at least one header, without creating the collection.</summary>
    public bool HasHeaders => _headers is { Count: > 0 };

    /// <summary>Gets or sets the body.</summary>
    public ReadOnlyMemory<byte> Body { get; set; }

    /// <summary>Gets or sets the failure a response carries instead of a body; <see langword="null"/> on success.</summary>
    public IpcFault? Fault { get; set; }

    /// <summary>Creates a new unique message id (32 lower-case hex digits).</summary>
    public static string NewMessageId() => Guid.NewGuid().ToString("N");

    /// <summary>Creates a response to <paramref name="request"/> with the same route and correlation id.</summary>
    public static IpcMessage CreateResponse(IpcMessage request, ReadOnlyMemory<byte> body)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new IpcMessage(request.Route, body) { CorrelationId = request.CorrelationId };
    }

    /// <summary>Creates a failed response to <paramref name="request"/>.</summary>
    public static IpcMessage CreateFault(IpcMessage request, IpcFault fault)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(fault);
        return new IpcMessage(request.Route) { CorrelationId = request.CorrelationId, Fault = fault };
    }
}
