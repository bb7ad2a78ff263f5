namespace Ipc.Transports;

/// <summary>
/// What became of a one-way or published message handed to <see cref="IIpcDispatcher.DispatchOneWayAsync"/>: handled,
/// or not, with the <see cref="Fault"/> that says why.
/// </summary>
/// <remarks>
/// A transport that can acknowledge (a broker) acknowledges a message whose outcome <see cref="Succeeded"/>, and
/// requeues or dead-letters one that failed: <see cref="IpcErrorCode.RemoteError"/> is the handler's own failure, which
/// another delivery may get past; <see cref="IpcErrorCode.NoHandler"/>, <see cref="IpcErrorCode.Serialization"/> and
/// <see cref="IpcErrorCode.MessageTooLarge"/> fail every delivery alike; <see cref="IpcErrorCode.Timeout"/> says the
/// message's deadline had passed. A transport without acknowledgements has nothing to do: the dispatcher has logged the
/// failure already. A duplicate dropped by the duplicate filter counts as handled (its first delivery was).
/// </remarks>
public readonly struct IpcOneWayOutcome : IEquatable<IpcOneWayOutcome>
{
    private IpcOneWayOutcome(IpcFault fault) => Fault = fault;

    /// <summary>Gets the outcome of a message its handler handled.</summary>
    public static IpcOneWayOutcome Success => default;

    /// <summary>Gets why the message was not handled; <see langword="null"/> when it was.</summary>
    public IpcFault? Fault { get; }

    /// <summary>Gets a value indicating whether the handler handled the message.</summary>
    public bool Succeeded => Fault is null;

    /// <summary>Creates the outcome of a message that was not handled.</summary>
    /// <param name="fault">Why it was not.</param>
    public static IpcOneWayOutcome Failure(IpcFault fault)
    {
        ArgumentNullException.ThrowIfNull(fault);
        return new IpcOneWayOutcome(fault);
    }

    /// <summary>Compares two outcomes.</summary>
    public static bool operator ==(IpcOneWayOutcome left, IpcOneWayOutcome right) => left.Equals(right);

    /// <summary>Compares two outcomes.</summary>
    public static bool operator !=(IpcOneWayOutcome left, IpcOneWayOutcome right) => !left.Equals(right);

    /// <inheritdoc />
    public bool Equals(IpcOneWayOutcome other) => Equals(Fault, other.Fault);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is IpcOneWayOutcome other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => Fault?.GetHashCode() ?? 0;

    /// <inheritdoc />
    public override string ToString() => Fault is { } fault ? $"Failed: {fault.ErrorCode}: {fault.Message}" : "Succeeded";
}
