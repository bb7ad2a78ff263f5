namespace Ipc.Server;

/// <summary>
/// Remembers the ids of the last <c>capacity</c> messages a server received, so a retried delivery is recognised: a
/// one-way duplicate is dropped, a duplicate request gets the response of the first delivery (awaiting it if it is still
/// running) instead of running the handler again.
/// </summary>
/// <remarks>Thread-safe. Bounded: the oldest id is forgotten when a new one arrives and the window is full.</remarks>
internal sealed class DuplicateFilter
{
    private readonly int _capacity;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Queue<(string Id, long Sequence)> _order = new();
    private readonly object _gate = new();
    private long _sequence;

    public DuplicateFilter(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
    }

    /// <summary>Records a one-way message id; returns <see langword="true"/> when it was already in the window.</summary>
    public bool IsDuplicate(string messageId)
    {
        lock (_gate)
        {
            if (_entries.ContainsKey(messageId))
            {
                return true;
            }

            Add(messageId, response: null);
            return false;
        }
    }

    /// <summary>
    /// Forgets a one-way message whose handler failed or was cancelled, so its next delivery (a broker delivers it again)
    /// runs the handler instead of being dropped as handled.
    /// </summary>
    public void Forget(string messageId)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(messageId, out var entry) && entry.Response is null)
            {
                _entries.Remove(messageId);
            }
        }
    }

    /// <summary>
    /// Starts handling a request: returns <see langword="null"/> and the caller becomes the owner (it must call
    /// <see cref="Complete"/> or <see cref="Abandon"/>), or returns the response of the first delivery of the same id.
    /// </summary>
    public Task<IpcMessage>? Begin(string messageId, out TaskCompletionSource<IpcMessage>? owner)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(messageId, out var existing) && existing.Response is { } first)
            {
                owner = null;
                return first.Task;
            }

            owner = new TaskCompletionSource<IpcMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (existing is not null)
            {
                _entries.Remove(messageId); // seen as one-way before: start over as a request
            }

            Add(messageId, owner);
            return null;
        }
    }

    /// <summary>Records the response of a request this caller owns, for later duplicates.</summary>
    public static void Complete(TaskCompletionSource<IpcMessage> owner, IpcMessage response) => owner.TrySetResult(response);

    /// <summary>Forgets a request whose handling was cancelled, so a retry runs the handler; waiting duplicates try again.</summary>
    public void Abandon(string messageId, TaskCompletionSource<IpcMessage> owner)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(messageId, out var entry) && ReferenceEquals(entry.Response, owner))
            {
                _entries.Remove(messageId);
            }
        }

        owner.TrySetCanceled();
    }

    private void Add(string messageId, TaskCompletionSource<IpcMessage>? response)
    {
        var sequence = ++_sequence;
        _entries[messageId] = new Entry(response, sequence);
        _order.Enqueue((messageId, sequence));
        while (_entries.Count > _capacity && _order.TryDequeue(out var oldest))
        {
            // An id removed and added again has a newer sequence; only its latest entry counts.
            if (_entries.TryGetValue(oldest.Id, out var entry) && entry.Sequence == oldest.Sequence)
            {
                _entries.Remove(oldest.Id);
            }
        }

        // Keep the queue bounded too when ids are abandoned and re-added.
        while (_order.Count > 2 * _capacity && _order.TryDequeue(out var stale))
        {
            if (_entries.TryGetValue(stale.Id, out var entry) && entry.Sequence == stale.Sequence)
            {
                _entries.Remove(stale.Id);
            }
        }
    }

    private sealed record Entry(TaskCompletionSource<IpcMessage>? Response, long Sequence);
}
