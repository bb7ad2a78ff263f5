using System.Diagnostics;
using System.IO.Pipes;
using System.Runtime.InteropServices;
using Ipc.Transports;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ipc.Pipes;

/// <summary>
/// Anonymous pipes between a parent and a worker process it starts: <c>worker://name</c>. In the parent, connecting starts
/// the worker (from <see cref="WorkerProcessOptions"/>) with two inherited pipe handles; in the worker, the listener takes
/// those handles and serves the one connection, and stops the worker's host when the parent goes away.
/// </summary>
/// <remarks>
/// Disposing it (with the parent's services) closes the pipes of every worker it started and waits until each has exited,
/// killing one still running after its <see cref="WorkerProcessOptions.ExitTimeout"/>: a parent that exits right after
/// disposing its services leaves no worker behind.
/// </remarks>
internal sealed partial class WorkerPipeTransport : StreamTransport, IAsyncDisposable, IDisposable
{
    public const string Scheme = "worker";

    private static readonly string[] s_schemes = [Scheme];

    /// <summary>Held by every worker start of the process from creating the worker's pipe ends until they are closed here.</summary>
    private static readonly object s_starting = new();

    /// <summary>The parent's side of each worker started and not yet exited; guarded by itself.</summary>
    private readonly HashSet<DuplexPipeStream> _workers = [];
    private bool _disposed;

    public override string Name => "WorkerPipes";

    public override IReadOnlyList<string> Schemes => s_schemes;

    public override string? ValidateAddress(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return string.IsNullOrEmpty(address.Host) ? "name the worker after //, for example worker://calculator."
            : !string.IsNullOrEmpty(address.UserInfo) ? "a worker:// address has no user name or password; remove the part before '@'."
            : null;
    }

    // One worker process per connection: the pool always has one connection.
    /// <summary>
    /// The connection settings of both sides: one connection, never closed for being idle. The connection is the worker's
    /// life (its host stops when the connection ends), so a worker the parent left idle for IdleTimeout would exit, and
    /// the next call start a new one with none of the old one's state.
    /// </summary>
    internal static StreamTransportOptions ConnectionOptions() => new() { ConnectionPoolSize = 1, IdleTimeout = Timeout.InfiniteTimeSpan };

    protected override StreamTransportOptions GetOptions(IpcTransportContext context) => ConnectionOptions();

    protected override ValueTask<Stream> ConnectAsync(IpcTransportContext context, CancellationToken cancellationToken)
    {
        var options = context.Services.GetRequiredService<IOptionsMonitor<WorkerProcessOptions>>().Get(context.EndpointName);
        if (string.IsNullOrEmpty(options.FileName))
        {
            throw new InvalidOperationException($"Endpoint '{context.EndpointName}' is a worker:// endpoint but names no program: set Ipc:Endpoints:{context.EndpointName}:Worker:FileName, or call AddWorkerProcess.");
        }

        var (process, toWorker, fromWorker) = StartWorker(options);
        DuplexPipeStream? worker = null;
        worker = new DuplexPipeStream(new WorkerOutput(fromWorker, process, options.FileName!), toWorker, async () =>
        {
            try
            {
                await StopWorkerAsync(process, options.ExitTimeout).ConfigureAwait(false);
            }
            finally
            {
                lock (_workers)
                {
                    _workers.Remove(worker!);
                }
            }
        });
        lock (_workers)
        {
            if (!_disposed)
            {
                _workers.Add(worker);
                return new ValueTask<Stream>(worker);
            }
        }

        return DisposedAsync(worker);
    }

    /// <summary>
    /// Starts the worker with the worker's ends of two new pipes, and closes those ends here; returns the process and
    /// the parent's ends.
    /// </summary>
    /// <remarks>
    /// The worker's ends must be inheritable, and every process started while they are open in this one inherits them:
    /// a worker that another endpoint started at the same instant would hold this worker's pipes open and hide its
    /// death from the parent. So they exist only inside a lock that every worker start of the process takes. The
    /// parent's own ends are never inherited (close-on-exec from their creation; not inheritable on Windows).
    /// </remarks>
    private static (Process Process, AnonymousPipeServerStream ToWorker, AnonymousPipeServerStream FromWorker) StartWorker(WorkerProcessOptions options)
    {
        var start = new ProcessStartInfo(options.FileName!) { UseShellExecute = false, WorkingDirectory = options.WorkingDirectory ?? string.Empty };
        foreach (var argument in options.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in options.Environment)
        {
            start.Environment[name] = value;
        }

        AnonymousPipeServerStream? toWorker = null;
        AnonymousPipeServerStream? fromWorker = null;
        lock (s_starting)
        {
            try
            {
                toWorker = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.Inheritable);
                fromWorker = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
                start.Environment[WorkerProcessOptions.PipesEnvironmentVariable] = $"{toWorker.GetClientHandleAsString()};{fromWorker.GetClientHandleAsString()}";
                var process = Process.Start(start) ?? throw new InvalidOperationException($"The worker '{options.FileName}' did not start.");
                toWorker.DisposeLocalCopyOfClientHandle();
                fromWorker.DisposeLocalCopyOfClientHandle();
                return (process, toWorker, fromWorker);
            }
            catch
            {
                toWorker?.Dispose();
                fromWorker?.Dispose();
                throw;
            }
        }
    }

    /// <summary>Closes the pipes of every worker still running and waits until each has exited (or was killed).</summary>
    public async ValueTask DisposeAsync()
    {
        DuplexPipeStream[] workers;
        lock (_workers)
        {
            _disposed = true;
            workers = [.. _workers];
        }

        await Task.WhenAll(workers.Select(worker => worker.DisposeAsync().AsTask())).ConfigureAwait(false);
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>A worker started while the parent's services were being disposed: stopped again at once.</summary>
    private static async ValueTask<Stream> DisposedAsync(DuplexPipeStream worker)
    {
        await worker.DisposeAsync().ConfigureAwait(false);
        throw new ObjectDisposedException(nameof(WorkerPipeTransport), "The parent's services were disposed.");
    }

    protected override StreamAcceptor CreateAcceptor(IpcTransportContext context) =>
        new Acceptor(context.Services.GetService<IHostApplicationLifetime>());

    private static async ValueTask StopWorkerAsync(Process process, TimeSpan exitTimeout)
    {
        using (process)
        {
            try
            {
                // The worker sees its pipe close and stops by itself; one that does not is killed.
                await process.WaitForExitAsync().WaitAsync(exitTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// In the parent: the pipe the worker writes. Where it ends because the worker exited with a code other than 0 (it
    /// failed to start, crashed, or was killed), the read fails saying so, and the calls pending on the connection, or the
    /// connect that started the worker, fail with that reason instead of a bare lost connection.
    /// </summary>
    private sealed class WorkerOutput(Stream pipe, Process process, string fileName) : Stream
    {
        /// <summary>How long a read that found the end waits for the worker's exit: the kernel closes its pipes as it exits.</summary>
        private static readonly TimeSpan s_exitWait = TimeSpan.FromSeconds(1);

        public override bool CanRead => true;

        public override bool CanWrite => false;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var read = pipe.Read(buffer);
            if (read == 0 && !buffer.IsEmpty && process.WaitForExit(s_exitWait))
            {
                ThrowIfFailed();
            }

            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await pipe.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0 && !buffer.IsEmpty)
            {
                try
                {
                    await process.WaitForExitAsync(cancellationToken).WaitAsync(s_exitWait, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    return 0; // the worker closed its pipe and still runs: the end of the connection, as it was
                }

                ThrowIfFailed();
            }

            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                pipe.Dispose();
            }

            base.Dispose(disposing);
        }

        private void ThrowIfFailed()
        {
            int code;
            try
            {
                code = process.ExitCode;
            }
            catch (InvalidOperationException)
            {
                return; // the connection was closed meanwhile, and the process let go: the end, as it was
            }

            if (code != 0)
            {
                throw new IOException(string.Create(
                    System.Globalization.CultureInfo.InvariantCulture,
                    $"the worker process {process.Id} ('{fileName}') exited with code {code}; if it exited as it started, check its Worker:FileName and Arguments, and what it wrote to its standard error (this process's)"));
            }
        }
    }

    /// <summary>In the worker: the one connection is the pair of pipes inherited from the parent.</summary>
    private sealed class Acceptor(IHostApplicationLifetime? lifetime) : StreamAcceptor
    {
        private readonly CancellationTokenSource _stopped = new();
        private Stream? _parent;

        public override ValueTask StartAsync(CancellationToken cancellationToken)
        {
            var handles = System.Environment.GetEnvironmentVariable(WorkerProcessOptions.PipesEnvironmentVariable)?.Split(';');
            if (handles is not { Length: 2 })
            {
                throw new InvalidOperationException(
                    $"This process serves a worker:// endpoint but was not started by an Ipc parent: {WorkerProcessOptions.PipesEnvironmentVariable} is not set. Start it with AddWorkerProcess in the parent.");
            }

            var fromParent = new AnonymousPipeClientStream(PipeDirection.In, handles[0]);
            var toParent = new AnonymousPipeClientStream(PipeDirection.Out, handles[1]);

            // The handles came inherited, so processes this worker starts would inherit them in turn: one that outlives
            // the worker would hold its pipe to the parent open, and the parent would never see the worker die.
            NotInherited(fromParent.SafePipeHandle);
            NotInherited(toParent.SafePipeHandle);
            _parent = new DuplexPipeStream(fromParent, toParent, ParentGone);
            return default;
        }

        /// <summary>The one peer is the parent process that started this worker: <c>pid=…</c> outside Windows, else <c>parent</c>.</summary>
        public override string? GetRemoteAddress(Stream stream) =>
            OperatingSystem.IsWindows() ? "parent" : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"pid={NativeMethods.getppid()}");

        public override async ValueTask<Stream> AcceptAsync(CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _parent, null) is { } parent)
            {
                return parent;
            }

            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false); // there is only ever one parent
            throw new OperationCanceledException(cancellationToken);
        }

        public override async ValueTask DisposeAsync()
        {
            await _stopped.CancelAsync().ConfigureAwait(false);
            if (Interlocked.Exchange(ref _parent, null) is { } parent)
            {
                await parent.DisposeAsync().ConfigureAwait(false);
            }
        }

        private ValueTask ParentGone()
        {
            if (!_stopped.IsCancellationRequested)
            {
                lifetime?.StopApplication(); // a worker has nothing left to do once its parent is gone
            }

            return default;
        }
    }

    /// <summary>Keeps <paramref name="pipe"/> from being inherited by the processes this one starts (best effort).</summary>
    private static void NotInherited(SafeHandle pipe)
    {
        if (OperatingSystem.IsWindows())
        {
            _ = NativeMethods.SetHandleInformation(pipe, HandleFlagInherit, 0);
            return;
        }

        var added = false;
        try
        {
            pipe.DangerousAddRef(ref added);

            // ioctl(FIOCLEX) sets close-on-exec. ioctl is declared variadic, but FIOCLEX reads no third argument, so the
            // call passes none (fcntl's F_SETFD would need its flag passed as a variadic argument, which some ABIs place apart).
            _ = NativeMethods.ioctl((int)pipe.DangerousGetHandle(), CloseOnExecRequest);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // no ioctl in this C library: the handles stay inheritable, as they were
        }
        finally
        {
            if (added)
            {
                pipe.DangerousRelease();
            }
        }
    }

    private const uint HandleFlagInherit = 1;

    /// <summary>FIOCLEX: _IO('f', 1) on the BSDs, macOS and Linux on PowerPC; 0x5451 on Linux's other architectures.</summary>
    private static nuint CloseOnExecRequest =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is not Architecture.Ppc64le ? 0x5451u : 0x20006601u;

    private static partial class NativeMethods
    {
        [LibraryImport("libc", SetLastError = false)]
        internal static partial int ioctl(int descriptor, nuint request);

        [LibraryImport("kernel32.dll", SetLastError = false)]
        [return: MarshalAs(UnmanagedType.Bool)]
        internal static partial bool SetHandleInformation(SafeHandle handle, uint mask, uint flags);

        [LibraryImport("libc", SetLastError = false)]
        internal static partial int getppid();
    }
}
