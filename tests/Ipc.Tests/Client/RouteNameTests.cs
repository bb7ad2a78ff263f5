using Ipc.Tests.Resilience;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Tests.Client;

/// <summary>
/// Route names with a <c>.</c> or <c>..</c> segment, or an empty one (a leading or trailing <c>/</c>, <c>//</c>): URLs
/// resolve the first away and proxies merge the slashes of the second (over HTTP the call would go to another path), so
/// no server maps one, and a client refuses to call one, unsent, whatever the transport.
/// </summary>
public sealed class RouteNameTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    private static readonly string[] s_dotted = [".", "..", "a/../b", "../b", "a/..", "./b", "a/./b", "a/."];

    private static readonly string[] s_undotted = ["v1.0/add", "...", ".hidden", "a..b", "orders.created", "a./.b", "a/b/c", "a\\b"];

    private static readonly string[] s_emptySegment = ["/", "//", "/a", "a/", "a//b", "/a/b", "a/b/", "a/b//"];

    [Fact]
    public void Map_RouteWithDotSegment_ThrowsNamingTheRouteAndTheRule()
    {
        foreach (var route in s_dotted)
        {
            var services = new ServiceCollection();

            var ex = Assert.Throws<ArgumentException>(() => services.AddIpc().AddServer("calc", s => s.MapRequest<int, int>(route, x => x)));

            Assert.Equal("route", ex.ParamName);
            Assert.Contains($"'{route}'", ex.Message, StringComparison.Ordinal);
            Assert.Contains("'.' or '..' segment", ex.Message, StringComparison.Ordinal);
        }

        var topics = new ServiceCollection();
        Assert.Throws<ArgumentException>(() => topics.AddIpc().AddServer("calc", s => s.MapSubscription<int>("events/..", (_, _, _) => default)));
    }

    [Fact]
    public void Map_RouteWithEmptySegment_ThrowsNamingTheRouteAndTheRule()
    {
        foreach (var route in s_emptySegment)
        {
            var services = new ServiceCollection();

            var ex = Assert.Throws<ArgumentException>(() => services.AddIpc().AddServer("calc", s => s.MapRequest<int, int>(route, x => x)));

            Assert.Equal("route", ex.ParamName);
            Assert.Contains($"'{route}'", ex.Message, StringComparison.Ordinal);
            Assert.Contains("empty segment", ex.Message, StringComparison.Ordinal);
        }

        var topics = new ServiceCollection();
        Assert.Throws<ArgumentException>(() => topics.AddIpc().AddServer("calc", s => s.MapSubscription<int>("events/", (_, _, _) => default)));
    }

    [Fact]
    public void Map_RouteWithDotsWithinItsSegments_IsMapped()
    {
        var services = new ServiceCollection();
        services.AddIpc().AddServer("calc", s =>
        {
            foreach (var route in s_undotted)
            {
                s.MapRequest<int, int>(route, x => x);
            }
        });
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EveryCall_RouteWithDotOrEmptySegment_ThrowsNoHandlerUnsent(bool empty)
    {
        await using var endpoint = ScriptedEndpoint.Create();
        var requests = endpoint.Client;
        var channel = endpoint.Channel;
        var rule = empty ? "empty segment" : "'.' or '..' segment";
        foreach (var route in empty ? s_emptySegment : s_dotted)
        {
            var calls = new (string Name, Func<Task> Call)[]
            {
                ("RequestAsync", () => requests.RequestAsync<string, string>(route, "x").AsTask()),
                ("RequestAsync(IpcMessage)", () => requests.RequestAsync(new IpcMessage(route, new byte[] { 1 })).AsTask()),
                ("StreamAsync", async () => await requests.StreamAsync<string, string>(route, "x").ToListAsync()),
                ("StreamAsync(IpcMessage)", async () => await requests.StreamAsync(new IpcMessage(route, new byte[] { 1 })).ToListAsync()),
                ("SendAsync", () => channel.SendAsync(route, "x").AsTask()),
                ("SendAsync(IpcMessage)", () => channel.SendAsync(new IpcMessage(route, new byte[] { 1 })).AsTask()),
                ("SendBatchAsync", () => channel.SendBatchAsync(route, ["x", "y"]).AsTask()),
                ("SendBatchAsync(IpcMessage)", () => channel.SendBatchAsync([new IpcMessage("fine", new byte[] { 1 }), new IpcMessage(route, new byte[] { 2 })]).AsTask()),
                ("PublishAsync", () => channel.PublishAsync(route, "x").AsTask()),
                ("PublishAsync(IpcMessage)", () => channel.PublishAsync(new IpcMessage(route, new byte[] { 1 })).AsTask()),
            };
            foreach (var (name, call) in calls)
            {
                var ex = await Assert.ThrowsAsync<IpcException>(() => call().WaitAsync(Bound));

                Assert.True(ex.ErrorCode == IpcErrorCode.NoHandler, $"{name}('{route}') failed with {ex.ErrorCode}: {ex.Message}");
                Assert.Contains($"'{route}'", ex.Message, StringComparison.Ordinal);
                Assert.Contains(rule, ex.Message, StringComparison.Ordinal);
                Assert.Equal(ScriptedEndpoint.Name, ex.Endpoint);
            }
        }

        Assert.Empty(endpoint.Transport.Attempts); // none was sent, not even the batch's first message
        foreach (var route in s_undotted)
        {
            Assert.Equal("x", await requests.RequestAsync<string, string>(route, "x").AsTask().WaitAsync(Bound));
        }
    }
}
