using Ipc.Testing;
using Ipc.Tests.Resilience;
using NSubstitute;

namespace Ipc.Tests;

/// <summary>A decorator that overrides the raw methods sees every call, typed ones too.</summary>
public sealed class DelegatingChannelTests
{
    [Fact]
    public async Task SendAsync_Typed_GoesThroughOverriddenRawMethodWithCallOptions()
    {
        await using var endpoint = ScriptedEndpoint.Create();
        var channel = new StampingChannel(endpoint.Channel);
        var options = new IpcCallOptions { Idempotent = true, Headers = new Dictionary<string, string> { ["tenant"] = "a" } };

        await channel.SendAsync("note", 7, options).AsTask().WaitAsync(TestSupport.Bound);

        var seen = Assert.Single(channel.Seen);
        Assert.Equal("note", seen.Route);
        Assert.Same(options, seen.CallOptions);
        Assert.Equal("a", seen.Headers["tenant"]);
        var sent = Assert.Single(endpoint.Transport.Attempts);
        Assert.Equal(RecordedKind.OneWay, sent.Kind);
        Assert.Equal(seen.MessageId, sent.Message.MessageId);
        Assert.Equal("yes", sent.Message.Headers["stamped"]);
    }

    [Fact]
    public async Task PublishAndSendBatch_Typed_GoThroughOverriddenRawMethods()
    {
        await using var endpoint = ScriptedEndpoint.Create();
        var channel = new StampingChannel(endpoint.Channel);

        await channel.PublishAsync("topic", 1).AsTask().WaitAsync(TestSupport.Bound);
        await channel.SendBatchAsync("note", [2, 3]).AsTask().WaitAsync(TestSupport.Bound);

        Assert.Equal(["topic", "note", "note"], channel.Seen.Select(m => m.Route));
        Assert.Equal([RecordedKind.Publish, RecordedKind.OneWay, RecordedKind.OneWay], endpoint.Transport.Attempts.Select(a => a.Kind));
        Assert.All(endpoint.Transport.Attempts, a => Assert.Equal("yes", a.Message.Headers["stamped"]));
    }

    [Fact]
    public async Task SendAsync_InnerChannelWithoutSerializer_CallsInnerTypedMethod()
    {
        var inner = Substitute.For<IChannel>();
        var channel = new StampingChannel(inner);

        await channel.SendAsync("note", 7);

        await inner.Received(1).SendAsync("note", 7, null, default);
        Assert.Empty(channel.Seen);
    }

    private sealed class StampingChannel(IChannel inner) : DelegatingChannel(inner)
    {
        private readonly List<IpcMessage> _seen = [];

        public IReadOnlyList<IpcMessage> Seen
        {
            get
            {
                lock (_seen)
                {
                    return [.. _seen];
                }
            }
        }

        public override ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken = default) => base.SendAsync(Stamp(message), cancellationToken);

        public override ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken = default) => base.PublishAsync(Stamp(message), cancellationToken);

        public override ValueTask SendBatchAsync(IReadOnlyList<IpcMessage> messages, CancellationToken cancellationToken = default) =>
            base.SendBatchAsync([.. messages.Select(Stamp)], cancellationToken);

        private IpcMessage Stamp(IpcMessage message)
        {
            lock (_seen)
            {
                _seen.Add(message);
            }

            message.Headers["stamped"] = "yes";
            return message;
        }
    }
}
