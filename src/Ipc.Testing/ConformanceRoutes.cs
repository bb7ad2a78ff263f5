using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Ipc.Testing;

/// <summary>The routes of the conformance server.</summary>
public static class ConformanceRoutes
{
    /// <summary>Adds two numbers.</summary>
    public const string Add = "add";

    /// <summary>Returns the payload it got.</summary>
    public const string Echo = "echo";

    /// <summary>Raw: returns the body reversed, byte for byte.</summary>
    public const string Raw = "raw";

    /// <summary>Raw: returns the request's own body as its response, the same memory rather than a copy.</summary>
    public const string RawEcho = "raw-echo";

    /// <summary>
    /// Raw: reports its start (<see cref="ConformanceProbe.RawHeldStarted"/>), then ignores its token and waits for
    /// <see cref="ConformanceProbe.ReleaseRawHeld"/>; then reports a copy of its request body as it reads it then
    /// (<see cref="ConformanceProbe.RawHeldBody"/>) and returns the body.
    /// </summary>
    public const string RawHeld = "raw-held";

    /// <summary>Returns what the handler saw of the call (headers, ids, trace, time left, peer) and sets a response header.</summary>
    public const string Inspect = "inspect";

    /// <summary>Throws <see cref="InvalidOperationException"/> with a message.</summary>
    public const string Fail = "fail";

    /// <summary>Throws <see cref="IpcHandlerException"/> with code <c>ACCOUNT_LOCKED</c> and details.</summary>
    public const string FailWithCode = "fail-with-code";

    /// <summary>Blocks until its token is cancelled.</summary>
    public const string Block = "block";

    /// <summary>Blocks its thread (no <see langword="await"/>) until a <see cref="Unblock"/> call; returns whether that came within a minute.</summary>
    public const string BlockThread = "block-thread";

    /// <summary>Lets a handler blocked in <see cref="BlockThread"/> go on.</summary>
    public const string Unblock = "unblock";

    /// <summary>One-way: records the number it got.</summary>
    public const string Numbers = "numbers";

    /// <summary>One-way: records the number it got, after yielding its thread first for every third number, so that some handlers finish at once and some later.</summary>
    public const string NumbersSometimesLater = "numbers-sometimes-later";

    /// <summary>One-way: records the headers of the first message it gets (<see cref="ConformanceProbe.MessageHeaders"/>).</summary>
    public const string Headers = "headers";

    /// <summary>
    /// One-way: reports that it started (<see cref="ConformanceProbe.HeldStarted"/>), waits for the probe's
    /// <see cref="ConformanceProbe.ReleaseHeld"/>, then records the number in the payload's first four bytes.
    /// </summary>
    public const string Held = "held";

    /// <summary>
    /// One-way: reports that it started (<see cref="ConformanceProbe.HandlerStarted"/>), then waits until its token is
    /// cancelled and reports that (<see cref="ConformanceProbe.HandlerCancelled"/>).
    /// </summary>
    public const string BlockMessage = "block-message";

    /// <summary>A subscription to the published topic of that name (<see cref="MapConformanceSubscription"/>): completes the probe's <see cref="ConformanceProbe.Published"/> and records the number.</summary>
    public const string Topic = "topic";

    /// <summary>Stream: yields 0 .. Count-1, or without end for a negative count.</summary>
    public const string Range = "range";

    /// <summary>
    /// Stream: yields the number it was sent, reports that it holds the next item
    /// (<see cref="ConformanceProbe.HeldStreamHolding"/>), then ignores its token and waits for
    /// <see cref="ConformanceProbe.ReleaseHeldStream"/>; then yields the number plus one.
    /// </summary>
    public const string HeldStream = "held-stream";

    /// <summary>The header the <see cref="Inspect"/> route sets on its response.</summary>
    public const string ResponseHeader = "x-conformance-reply";

    /// <summary>Maps every conformance route onto <paramref name="server"/>, reporting to <paramref name="probe"/>.</summary>
    public static IpcServerBuilder MapConformanceRoutes(this IpcServerBuilder server, ConformanceProbe probe)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(probe);
        return server
            .MapRequest<AddRequest, AddResponse>(Add, r => new AddResponse(r.A + r.B))
            .MapRequest<Payload, Payload>(Echo, p => p)
            .MapRaw(Raw, (message, _, _) =>
            {
                var reversed = message.Body.ToArray();
                Array.Reverse(reversed);
                return new ValueTask<ReadOnlyMemory<byte>>(reversed);
            })
            .MapRaw(RawEcho, static (message, _, _) => new ValueTask<ReadOnlyMemory<byte>>(message.Body))
            .MapRaw(RawHeld, async (message, _, _) =>
            {
                probe.RawHeldStarted.TrySetResult();
                await probe.ReleaseRawHeld.Task.ConfigureAwait(false);
                probe.RawHeldBody.TrySetResult(message.Body.ToArray());
                return message.Body;
            })
            .MapRequest<string, CallInfo>(Inspect, (_, context, _) =>
            {
                context.ResponseHeaders[ResponseHeader] = "réponse ✓";
                var activity = Activity.Current;
                return new ValueTask<CallInfo>(new CallInfo(
                    new Dictionary<string, string>(context.Headers, StringComparer.OrdinalIgnoreCase),
                    context.MessageId,
                    context.CorrelationId,
                    activity?.TraceId.ToHexString(),
                    activity?.ParentSpanId.ToHexString(),
                    context.Message.Timeout)
                {
                    RemoteAddress = context.RemoteAddress,
                });
            })
            .MapRequest<string, string>(Fail, text => throw new InvalidOperationException("boom: " + text))
            #region handler-exception
            .MapRequest<string, string>(FailWithCode, _ => throw new IpcHandlerException(
                "ACCOUNT_LOCKED",
                "The account is locked.",
                new Dictionary<string, string> { ["retryAfter"] = "60" }))
            #endregion
            .MapRequest<string, string>(Block, async (_, _, ct) =>
            {
                await BlockUntilCancelledAsync(probe, ct).ConfigureAwait(false);
                return "unreachable";
            })
            .MapRequest<string, bool>(BlockThread, _ =>
            {
                probe.ThreadBlocked.TrySetResult();
                return probe.Unblocked.Wait(TimeSpan.FromMinutes(1)); // longer than any test waits: a stalled connection fails the test first
            })
            .MapRequest<string, string>(Unblock, text =>
            {
                probe.Unblocked.Set();
                return text;
            })
            .MapMessage<Numbered>(Numbers, (n, _, _) =>
            {
                probe.Received(n.Value);
                return default;
            })
            .MapMessage<Numbered>(NumbersSometimesLater, async (n, _, _) =>
            {
                if (n.Value % 3 == 0)
                {
                    await Task.Yield();
                }

                probe.Received(n.Value);
            })
            .MapMessage<Numbered>(Headers, (_, context, _) =>
            {
                probe.MessageHeaders.TrySetResult(new Dictionary<string, string>(context.Headers, StringComparer.Ordinal));
                return default;
            })
            .MapMessage<Payload>(Held, async (p, _, ct) =>
            {
                probe.HeldStarted.TrySetResult();
                await probe.ReleaseHeld.Task.WaitAsync(ct).ConfigureAwait(false);
                probe.Received(BitConverter.ToInt32(p.Data));
            })
            .MapMessage<Numbered>(BlockMessage, (_, _, ct) => new ValueTask(BlockUntilCancelledAsync(probe, ct)))
            .MapStream<RangeRequest, int>(Range, (r, _, ct) => Produce(r.Count, probe, ct))
            .MapStream<int, int>(HeldStream, (first, _, _) => Hold(first, probe));
    }

    /// <summary>
    /// Subscribes <paramref name="server"/> to the <see cref="Topic"/> topic, reporting to <paramref name="probe"/>. Only for
    /// transports with <see cref="TransportCapabilities.PublishSubscribe"/>: on others a server that subscribes fails at start.
    /// </summary>
    public static IpcServerBuilder MapConformanceSubscription(this IpcServerBuilder server, ConformanceProbe probe)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(probe);
        return server.MapSubscription<Numbered>(Topic, (n, context, _) =>
        {
            probe.MessageHeaders.TrySetResult(new Dictionary<string, string>(context.Headers, StringComparer.Ordinal));
            probe.Published.TrySetResult(n);
            probe.Received(n.Value);
            return default;
        });
    }

    /// <summary>A handler that runs until its token is cancelled, telling the probe when it started and when it was cancelled.</summary>
    private static async Task BlockUntilCancelledAsync(ConformanceProbe probe, CancellationToken cancellationToken)
    {
        probe.HandlerStarted.TrySetResult();
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            probe.HandlerCancelled.TrySetResult();
            throw;
        }
    }

    private static async IAsyncEnumerable<int> Hold(int first, ConformanceProbe probe)
    {
        yield return first;
        probe.HeldStreamHolding.TrySetResult();
        await probe.ReleaseHeldStream.Task.ConfigureAwait(false);
        yield return first + 1;
    }

    private static async IAsyncEnumerable<int> Produce(int count, ConformanceProbe probe, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            for (var i = 0; count < 0 || i < count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return i;
                if (count < 0)
                {
                    await Task.Yield();
                }
            }
        }
        finally
        {
            probe.ProducerStopped.TrySetResult();
        }
    }
}
