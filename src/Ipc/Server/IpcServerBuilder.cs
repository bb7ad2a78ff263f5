using Ipc.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Ipc;

/// <summary>
/// Maps routes to handlers for one server (see <c>AddServer</c>). Each route has one kind: request/response, one-way
/// (also receives published messages) or stream.
/// </summary>
public sealed class IpcServerBuilder
{
    /// <summary>The default number of message ids <see cref="UseDuplicateFilter"/> remembers.</summary>
    public const int DefaultDuplicateFilterCapacity = 1024;

    private readonly Dictionary<string, RouteEntry> _routes = new(StringComparer.Ordinal);
    private int _duplicateFilterCapacity;

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

    /// <summary>Maps a one-way route (which also receives published messages) to a delegate.</summary>
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

    internal IpcServerDefinition Build() => new(EndpointName, new Dictionary<string, RouteEntry>(_routes, StringComparer.Ordinal), _duplicateFilterCapacity);

    private IpcServerBuilder Add(string route, RouteEntry entry)
    {
        ArgumentException.ThrowIfNullOrEmpty(route);
        if (!_routes.TryAdd(route, entry))
        {
            throw new ArgumentException($"The route '{route}' is already mapped on the server of endpoint '{EndpointName}'.", nameof(route));
        }

        return this;
    }
}
