namespace Ipc.Tests;

public sealed class IpcExceptionTests
{
    [Theory]
    [InlineData(IpcErrorCode.Unavailable, true)]
    [InlineData(IpcErrorCode.Timeout, true)]
    [InlineData(IpcErrorCode.CircuitOpen, false)]
    [InlineData(IpcErrorCode.NoHandler, false)]
    [InlineData(IpcErrorCode.RemoteError, false)]
    [InlineData(IpcErrorCode.Serialization, false)]
    [InlineData(IpcErrorCode.MessageTooLarge, false)]
    [InlineData(IpcErrorCode.ProtocolError, false)]
    [InlineData(IpcErrorCode.Unauthorized, false)]
    [InlineData(IpcErrorCode.NotSupported, false)]
    [InlineData(IpcErrorCode.Unknown, false)]
    public void IsTransient_ByCode_OnlyUnavailableAndTimeout(IpcErrorCode code, bool transient)
    {
        var ex = new IpcException(code, "x");

        Assert.Equal(transient, ex.IsTransient);
        Assert.Equal(transient, IpcException.IsTransientError(ex));
    }

    [Fact]
    public void ErrorCodes_HaveStableValues()
    {
        int[] values = [(int)IpcErrorCode.Unknown, (int)IpcErrorCode.Unavailable, (int)IpcErrorCode.Timeout, (int)IpcErrorCode.CircuitOpen,
            (int)IpcErrorCode.NoHandler, (int)IpcErrorCode.RemoteError, (int)IpcErrorCode.Serialization, (int)IpcErrorCode.MessageTooLarge,
            (int)IpcErrorCode.ProtocolError, (int)IpcErrorCode.Unauthorized, (int)IpcErrorCode.NotSupported];

        Assert.Equal(Enumerable.Range(0, 11), values);
    }

    [Fact]
    public void TimeoutException_DerivesFromTimeoutExceptionAndIsTransient()
    {
        Exception ex = new IpcTimeoutException("slow") { Timeout = TimeSpan.FromSeconds(2), Endpoint = "calc" };

        Assert.IsAssignableFrom<TimeoutException>(ex);
        Assert.True(IpcException.TryGetErrorCode(ex, out var code));
        Assert.Equal(IpcErrorCode.Timeout, code);
        Assert.True(IpcException.IsTransientError(ex));
    }

    [Fact]
    public void TryGetErrorCode_OtherException_ReturnsFalse()
    {
        Assert.False(IpcException.TryGetErrorCode(new InvalidOperationException(), out var code));
        Assert.Equal(IpcErrorCode.Unknown, code);
        Assert.False(IpcException.TryGetErrorCode(null, out _));
    }

    [Fact]
    public void RemoteError_CarriesRemoteCodeMessageAndDetails()
    {
        var remote = new IpcRemoteError("USER_NOT_FOUND", "User 123 not found", new Dictionary<string, string> { ["id"] = "123" });

        var ex = new IpcException(remote, "users");

        Assert.Equal(IpcErrorCode.RemoteError, ex.ErrorCode);
        Assert.Same(remote, ex.Remote);
        Assert.Equal("users", ex.Endpoint);
        Assert.Contains("USER_NOT_FOUND", ex.Message, StringComparison.Ordinal);
        Assert.Contains("User 123 not found", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(IpcErrorCode.Unavailable)]
    [InlineData(IpcErrorCode.NoHandler)]
    [InlineData(IpcErrorCode.MessageTooLarge)]
    public void FaultToException_KeepsCode(IpcErrorCode code)
    {
        var ex = Assert.IsType<IpcException>(new IpcFault(code, "why").ToException("calc"));

        Assert.Equal(code, ex.ErrorCode);
        Assert.Equal("why", ex.Message);
        Assert.Equal("calc", ex.Endpoint);
    }

    [Fact]
    public void FaultToException_TimeoutBecomesTimeoutException()
    {
        Assert.IsType<IpcTimeoutException>(new IpcFault(IpcErrorCode.Timeout, "late").ToException());
    }

    [Fact]
    public void FaultToException_RemoteBecomesRemoteError()
    {
        var ex = Assert.IsType<IpcException>(new IpcFault(IpcErrorCode.RemoteError, "m", new IpcRemoteError("C", "m")).ToException());

        Assert.Equal("C", ex.Remote!.Code);
    }

    [Fact]
    public void HandlerException_RequiresCode()
    {
        Assert.Throws<ArgumentException>(() => new IpcHandlerException("", "message"));
        Assert.Equal("HANDLER_ERROR", new IpcHandlerException("m").Code);
    }
}
