namespace Ipc.Transports.Streams;

/// <summary>
/// A stream that can read what has arrived without waiting. A dedicated reader
/// (<see cref="DuplexConnection.CreateWithDedicatedReader"/>) spins with <see cref="ReadAvailable"/> before it blocks in
/// <see cref="Stream.Read(Span{byte})"/>, so the call that finds bytes also reads them: one call per read instead of a
/// probe and then a read. Implement it on a medium where looking and reading cost about the same, such as memory shared
/// with the peer.
/// </summary>
public interface INonBlockingStream
{
    /// <summary>What <see cref="ReadAvailable"/> returns when nothing has arrived yet: the reader spins on, or blocks once its spin is over.</summary>
    const int NothingYet = -1;

    /// <summary>What <see cref="ReadAvailable"/> returns when the blocking read would return at once without bytes it can give here (the peer closed, the stream failed or was disposed): that read then reports it.</summary>
    const int ReadNow = -2;

    /// <summary>Copies what has arrived into <paramref name="buffer"/> without waiting. Called by the connection's reader thread only, never at the same time as a read.</summary>
    /// <param name="buffer">Where to put the bytes; never empty.</param>
    /// <returns>The count of bytes read (0 at the end of the stream), <see cref="NothingYet"/> or <see cref="ReadNow"/>.</returns>
    int ReadAvailable(Span<byte> buffer);
}
