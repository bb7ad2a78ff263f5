using System.Collections.Concurrent;

namespace Ipc.Testing;

/// <summary>What the conformance server's handlers saw, as events a test waits on with a bounded timeout.</summary>
public sealed class ConformanceProbe
{
    private readonly ConcurrentQueue<int> _numbers = new();
    private int _expectedNumbers = int.MaxValue;

    /// <summary>Set when a blocking handler (<see cref="ConformanceRoutes.Block"/>, <see cref="ConformanceRoutes.BlockMessage"/>) has started.</summary>
    public TaskCompletionSource HandlerStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when a blocking handler's token was cancelled.</summary>
    public TaskCompletionSource HandlerCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when the endless stream producer stopped (its token was cancelled or it was disposed).</summary>
    public TaskCompletionSource ProducerStopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when <see cref="ExpectNumbers"/> messages have arrived.</summary>
    public TaskCompletionSource NumbersArrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when a <see cref="ConformanceRoutes.Held"/> handler has started.</summary>
    public TaskCompletionSource HeldStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set by a test to let the <see cref="ConformanceRoutes.Held"/> handler go on.</summary>
    public TaskCompletionSource ReleaseHeld { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when the <see cref="ConformanceRoutes.RawHeld"/> handler has started.</summary>
    public TaskCompletionSource RawHeldStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set by a test to let the <see cref="ConformanceRoutes.RawHeld"/> handler go on.</summary>
    public TaskCompletionSource ReleaseRawHeld { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set by the <see cref="ConformanceRoutes.RawHeld"/> handler once released: a copy of its request body as it read it then.</summary>
    public TaskCompletionSource<byte[]> RawHeldBody { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when the <see cref="ConformanceRoutes.HeldStream"/> producer has yielded its first item and holds the next.</summary>
    public TaskCompletionSource HeldStreamHolding { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set by a test to let the <see cref="ConformanceRoutes.HeldStream"/> producer go on.</summary>
    public TaskCompletionSource ReleaseHeldStream { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when the <see cref="ConformanceRoutes.BlockThread"/> handler has started blocking.</summary>
    public TaskCompletionSource ThreadBlocked { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set by the <see cref="ConformanceRoutes.Unblock"/> handler; the <see cref="ConformanceRoutes.BlockThread"/> handler waits for it.</summary>
    public ManualResetEventSlim Unblocked { get; } = new();

    /// <summary>Set with the headers of the first message to <see cref="ConformanceRoutes.Headers"/>, or of the first published message.</summary>
    public TaskCompletionSource<IReadOnlyDictionary<string, string>> MessageHeaders { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set with the first published message.</summary>
    public TaskCompletionSource<Numbered> Published { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Gets the numbers received on the one-way routes and the subscription, in arrival order.</summary>
    public IReadOnlyList<int> Numbers => [.. _numbers];

    /// <summary>Says how many numbered messages make <see cref="NumbersArrived"/> complete.</summary>
    public void ExpectNumbers(int count) => Volatile.Write(ref _expectedNumbers, count);

    internal void Received(int value)
    {
        _numbers.Enqueue(value);
        if (_numbers.Count >= Volatile.Read(ref _expectedNumbers))
        {
            NumbersArrived.TrySetResult();
        }
    }
}
