using Grpc.Core;

namespace Ipc.Grpc.Tests;

/// <summary>The status mapping of docs/error-model.md, every code both ways.</summary>
[Trait("Transport", "Grpc")]
public sealed class GrpcErrorsTests
{
    private const string Address = "grpc://127.0.0.1:5081";

    [Theory]
    [InlineData(IpcErrorCode.Unknown, StatusCode.Unknown)]
    [InlineData(IpcErrorCode.Unavailable, StatusCode.Unavailable)]
    [InlineData(IpcErrorCode.Timeout, StatusCode.DeadlineExceeded)]
    [InlineData(IpcErrorCode.CircuitOpen, StatusCode.Unavailable)]
    [InlineData(IpcErrorCode.NoHandler, StatusCode.Unimplemented)]
    [InlineData(IpcErrorCode.RemoteError, StatusCode.Unknown)]
    [InlineData(IpcErrorCode.Serialization, StatusCode.InvalidArgument)]
    [InlineData(IpcErrorCode.MessageTooLarge, StatusCode.ResourceExhausted)]
    [InlineData(IpcErrorCode.ProtocolError, StatusCode.Internal)]
    [InlineData(IpcErrorCode.Unauthorized, StatusCode.Unauthenticated)]
    [InlineData(IpcErrorCode.NotSupported, StatusCode.Unimplemented)]
    [InlineData(IpcErrorCode.ResourceExhausted, StatusCode.ResourceExhausted)]
    public void ToRpcException_EachIpcCode_SendsItsStatusAndComesBackAsTheSameCode(IpcErrorCode code, StatusCode expected)
    {
        var remote = code == IpcErrorCode.RemoteError ? new IpcRemoteError("USER_NOT_FOUND", "what went wrong", new Dictionary<string, string> { ["userId"] = "7" }) : null;
        var fault = new IpcFault(code, "what went wrong", remote);

        var exception = GrpcErrors.ToRpcException(fault);
        var back = GrpcErrors.ToFault(exception, Address);

        Assert.Equal(expected, exception.StatusCode);
        Assert.Equal(code, back.ErrorCode);
        Assert.Equal("what went wrong", back.Message);
        Assert.Equal(remote?.Code, back.Remote?.Code);
        Assert.Equal(remote?.Details?["userId"], back.Remote?.Details?["userId"]);
    }

    [Fact]
    public void ToStatusCode_EveryIpcCode_IsInTheTable()
    {
        // A new IpcErrorCode must be added to the table above (and to docs/error-model.md).
        Assert.Equal(12, Enum.GetValues<IpcErrorCode>().Length);
    }

    [Theory]
    [InlineData(StatusCode.Cancelled, IpcErrorCode.Unavailable)]
    [InlineData(StatusCode.Unknown, IpcErrorCode.Unknown)]
    [InlineData(StatusCode.InvalidArgument, IpcErrorCode.Serialization)]
    [InlineData(StatusCode.DeadlineExceeded, IpcErrorCode.Timeout)]
    [InlineData(StatusCode.NotFound, IpcErrorCode.NoHandler)]
    [InlineData(StatusCode.AlreadyExists, IpcErrorCode.RemoteError)]
    [InlineData(StatusCode.PermissionDenied, IpcErrorCode.Unauthorized)]
    [InlineData(StatusCode.ResourceExhausted, IpcErrorCode.ResourceExhausted)]
    [InlineData(StatusCode.FailedPrecondition, IpcErrorCode.RemoteError)]
    [InlineData(StatusCode.Aborted, IpcErrorCode.Unavailable)]
    [InlineData(StatusCode.OutOfRange, IpcErrorCode.RemoteError)]
    [InlineData(StatusCode.Unimplemented, IpcErrorCode.NoHandler)]
    [InlineData(StatusCode.Internal, IpcErrorCode.ProtocolError)]
    [InlineData(StatusCode.Unavailable, IpcErrorCode.Unavailable)]
    [InlineData(StatusCode.DataLoss, IpcErrorCode.ProtocolError)]
    [InlineData(StatusCode.Unauthenticated, IpcErrorCode.Unauthorized)]
    public void ToFault_PlainStatusOfAnotherServer_MapsToIpcCode(StatusCode status, IpcErrorCode expected)
    {
        var fault = GrpcErrors.ToFault(new RpcException(new Status(status, "the detail")), Address);

        Assert.Equal(expected, fault.ErrorCode);
        Assert.Contains("the detail", fault.Message, StringComparison.Ordinal);
        Assert.Contains(Address.ToString(), fault.Message, StringComparison.Ordinal);
        if (expected == IpcErrorCode.RemoteError)
        {
            Assert.Equal(GrpcErrors.StatusName(status), fault.Remote?.Code);
        }
    }

    [Fact]
    public void ToFault_EveryStatusButOk_IsInTheTable()
    {
        Assert.Equal(17, Enum.GetValues<StatusCode>().Length); // OK and the 16 above
    }

    [Theory]
    [InlineData("Received message exceeds the maximum configured message size.")]
    [InlineData("Sending message exceeds the maximum configured message size.")]
    [InlineData("grpc: received message larger than max (300000 vs. 65536)")]
    public void ToFault_ResourceExhaustedForMessageSize_MapsToMessageTooLarge(string detail)
    {
        var fault = GrpcErrors.ToFault(new RpcException(new Status(StatusCode.ResourceExhausted, detail)), Address);

        Assert.Equal(IpcErrorCode.MessageTooLarge, fault.ErrorCode);
    }
}
