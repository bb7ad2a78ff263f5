using System.Runtime.CompilerServices;
using Ipc.Serialization;

namespace Ipc.Server;

internal enum RouteKind
{
    Request,
    OneWay,
    Stream,
}

/// <summary>A mapped route: its kind and an invoker that decodes the body, runs the handler and encodes the result.</summary>
internal sealed class RouteEntry
{
    private RouteEntry(RouteKind kind) => Kind = kind;

    public RouteKind Kind { get; }

    public Func<IpcMessage, IpcContext, IIpcSerializer, CancellationToken, ValueTask<ReadOnlyMemory<byte>>>? Request { get; private init; }

    public Func<IpcMessage, IpcContext, IIpcSerializer, CancellationToken, ValueTask>? OneWay { get; private init; }

    public Func<IpcMessage, IpcContext, IIpcSerializer, CancellationToken, IAsyncEnumerable<ReadOnlyMemory<byte>>>? Stream { get; private init; }

    public static RouteEntry ForRequest<TRequest, TResponse>(string route, Func<TRequest, IpcContext, CancellationToken, ValueTask<TResponse>> handler) => new(RouteKind.Request)
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

    public static RouteEntry ForMessage<TMessage>(Func<TMessage, IpcContext, CancellationToken, ValueTask> handler) => new(RouteKind.OneWay)
    {
        OneWay = (message, context, serializer, ct) => handler(DecodeRequest<TMessage>(serializer, message), context, ct),
    };

    public static RouteEntry ForStream<TRequest, TResponse>(string route, Func<TRequest, IpcContext, CancellationToken, IAsyncEnumerable<TResponse>> handler) => new(RouteKind.Stream)
    {
        Stream = (message, context, serializer, ct) => EncodeStream(handler(DecodeRequest<TRequest>(serializer, message), context, ct), serializer, route, ct),
    };

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
