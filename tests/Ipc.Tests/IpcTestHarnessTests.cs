using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Tests;

public sealed class IpcTestHarnessTests
{
    [Fact]
    public async Task Harness_RecordsSentAndHandled()
    {
        #region harness
        await using var harness = await IpcTestHarness.StartAsync(ipc => ipc.AddServer("calculator", s => s
            .MapRequest<Add, int>("add", a => a.A + a.B)
            .MapMessage<string>("log", (_, _, _) => default)));

        var sum = await harness.GetRequestClient("calculator").RequestAsync<Add, int>("add", new Add(2, 3));
        await harness.GetChannel("calculator").SendAsync("log", "hello");
        await harness.WaitForHandledAsync("calculator", "log", 1, TestSupport.Bound);

        Assert.Equal(5, sum);
        Assert.Equal(["add", "log"], harness.Sent.Select(m => m.Message.Route));
        Assert.Equal(new Add(2, 3), Assert.Single(harness.Handled<Add>("calculator", "add")));
        Assert.Equal("hello", Assert.Single(harness.Handled<string>("calculator", "log")));
        Assert.Equal(RecordedKind.OneWay, harness.Received.Last().Kind);
        #endregion
    }

    [Fact]
    public async Task WaitForHandledAsync_NotEnough_ThrowsTimeoutSayingHowMany()
    {
        await using var harness = await IpcTestHarness.StartAsync(ipc => ipc.AddServer("calculator", s => s.MapMessage<string>("log", (_, _, _) => default)));

        var ex = await Assert.ThrowsAsync<TimeoutException>(() => harness.WaitForHandledAsync("calculator", "log", 1, TimeSpan.FromMilliseconds(50)));

        Assert.Contains("handled 0 of the 1", ex.Message, StringComparison.Ordinal);
    }
}
