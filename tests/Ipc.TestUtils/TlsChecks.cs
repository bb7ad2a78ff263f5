namespace Ipc.TestUtils;

/// <summary>
/// Checks of TLS options that each transport speaking TLS runs with its own options: a test passes the server and client
/// settings of its transport, and the check starts them and says what must happen.
/// </summary>
public static class TlsChecks
{
    /// <summary>Checks that a call from <paramref name="client"/> fails with Unauthorized; returns the exception.</summary>
    public static async Task<IpcException> AssertUnauthorizedAsync(IServiceProvider client)
    {
        var ex = await Xunit.Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("echo", "x").AsTask().WaitAsync(TestIpc.Bound));
        Xunit.Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
        return ex;
    }
}
