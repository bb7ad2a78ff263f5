using System.Runtime.CompilerServices;
using Ipc.Transports;

namespace Ipc.Testing;

/// <summary>
/// A transport for tests that fails on demand (<c>scripted://name</c>): each call takes the next step of the script
/// (fail with a code, hang until cancelled) or, when the script is empty, answers with the responder. Every call that
/// reaches it is recorded, so a test can count attempts and check what was sent.
/// </summary>
/// <example>
/// <code>
/// var transport = new ScriptedTransport().FailNext(IpcErrorCode.Unavailable, times: 2);
/// services.AddIpc().AddScriptedTransport(transport).AddEndpoint("calculator", "scripted://calculator");
/// // ... a call succeeds on its third attempt:
/// Assert.Equal(3, transport.Attempts.Count);
/// </code>
/// </example>
/// <remarks>Thread-safe. Requests are answered with the request's own body unless <see cref="RespondWith"/> says otherwise; a stream yields that one response.</remarks>
public sealed class ScriptedTransport : IIpcTransport
{
    /// <summary>The address scheme, <c>scripted</c>.</summary>
    public const string Scheme = "scripted";

    /// <summary>What the transport reports by default: request/response, one-way, streams and publish/subscribe, on one machine.</summary>
    public const TransportCapabilities DefaultCapabilities =
        TransportCapabilities.RequestResponse | TransportCapabilities.OneWay | TransportCapabilities.Streaming | TransportCapabilities.PublishSubscribe;

    private static readonly string[] s_schemes = [Scheme];

    private readonly Queue<Step> _steps = new();
    private readonly List<RecordedMessage> _attempts = [];
    private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];
    private readonly object _gate = new();
    private readonly TransportCapabilities _capabilities;
    private Func<IpcMessage, IpcMessage> _responder = static request => IpcMessage.CreateResponse(request, request.Body);

    /// <summary>Creates the transport.</summary>
    /// <param name="capabilities">What it reports; add <see cref="TransportCapabilities.CrossMachine"/> or <see cref="TransportCapabilities.Durable"/> to get the network or broker resilience defaults.</param>
    public ScriptedTransport(TransportCapabilities capabilities = DefaultCapabilities)
    {
        _capabilities = capabilities;
    }

    /// <inheritdoc />
    public string Name => "Scripted";

    /// <inheritdoc />
    public IReadOnlyList<string> Schemes => s_schemes;

    /// <summary>Gets every call that reached the transport, in order, retries included.</summary>
    public IReadOnlyList<RecordedMessage> Attempts
    {
        get
        {
            lock (_gate)
            {
                return [.. _attempts];
            }
        }
    }

    /// <summary>Makes the next <paramref name="times"/> calls fail with <paramref name="errorCode"/>.</summary>
    /// <param name="errorCode">The code of the <see cref="IpcException"/> to raise.</param>
    /// <param name="times">How many calls fail.</param>
    /// <param name="notAccepted">Whether the failure says the message was not accepted (<see cref="IpcException.NotAccepted"/>).</param>
    public ScriptedTransport FailNext(IpcErrorCode errorCode, int times = 1, bool notAccepted = false) =>
        Enqueue(new Step(errorCode, notAccepted, Hang: false), times);

    /// <summary>Makes the next <paramref name="times"/> calls wait until they are cancelled (by a timeout or the caller).</summary>
    public ScriptedTransport HangNext(int times = 1) => Enqueue(new Step(IpcErrorCode.Unknown, NotAccepted: false, Hang: true), times);

    /// <summary>Lets the next <paramref name="times"/> calls succeed, so that a step queued after them hits a later call (a later message of a batch).</summary>
    public ScriptedTransport PassNext(int times = 1) => Enqueue(new Step(IpcErrorCode.Unknown, NotAccepted: false, Hang: false, Pass: true), times);

    /// <summary>Sets how requests (and the single item of a stream) are answered once the script is used up.</summary>
    public ScriptedTransport RespondWith(Func<IpcMessage, IpcMessage> responder)
    {
        ArgumentNullException.ThrowIfNull(responder);
        _responder = responder;
        return this;
    }

    /// <summary>Waits until <paramref name="count"/> calls have reached the transport.</summary>
    /// <exception cref="TimeoutException">When they have not within <paramref name="timeout"/>.</exception>
    public async Task WaitForAttemptsAsync(int count, TimeSpan timeout)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_attempts.Count >= count)
            {
                return;
            }

            _waiters.Add((count, done));
        }

        try
        {
            await done.Task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The scripted transport saw {Attempts.Count} of the {count} calls expected within {timeout}.");
        }
    }

    /// <inheritdoc />
    public TransportCapabilities GetCapabilities(Uri address) => _capabilities;

    /// <inheritdoc />
    public string? ValidateAddress(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return string.IsNullOrEmpty(address.Host) ? "name the endpoint after //, for example scripted://calculator." : null;
    }

    /// <inheritdoc />
    public IIpcTransportClient CreateClient(IpcTransportContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new Client(this, context.EndpointName);
    }

    /// <inheritdoc />
    public IIpcTransportListener CreateListener(IpcTransportContext context) =>
        throw new NotSupportedException("The scripted transport has no server side: its script answers the calls.");

    private ScriptedTransport Enqueue(Step step, int times)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(times, 1);
        lock (_gate)
        {
            for (var i = 0; i < times; i++)
            {
                _steps.Enqueue(step);
            }
        }

        return this;
    }

    /// <summary>Records an attempt and runs its step: throws, hangs, or returns normally.</summary>
    private async ValueTask RunStepAsync(string endpoint, RecordedKind kind, IpcMessage message, CancellationToken cancellationToken)
    {
        Step? step;
        lock (_gate)
        {
            _attempts.Add(new RecordedMessage(endpoint, kind, message));
            _waiters.RemoveAll(w => _attempts.Count >= w.Count && w.Done.TrySetResult());
            _steps.TryDequeue(out step);
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (step is null || step.Pass)
        {
            return;
        }

        if (step.Hang)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }

        throw new IpcException(step.ErrorCode, $"Scripted failure ({step.ErrorCode}) of endpoint '{endpoint}'.") { Endpoint = endpoint, NotAccepted = step.NotAccepted };
    }

    private sealed record Step(IpcErrorCode ErrorCode, bool NotAccepted, bool Hang, bool Pass = false);

    private sealed class Client(ScriptedTransport transport, string endpoint) : IIpcTransportClient
    {
        public async ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken)
        {
            await transport.RunStepAsync(endpoint, RecordedKind.Request, request, cancellationToken).ConfigureAwait(false);
            return transport._responder(request);
        }

        public ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken) =>
            transport.RunStepAsync(endpoint, RecordedKind.OneWay, message, cancellationToken);

        public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken) =>
            transport.RunStepAsync(endpoint, RecordedKind.Publish, message, cancellationToken);

        public async IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await transport.RunStepAsync(endpoint, RecordedKind.Stream, request, cancellationToken).ConfigureAwait(false);
            yield return transport._responder(request);
        }

        public ValueTask DisposeAsync() => default;
    }
}
