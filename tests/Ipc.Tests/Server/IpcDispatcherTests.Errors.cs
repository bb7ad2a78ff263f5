using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Tests.Server;

/// <summary>What a caller learns of a server's failure: generic by default, detailed when the server enables it.</summary>
public sealed partial class IpcDispatcherTests
{
    [Fact]
    public async Task DispatchRequestAsync_HandlerThrows_GenericRemoteErrorAndLogsException()
    {
        await using var server = CreateDispatcher(s => s.MapRequest<int, int>("fail", _ => throw new InvalidOperationException("connection string Password=secret")));
        var request = Message("fail", 1);

        var response = await server.Inner.DispatchRequestAsync(request, CancellationToken.None);

        var fault = response.Fault!;
        Assert.Equal(IpcErrorCode.RemoteError, fault.ErrorCode);
        Assert.Equal(IpcRemoteError.UnhandledExceptionCode, fault.Remote!.Code);
        Assert.Null(fault.Remote.Details);
        foreach (var text in new[] { fault.Message, fault.Remote.Message })
        {
            Assert.DoesNotContain("secret", text, StringComparison.Ordinal);
            Assert.DoesNotContain(nameof(InvalidOperationException), text, StringComparison.Ordinal);
            Assert.Contains(request.MessageId, text, StringComparison.Ordinal); // to find the server's log entry
        }

        Assert.Contains(server.Log.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Error && e.Exception is InvalidOperationException);
    }

    [Fact]
    public async Task DispatchRequestAsync_HandlerThrowsWithDetailedErrors_SendsTypeMessageAndStackTrace()
    {
        await using var server = CreateDispatcher(
            s => s.MapRequest<int, int>("fail", _ => throw new InvalidOperationException("disk full")),
            ipc: b => b.Services.Configure<IpcOptions>(o => o.EnableDetailedErrors = true));

        var response = await server.Inner.DispatchRequestAsync(Message("fail", 1), CancellationToken.None);

        var remote = response.Fault!.Remote!;
        Assert.Equal(nameof(InvalidOperationException), remote.Code);
        Assert.Equal("disk full", remote.Message);
        Assert.Equal("disk full", response.Fault.Message);
        Assert.Contains("InvalidOperationException: disk full", remote.Details!["stackTrace"], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DispatchRequestAsync_HandlerException_PassesAsItIs(bool detailed)
    {
        var details = new Dictionary<string, string> { ["retryAfter"] = "60" };
        await using var server = CreateDispatcher(
            s => s.MapRequest<int, int>("locked", _ => throw new IpcHandlerException("ACCOUNT_LOCKED", "The account is locked.", details)),
            ipc: b => b.Services.Configure<IpcOptions>(o => o.EnableDetailedErrors = detailed));

        var response = await server.Inner.DispatchRequestAsync(Message("locked", 1), CancellationToken.None);

        var remote = response.Fault!.Remote!;
        Assert.Equal("ACCOUNT_LOCKED", remote.Code);
        Assert.Equal("The account is locked.", remote.Message);
        Assert.Equal("60", remote.Details!["retryAfter"]);
        Assert.Equal(detailed, remote.Details.ContainsKey("stackTrace"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DispatchRequestAsync_UnknownRoute_ListsMappedRoutesOnlyWithDetailedErrors(bool detailed)
    {
        await using var server = CreateDispatcher(
            s => s.MapRequest<int, int>("add", v => v).MapRequest<int, int>("subtract", v => v),
            ipc: b => b.Services.Configure<IpcOptions>(o => o.EnableDetailedErrors = detailed));

        var response = await server.Inner.DispatchRequestAsync(Message("multiply", 1), CancellationToken.None);

        Assert.Equal(IpcErrorCode.NoHandler, response.Fault!.ErrorCode);
        Assert.Contains("'multiply'", response.Fault.Message, StringComparison.Ordinal);
        Assert.Equal(detailed, response.Fault.Message.Contains("add, subtract", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true, false, false)]
    [InlineData(false, true, true)]
    [InlineData(true, null, true)]
    public async Task DispatchRequestAsync_EndpointEnableDetailedErrors_OverridesGlobal(bool global, bool? endpoint, bool expectedDetailed)
    {
        await using var server = CreateDispatcher(
            s => s.MapRequest<int, int>("fail", _ => throw new InvalidOperationException("disk full")),
            ipc: b => b.Services.Configure<IpcOptions>(o => o.EnableDetailedErrors = global),
            endpoint: e => e.EnableDetailedErrors = endpoint);

        var response = await server.Inner.DispatchRequestAsync(Message("fail", 1), CancellationToken.None);

        Assert.Equal(expectedDetailed ? nameof(InvalidOperationException) : IpcRemoteError.UnhandledExceptionCode, response.Fault!.Remote!.Code);
    }
}
