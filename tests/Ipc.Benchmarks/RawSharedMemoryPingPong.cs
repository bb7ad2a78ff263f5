using System.Diagnostics;
using System.IO.MemoryMappedFiles;

namespace Ipc.Benchmarks;

/// <summary>
/// The hand-written baseline of <c>shm://</c>: the least a request/response between two processes through shared memory
/// can be. One mapped file holds a request slot and a response slot, each a sequence number on a cache line of its own
/// and 64 bytes of payload on the next; the client copies its 64 bytes in and bumps the request's number, the server
/// (another process) spins until it sees the number change, copies the bytes to the response slot and bumps the
/// response's number, for which the client spins in turn. No framing, no dispatch, no waiting without a processor: what
/// is left is the cost of moving the cache lines between the processors, which every shared-memory transport pays.
/// </summary>
internal static unsafe class RawSharedMemoryPingPong
{
    private const int Size = 4096;
    private const int RequestSequence = 0;
    private const int RequestPayload = 64;
    private const int ResponseSequence = 128;
    private const int ResponsePayload = 192;
    private const int PayloadLength = 64;

    /// <summary>The server process: <c>serve-raw-shm &lt;file&gt;</c>; prints "ready", answers until its standard input closes.</summary>
    public static void Serve(string path)
    {
        using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, Size, MemoryMappedFileAccess.ReadWrite);
        using var view = file.CreateViewAccessor(0, Size);
        var handle = view.SafeMemoryMappedViewHandle;
        byte* memory = null;
        handle.AcquirePointer(ref memory);
        try
        {
            var stop = 0;
            var watcher = new Thread(() =>
            {
                Console.In.ReadToEnd();
                Volatile.Write(ref stop, 1);
            }) { IsBackground = true };
            watcher.Start();
            Console.WriteLine("ready");

            var request = (long*)(memory + RequestSequence);
            var response = (long*)(memory + ResponseSequence);
            var answered = Volatile.Read(ref *request);
            while (Volatile.Read(ref stop) == 0)
            {
                var sequence = Volatile.Read(ref *request);
                if (sequence == answered)
                {
                    Thread.SpinWait(1);
                    continue;
                }

                new ReadOnlySpan<byte>(memory + RequestPayload, PayloadLength).CopyTo(new Span<byte>(memory + ResponsePayload, PayloadLength));
                Volatile.Write(ref *response, sequence);
                answered = sequence;
            }
        }
        finally
        {
            handle.ReleasePointer();
        }
    }

    /// <summary>Times request/response round trips for <paramref name="duration"/> after a warm-up of two seconds: the mean and the median, in seconds, and the share of calls over 10 us.</summary>
    public static (double Mean, double Median, double Slow) Measure(TimeSpan duration)
    {
        var path = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"ipc-bench-raw-{Environment.ProcessId}");
        try
        {
            using (var create = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite))
            {
                create.SetLength(Size);
            }

            using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, Size, MemoryMappedFileAccess.ReadWrite);
            using var view = file.CreateViewAccessor(0, Size);
            var handle = view.SafeMemoryMappedViewHandle;
            byte* memory = null;
            handle.AcquirePointer(ref memory);
            using var server = CrossProcessBenchmarks.StartSelf(["serve-raw-shm", path]);
            try
            {
                var payload = new byte[PayloadLength];
                new Random(64).NextBytes(payload);
                var answer = new byte[PayloadLength];
                var sequence = 0L;
                void Call()
                {
                    payload.CopyTo(new Span<byte>(memory + RequestPayload, PayloadLength));
                    Volatile.Write(ref *(long*)(memory + RequestSequence), ++sequence);
                    while (Volatile.Read(ref *(long*)(memory + ResponseSequence)) != sequence)
                    {
                        Thread.SpinWait(1);
                    }

                    new ReadOnlySpan<byte>(memory + ResponsePayload, PayloadLength).CopyTo(answer);
                }

                var warm = Stopwatch.StartNew();
                while (warm.Elapsed < TimeSpan.FromSeconds(2))
                {
                    Call();
                }

                var count = 0L;
                var watch = Stopwatch.StartNew();
                while (watch.Elapsed < duration)
                {
                    Call();
                    count++;
                }

                var mean = watch.Elapsed.TotalSeconds / count;
                var latencies = new List<long>(1 << 22);
                watch.Restart();
                while (watch.Elapsed < duration)
                {
                    var start = Stopwatch.GetTimestamp();
                    Call();
                    latencies.Add(Stopwatch.GetTimestamp() - start);
                }

                if (!answer.AsSpan().SequenceEqual(payload))
                {
                    throw new InvalidOperationException("The raw shared-memory server answered other bytes than it was sent.");
                }

                latencies.Sort();
                var slowTicks = Stopwatch.Frequency / 100_000; // 10 us
                var firstSlow = latencies.FindIndex(ticks => ticks > slowTicks);
                var slow = firstSlow < 0 ? 0 : latencies.Count - firstSlow;
                return (mean, (double)latencies[latencies.Count / 2] / Stopwatch.Frequency, (double)slow / latencies.Count);
            }
            finally
            {
                server.StandardInput.Close();
                server.WaitForExit();
                handle.ReleasePointer();
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
