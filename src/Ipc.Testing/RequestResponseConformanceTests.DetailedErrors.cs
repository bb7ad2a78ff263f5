using Xunit;

namespace Ipc.Testing;

/// <summary>Detailed errors: a server that enables them sends exception types and messages over every transport.</summary>
public abstract partial class RequestResponseConformanceTests<TTransport>
{
    /// <summary>
    /// With <see cref="IpcEndpointOptions.EnableDetailedErrors"/> on the server, a handler's exception reaches the
    /// caller as RemoteError with its type, message and stack trace, and an unknown route lists the mapped ones.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_HandlerThrowsWithDetailedErrors_ThrowsRemoteErrorWithTypeAndMessage()
    {
        var (_, client) = await StartPairAsync(configureServer: e => e.EnableDetailedErrors = true);

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<string, string>(ConformanceRoutes.Fail, "disk full").AsTask().WaitAsync(Bound));
        var unknown = await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<string, string>("no-such-route", "x").AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.RemoteError, ex.ErrorCode);
        Assert.Equal(nameof(InvalidOperationException), ex.Remote!.Code);
        Assert.Equal("boom: disk full", ex.Remote.Message);
        Assert.Contains("boom: disk full", ex.Message, StringComparison.Ordinal);
        Assert.Contains("InvalidOperationException: boom: disk full", ex.Remote.Details!["stackTrace"], StringComparison.Ordinal);
        Assert.Equal(IpcErrorCode.NoHandler, unknown.ErrorCode);
        Assert.Contains(ConformanceRoutes.Add, unknown.Message, StringComparison.Ordinal);
        Assert.Contains(ConformanceRoutes.FailWithCode, unknown.Message, StringComparison.Ordinal);
    }
}
