using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;

namespace Ipc.Grpc;

/// <summary>
/// Maps <see cref="IpcErrorCode"/> to gRPC status codes and back, with the Ipc code, message and a handler's error carried in a
/// rich status (<c>google.rpc.Status</c> with <c>google.rpc.ErrorInfo</c> details) that a caller in any language can read.
/// </summary>
internal static class GrpcErrors
{
    /// <summary>The <c>ErrorInfo.domain</c> of the detail that holds the Ipc error code (as <c>reason</c>).</summary>
    public const string Domain = "ipc";

    /// <summary>The <c>ErrorInfo.domain</c> of the detail that holds a handler's own code (<c>reason</c>) and details (<c>metadata</c>).</summary>
    public const string RemoteDomain = "ipc.remote";

    /// <summary>The gRPC status code an Ipc failure is sent with.</summary>
    public static StatusCode ToStatusCode(IpcErrorCode code) => code switch
    {
        IpcErrorCode.Unavailable => StatusCode.Unavailable,
        IpcErrorCode.Timeout => StatusCode.DeadlineExceeded,
        IpcErrorCode.CircuitOpen => StatusCode.Unavailable,
        IpcErrorCode.NoHandler => StatusCode.Unimplemented,
        IpcErrorCode.RemoteError => StatusCode.Unknown,
        IpcErrorCode.Serialization => StatusCode.InvalidArgument,
        IpcErrorCode.MessageTooLarge => StatusCode.ResourceExhausted,
        IpcErrorCode.ProtocolError => StatusCode.Internal,
        IpcErrorCode.Unauthorized => StatusCode.Unauthenticated,
        IpcErrorCode.NotSupported => StatusCode.Unimplemented,
        IpcErrorCode.ResourceExhausted => StatusCode.ResourceExhausted,
        _ => StatusCode.Unknown,
    };

    /// <summary>The Ipc error code of a gRPC status that carries no Ipc details (a server or proxy that is not Ipc's).</summary>
    /// <param name="code">The status code.</param>
    /// <param name="detail">The status message: gRPC reports an over-size message as <see cref="StatusCode.ResourceExhausted"/>, told apart by it.</param>
    public static IpcErrorCode ToErrorCode(StatusCode code, string? detail) => code switch
    {
        StatusCode.Cancelled => IpcErrorCode.Unavailable,
        StatusCode.Unknown => IpcErrorCode.Unknown,
        StatusCode.InvalidArgument => IpcErrorCode.Serialization,
        StatusCode.DeadlineExceeded => IpcErrorCode.Timeout,
        StatusCode.NotFound => IpcErrorCode.NoHandler,
        StatusCode.AlreadyExists => IpcErrorCode.RemoteError,
        StatusCode.PermissionDenied => IpcErrorCode.Unauthorized,
        StatusCode.ResourceExhausted => IsMessageSize(detail) ? IpcErrorCode.MessageTooLarge : IpcErrorCode.ResourceExhausted,
        StatusCode.FailedPrecondition => IpcErrorCode.RemoteError,
        StatusCode.Aborted => IpcErrorCode.Unavailable,
        StatusCode.OutOfRange => IpcErrorCode.RemoteError,
        StatusCode.Unimplemented => IpcErrorCode.NoHandler,
        StatusCode.Internal => IpcErrorCode.ProtocolError,
        StatusCode.Unavailable => IpcErrorCode.Unavailable,
        StatusCode.DataLoss => IpcErrorCode.ProtocolError,
        StatusCode.Unauthenticated => IpcErrorCode.Unauthorized,
        _ => IpcErrorCode.Unknown,
    };

    /// <summary>The <c>ErrorInfo.reason</c> of an Ipc code: its name in upper snake case (<c>REMOTE_ERROR</c>).</summary>
    public static string Reason(IpcErrorCode code) => code switch
    {
        IpcErrorCode.Unknown => "UNKNOWN",
        IpcErrorCode.Unavailable => "UNAVAILABLE",
        IpcErrorCode.Timeout => "TIMEOUT",
        IpcErrorCode.CircuitOpen => "CIRCUIT_OPEN",
        IpcErrorCode.NoHandler => "NO_HANDLER",
        IpcErrorCode.RemoteError => "REMOTE_ERROR",
        IpcErrorCode.Serialization => "SERIALIZATION",
        IpcErrorCode.MessageTooLarge => "MESSAGE_TOO_LARGE",
        IpcErrorCode.ProtocolError => "PROTOCOL_ERROR",
        IpcErrorCode.Unauthorized => "UNAUTHORIZED",
        IpcErrorCode.NotSupported => "NOT_SUPPORTED",
        IpcErrorCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        _ => "UNKNOWN",
    };

    /// <summary>Builds the exception a server throws to send <paramref name="fault"/> as a rich status.</summary>
    public static RpcException ToRpcException(IpcFault fault)
    {
        var status = new Google.Rpc.Status { Code = (int)ToStatusCode(fault.ErrorCode), Message = fault.Message };
        status.Details.Add(Any.Pack(new ErrorInfo { Domain = Domain, Reason = Reason(fault.ErrorCode) }));
        if (fault.Remote is { } remote)
        {
            var info = new ErrorInfo { Domain = RemoteDomain, Reason = remote.Code };
            if (remote.Details is { } details)
            {
                foreach (var (key, value) in details)
                {
                    info.Metadata[key] = value;
                }
            }

            status.Details.Add(Any.Pack(info));
        }

        return status.ToRpcException();
    }

    /// <summary>Reads the failure a server reported: the Ipc fault of a rich status, or the mapping of a plain status.</summary>
    /// <param name="exception">The call's failure.</param>
    /// <param name="address">The server's address as messages show it (<see cref="Ipc.Transports.IpcTransportContext.DisplayAddress"/>), for the message of a plain status.</param>
    public static IpcFault ToFault(RpcException exception, string address)
    {
        var status = TryGetRichStatus(exception);
        if (status is not null)
        {
            IpcErrorCode? code = null;
            IpcRemoteError? remote = null;
            foreach (var detail in status.Details)
            {
                if (!TryUnpackErrorInfo(detail, out var info))
                {
                    continue;
                }

                if (info.Domain == Domain && TryParseReason(info.Reason, out var parsed))
                {
                    code = parsed;
                }
                else if (info.Domain == RemoteDomain)
                {
                    remote = new IpcRemoteError(info.Reason, status.Message, info.Metadata.Count == 0 ? null : new Dictionary<string, string>(info.Metadata));
                }
            }

            if (code is { } ipcCode)
            {
                return ipcCode == IpcErrorCode.RemoteError
                    ? new IpcFault(ipcCode, status.Message, remote ?? new IpcRemoteError(IpcRemoteError.UnhandledExceptionCode, status.Message))
                    : new IpcFault(ipcCode, status.Message);
            }
        }

        var mapped = ToErrorCode(exception.StatusCode, exception.Status.Detail);
        var message = $"The gRPC server at {address} answered {exception.StatusCode}: {exception.Status.Detail}";
        return mapped == IpcErrorCode.RemoteError
            ? new IpcFault(mapped, message, new IpcRemoteError(StatusName(exception.StatusCode), exception.Status.Detail))
            : new IpcFault(mapped, message);
    }

    /// <summary>The canonical upper-snake-case name of a status code (<c>FAILED_PRECONDITION</c>), used as a foreign handler's error code.</summary>
    public static string StatusName(StatusCode code) => code switch
    {
        StatusCode.AlreadyExists => "ALREADY_EXISTS",
        StatusCode.FailedPrecondition => "FAILED_PRECONDITION",
        StatusCode.OutOfRange => "OUT_OF_RANGE",
        _ => code.ToString().ToUpperInvariant(),
    };

    private static Google.Rpc.Status? TryGetRichStatus(RpcException exception)
    {
        try
        {
            return exception.GetRpcStatus();
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            return null; // a malformed grpc-status-details-bin: read the plain status
        }
    }

    /// <summary>Reads a detail that is an ErrorInfo; <see langword="false"/> for another type, or an ErrorInfo that does not parse.</summary>
    private static bool TryUnpackErrorInfo(Any detail, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ErrorInfo? info)
    {
        try
        {
            return detail.TryUnpack(out info);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            info = null; // a detail a broken server sent: the plain status says what failed
            return false;
        }
    }

    private static bool TryParseReason(string reason, out IpcErrorCode code)
    {
        foreach (var candidate in System.Enum.GetValues<IpcErrorCode>())
        {
            if (Reason(candidate) == reason)
            {
                code = candidate;
                return true;
            }
        }

        code = IpcErrorCode.Unknown;
        return false;
    }

    private static bool IsMessageSize(string? detail) =>
        detail is not null
        && detail.Contains("message", StringComparison.OrdinalIgnoreCase)
        && (detail.Contains("size", StringComparison.OrdinalIgnoreCase) || detail.Contains("larger", StringComparison.OrdinalIgnoreCase));
}
