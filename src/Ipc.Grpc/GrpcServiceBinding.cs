using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Ipc.Grpc.Protocol;

namespace Ipc.Grpc;

/// <summary>
/// Binds the envelope service's methods (those of the generated <c>IpcService.BindService</c>) with a request marshaller of
/// its own: an envelope protobuf cannot parse fails the call with <c>INVALID_ARGUMENT</c> and a
/// <see cref="IpcErrorCode.Serialization"/> fault that says what is wrong, where grpc-dotnet would answer
/// <c>UNKNOWN</c> ("Exception was thrown by handler.") and log the caller's mistake as an error of the server.
/// </summary>
/// <remarks>gRPC reflection reads the service's descriptor from <see cref="Descriptor"/>.</remarks>
internal static class GrpcServiceBinding
{
    private static readonly Marshaller<IpcEnvelope> s_envelope = Marshallers.Create(
        static (envelope, context) => Write(envelope, context),
        static context => ReadEnvelope(context));

    private static readonly Marshaller<Empty> s_empty = Marshallers.Create(
        static (empty, context) => Write(empty, context),
        static context => Empty.Parser.ParseFrom(context.PayloadAsReadOnlySequence()));

    private static readonly string s_serviceName = IpcService.Descriptor.FullName;

    private static readonly Method<IpcEnvelope, IpcEnvelope> s_request = new(MethodType.Unary, s_serviceName, "Request", s_envelope, s_envelope);

    private static readonly Method<IpcEnvelope, Empty> s_send = new(MethodType.Unary, s_serviceName, "Send", s_envelope, s_empty);

    private static readonly Method<IpcEnvelope, IpcEnvelope> s_stream = new(MethodType.ServerStreaming, s_serviceName, "Stream", s_envelope, s_envelope);

    /// <summary>Gets the descriptor of <c>ipc.v1.IpcService</c>, for gRPC reflection.</summary>
    public static ServiceDescriptor Descriptor => IpcService.Descriptor;

    /// <summary>
    /// Adds the service's methods to <paramref name="binder"/>. grpc-dotnet finds their implementations on
    /// <see cref="GrpcIpcService"/> by name, as overrides of the methods of the parameter's type, the generated base.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, IpcService.IpcServiceBase service)
    {
        ArgumentNullException.ThrowIfNull(binder);
        binder.AddMethod(s_request, service is null ? null : new UnaryServerMethod<IpcEnvelope, IpcEnvelope>(service.Request));
        binder.AddMethod(s_send, service is null ? null : new UnaryServerMethod<IpcEnvelope, Empty>(service.Send));
        binder.AddMethod(s_stream, service is null ? null : new ServerStreamingServerMethod<IpcEnvelope, IpcEnvelope>(service.Stream));
    }

    /// <summary>Reads a request's envelope; one protobuf cannot parse is the caller's mistake, answered as one.</summary>
    internal static IpcEnvelope ReadEnvelope(DeserializationContext context)
    {
        try
        {
            return IpcEnvelope.Parser.ParseFrom(context.PayloadAsReadOnlySequence());
        }
        catch (InvalidProtocolBufferException ex)
        {
            var fix = ex.Message.Contains("UTF-8", StringComparison.OrdinalIgnoreCase)
                ? "Its string fields (route, message_id, correlation_id, content_type, and the names and values of headers) must be valid UTF-8: send binary data in body, or base64-encode it."
                : "Encode it with a protobuf library from the ipc.proto this server ships.";
            throw GrpcErrors.ToRpcException(new IpcFault(IpcErrorCode.Serialization, $"The request is not a valid ipc.v1.IpcEnvelope: {ex.Message} {fix}"));
        }
    }

    private static void Write(IBufferMessage message, SerializationContext context)
    {
        context.SetPayloadLength(message.CalculateSize());
        message.WriteTo(context.GetBufferWriter());
        context.Complete();
    }
}
