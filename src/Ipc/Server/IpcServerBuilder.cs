using Ipc.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Ipc;

/// <summary>
/// Maps routes to handlers for one server (see <c>AddServer</c>). Each route has one kind: request/response, stream,
/// one-way (messages sent to the endpoint) or subscription (messages published to a topic). Transports read the result
/// as the route table (<see cref="Transports.IIpcDispatcher.Routes"/>).
/// </summary>
public sealed class IpcServerBuilder
{
    /// <summary>The default number of message ids <see cref="UseDuplicateFilter"/> remembers.</summary>
    public const int DefaultDuplicateFilterCapacity = 1024;

    private readonly Dictionary<string, RouteEntry> _routes = new(StringComparer.Ordinal);
    private int _duplicateFilterCapacity;
    private string? _serviceName;

    internal IpcServerBuilder(string endpointName, IServiceCollection services)
    {
        EndpointName = endpointName;
        Services = services;
    }

    /// <summary>Gets the name of the endpoint the server listens on.</summary>
    public string EndpointName { get; }

    /// <summary>Gets the service collection, for handler dependencies.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Maps a request/response route to a delegate.</summary>
    public IpcServerBuilder MapRequest<TRequest, TResponse>(string route, Func<TRequest, IpcContext, CancellationToken, ValueTask<TResponse>> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(route, RouteEntry.ForRequest(route, handler));
    }

    /// <summary>Maps a request/response route to a synchronous delegate.</summary>
    public IpcServerBuilder MapRequest<TRequest, TResponse>(string route, Func<TRequest, TResponse> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(route, RouteEntry.ForRequest<TRequest, TResponse>(route, (request, _, _) => new ValueTask<TResponse>(handler(request))));
    }

    /// <summary>Maps a request/response route to a handler class, resolved from the call's service scope.</summary>
    public IpcServerBuilder MapRequest<TRequest, TResponse, THandler>(string route)
        where THandler : class, IRequestHandler<TRequest, TResponse>
    {
        Services.TryAddScoped<THandler>();
        return Add(route, RouteEntry.ForRequest<TRequest, TResponse>(route, (request, context, ct) =>
            context.Services.GetRequiredService<THandler>().HandleAsync(request, context, ct)));
    }

    /// <summary>Maps a one-way route to a delegate: it receives the messages clients send (<c>SendAsync</c>) to this endpoint. Published messages go to <see cref="MapSubscription{TMessage}(string, Func{TMessage, IpcContext, CancellationToken, ValueTask})"/> routes.</summary>
    public IpcServerBuilder MapMessage<TMessage>(string route, Func<TMessage, IpcContext, CancellationToken, ValueTask> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(route, RouteEntry.ForMessage(handler));
    }

    /// <summary>Maps a one-way route to a handler class, resolved from the call's service scope.</summary>
    public IpcServerBuilder MapMessage<TMessage, THandler>(string route)
        where THandler : class, IMessageHandler<TMessage>
    {
        Services.TryAddScoped<THandler>();
        return Add(route, RouteEntry.ForMessage<TMessage>((message, context, ct) =>
            context.Services.GetRequiredService<THandler>().HandleAsync(message, context, ct)));
    }

    /// <summary>
    /// Subscribes the server to the published topic <paramref name="topic"/>: the delegate receives the messages clients
    /// publish (<c>PublishAsync</c>) to it on this endpoint's address. Each subscribing service (see
    /// <see cref="WithServiceName"/>) gets every message once; instances of one service share them.
    /// </summary>
    /// <remarks>A message sent (<c>SendAsync</c>) to the route is handled too. Topics and routes share one namespace per server.</remarks>
    public IpcServerBuilder MapSubscription<TMessage>(string topic, Func<TMessage, IpcContext, CancellationToken, ValueTask> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(topic, RouteEntry.ForSubscription(handler));
    }

    /// <summary>Subscribes the server to the published topic <paramref name="topic"/> with a handler class, resolved from the call's service scope.</summary>
    public IpcServerBuilder MapSubscription<TMessage, THandler>(string topic)
        where THandler : class, IMessageHandler<TMessage>
    {
        Services.TryAddScoped<THandler>();
        return Add(topic, RouteEntry.ForSubscription<TMessage>((message, context, ct) =>
            context.Services.GetRequiredService<THandler>().HandleAsync(message, context, ct)));
    }

    /// <summary>
    /// Names the service this server belongs to, its identity as a subscriber: servers with the same service name are
    /// instances of one service and share each published message (a broker gives them one queue); servers with different
    /// names each get every message.
    /// </summary>
    /// <param name="serviceName">The service's name. The default is the application's name (<c>IHostEnvironment.ApplicationName</c>), or the endpoint's name when there is no host.</param>
    public IpcServerBuilder WithServiceName(string serviceName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        _serviceName = serviceName;
        return this;
    }

    /// <summary>Maps a stream route to a delegate producing the responses.</summary>
    public IpcServerBuilder MapStream<TRequest, TResponse>(string route, Func<TRequest, IpcContext, CancellationToken, IAsyncEnumerable<TResponse>> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(route, RouteEntry.ForStream(route, handler));
    }

    /// <summary>Maps a stream route to a handler class, resolved from the call's service scope.</summary>
    public IpcServerBuilder MapStream<TRequest, TResponse, THandler>(string route)
        where THandler : class, IStreamHandler<TRequest, TResponse>
    {
        Services.TryAddScoped<THandler>();
        return Add(route, RouteEntry.ForStream<TRequest, TResponse>(route, (request, context, ct) =>
            context.Services.GetRequiredService<THandler>().HandleAsync(request, context, ct)));
    }

    /// <summary>Maps a request/response route to a raw handler: it gets the request message and returns the response body, byte for byte.</summary>
    /// <remarks>
    /// The handler reads the request's <see cref="IpcMessage.Body"/> where the transport put it, with no copy: it is valid
    /// until the handler's task completes (a server may then reuse the memory of a large body), so copy it
    /// (<c>ToArray()</c>) to keep it longer. The handler may answer with the request's own body.
    /// </remarks>
    public IpcServerBuilder MapRaw(string route, Func<IpcMessage, IpcContext, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(route, RouteEntry.ForRaw(handler));
    }

    /// <summary>
    /// Recognises a message delivered again (a client retry keeps the message id) among the last
    /// <paramref name="capacity"/> ids received: a duplicate one-way message is dropped and logged, a duplicate request
    /// gets the response of its first delivery without running the handler again. Stream calls are not filtered.
    /// </summary>
    /// <param name="capacity">How many recent ids to remember. The responses of remembered requests are kept too, so size it to the retry window, not to history.</param>
    /// <remarks>
    /// The window is per server and in memory: a duplicate that arrives after its id was pushed out, or after a restart,
    /// is handled again. Make handlers idempotent where that matters.
    /// </remarks>
    public IpcServerBuilder UseDuplicateFilter(int capacity = DefaultDuplicateFilterCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _duplicateFilterCapacity = capacity;
        return this;
    }

    internal IpcServerDefinition Build() => new(EndpointName, new Dictionary<string, RouteEntry>(_routes, StringComparer.Ordinal), _duplicateFilterCapacity, _serviceName);

    private IpcServerBuilder Add(string route, RouteEntry entry)
    {
        ArgumentException.ThrowIfNullOrEmpty(route);
        if (RouteNames.Check(route) is not RouteNames.Problem.None and var problem)
        {
            throw new ArgumentException(
                $"The route '{route}' of the server of endpoint '{EndpointName}' {RouteNames.Describe(problem)}: over HTTP no call could reach it. Rename it: {RouteNames.Rule}.",
                nameof(route));
        }

        if (!_routes.TryAdd(route, entry))
        {
            throw new ArgumentException($"The route '{route}' is already mapped on the server of endpoint '{EndpointName}'.", nameof(route));
        }

        return this;
    }
}
