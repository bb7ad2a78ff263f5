namespace Ipc.Server;

/// <summary>
/// The deadline of one call on the server, from the remaining time its message carried (<see cref="IpcMessage.Timeout"/>):
/// a token cancelled when the deadline passes or when the transport cancels the call.
/// </summary>
internal sealed class CallDeadline : IDisposable
{
    /// <summary>Remaining times above this (about 24.8 days, the most the stream wire format carries) are no deadline.</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromMilliseconds(int.MaxValue);

    private readonly CancellationTokenSource _source;
    private readonly CancellationToken _transport;
    private readonly CancellationTokenRegistration _link;

    private CallDeadline(TimeSpan timeout, CancellationToken transport, TimeProvider time)
    {
        Timeout = timeout;
        _transport = transport;
        _source = new CancellationTokenSource(timeout, time);
        _link = transport.UnsafeRegister(static source => ((CancellationTokenSource)source!).Cancel(), _source);
    }

    /// <summary>Gets the time the call had left when it arrived.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Gets the token to hand to the handler.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Gets a value indicating whether the deadline passed (rather than the transport cancelling the call).</summary>
    public bool Passed => _source.IsCancellationRequested && !_transport.IsCancellationRequested;

    /// <summary>Starts the deadline of a message that has time left; <see langword="null"/> when it carries none (or more than <see cref="Longest"/>).</summary>
    public static CallDeadline? Start(IpcMessage message, CancellationToken transport, TimeProvider time) =>
        message.Timeout is { } timeout && timeout > TimeSpan.Zero && timeout <= Longest ? new CallDeadline(timeout, transport, time) : null;

    /// <summary>Gets a value indicating whether a message arrived with no time left.</summary>
    public static bool ArrivedExpired(IpcMessage message) => message.Timeout is { } timeout && timeout <= TimeSpan.Zero;

    public void Dispose()
    {
        _link.Dispose();
        _source.Dispose();
    }
}
