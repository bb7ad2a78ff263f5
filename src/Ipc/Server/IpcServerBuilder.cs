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
    private readonly Dictionary<string, RouteEntry> _routes = new(StringComparer.Ordinal);

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

    internal IpcServerDefinition Build() => new(EndpointName, new Dictionary<string, RouteEntry>(_routes, StringComparer.Ordinal));

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
