using System.Runtime.CompilerServices;
using Ipc.Serialization;
using Ipc.Transports;

namespace Ipc.Server;

internal enum RouteKind
{
    Request,
    OneWay,
    Stream,
    Subscription,
}

/// <summary>A mapped route: its kind, its message types and an invoker that decodes the body, runs the handler and encodes the result.</summary>
internal sealed class RouteEntry
{
    private RouteEntry(RouteKind kind, Type? requestType = null, Type? responseType = null)
    {
        Kind = kind;
        RequestType = requestType;
        ResponseType = responseType;
    }

    public RouteKind Kind { get; }

    /// <summary>Gets the type the handler reads; null for a raw route.</summary>
    public Type? RequestType { get; }

    /// <summary>Gets the type the handler returns (or streams); null for one-way routes and raw ones.</summary>
    public Type? ResponseType { get; }

    public Func<IpcMessage, IpcContext, IIpcSerializer, CancellationToken, ValueTask<ReadOnlyMemory<byte>>>? Request { get; private init; }

    public Func<IpcMessage, IpcContext, IIpcSerializer, CancellationToken, ValueTask>? OneWay { get; private init; }

    public Func<IpcMessage, IpcContext, IIpcSerializer, CancellationToken, IAsyncEnumerable<ReadOnlyMemory<byte>>>? Stream { get; private init; }

    public static RouteEntry ForRequest<TRequest, TResponse>(string route, Func<TRequest, IpcContext, CancellationToken, ValueTask<TResponse>> handler) => new(RouteKind.Request, typeof(TRequest), typeof(TResponse))
    {
        Request = async (message, context, serializer, ct) =>
        {
            var request = DecodeRequest<TRequest>(serializer, message);
            var response = await handler(request, context, ct).ConfigureAwait(false);
            return EncodeResponse(serializer, response, route);
        },
    };

    public static RouteEntry ForRaw(Func<IpcMessage, IpcContext, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> handler) => new(RouteKind.Request)
    {
        Request = (message, context, _, ct) => handler(message, context, ct),
    };

    public static RouteEntry ForMessage<TMessage>(Func<TMessage, IpcContext, CancellationToken, ValueTask> handler) => ForOneWay(RouteKind.OneWay, handler);

    public static RouteEntry ForSubscription<TMessage>(Func<TMessage, IpcContext, CancellationToken, ValueTask> handler) => ForOneWay(RouteKind.Subscription, handler);

    private static RouteEntry ForOneWay<TMessage>(RouteKind kind, Func<TMessage, IpcContext, CancellationToken, ValueTask> handler) => new(kind, typeof(TMessage))
    {
        OneWay = (message, context, serializer, ct) => handler(DecodeRequest<TMessage>(serializer, message), context, ct),
    };

    public static RouteEntry ForStream<TRequest, TResponse>(string route, Func<TRequest, IpcContext, CancellationToken, IAsyncEnumerable<TResponse>> handler) => new(RouteKind.Stream, typeof(TRequest), typeof(TResponse))
    {
        Stream = (message, context, serializer, ct) => EncodeStream(handler(DecodeRequest<TRequest>(serializer, message), context, ct), serializer, route, ct),
    };

    /// <summary>Describes the route for transports (the route table).</summary>
    public IpcRoute Describe(string name) => new(name, Kind switch
    {
        RouteKind.Request => IpcRouteKind.Request,
        RouteKind.OneWay => IpcRouteKind.OneWay,
        RouteKind.Stream => IpcRouteKind.Stream,
        _ => IpcRouteKind.Subscription,
    }, RequestType, ResponseType);

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> EncodeStream<TResponse>(IAsyncEnumerable<TResponse> items, IIpcSerializer serializer, string route, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var item in items.WithCancellation(ct).ConfigureAwait(false))
        {
            yield return EncodeResponse(serializer, item, route);
        }
    }

    private static T DecodeRequest<T>(IIpcSerializer serializer, IpcMessage message)
    {
        try
        {
            return BodyCodec.Decode<T>(serializer, message, "request");
        }
        catch (IpcException ex)
        {
            throw new DispatchFaultException(new IpcFault(ex.ErrorCode, ex.Message), ex);
        }
    }

    private static ReadOnlyMemory<byte> EncodeResponse<T>(IIpcSerializer serializer, T value, string route)
    {
        try
        {
            return BodyCodec.Encode(serializer, value, route);
        }
        catch (IpcException ex)
        {
            throw new DispatchFaultException(new IpcFault(ex.ErrorCode, "The server could not serialize its response: " + ex.Message), ex);
        }
    }
}

/// <summary>A failure of the runtime around a handler (not of the handler itself), sent to the caller with its own code.</summary>
internal sealed class DispatchFaultException(IpcFault fault, Exception? inner = null) : Exception(fault.Message, inner)
{
    public IpcFault Fault { get; } = fault;
}
