using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Server;

/// <summary>The service provider of one call: a DI scope created on first use and disposed when the call ends.</summary>
/// <remarks>
/// Keyed services resolve as from the scope itself (<c>GetRequiredKeyedService</c>, <c>GetKeyedService</c>).
/// A handler may resolve from several threads at once: they share one scope (a thread that lost the race to create it
/// disposes its own, from which nothing was resolved). Once the call ended, resolving throws
/// <see cref="ObjectDisposedException"/>, as a disposed scope does, whether or not the call had created its scope.
/// </remarks>
internal sealed class CallServices(IServiceScopeFactory scopes) : IKeyedServiceProvider, IAsyncDisposable
{
    /// <summary>Marks the services of a call that ended.</summary>
    private static readonly IServiceScope s_ended = new EndedScope();

    private IServiceScope? _scope; // null until first use, then the call's scope, then s_ended once disposed

    private IServiceProvider Provider
    {
        get
        {
            var scope = Volatile.Read(ref _scope) ?? Create();
            return ReferenceEquals(scope, s_ended) ? throw Ended() : scope.ServiceProvider;
        }
    }

    public object? GetService(Type serviceType) => Provider.GetService(serviceType);

    public object? GetKeyedService(Type serviceType, object? serviceKey) => Keyed().GetKeyedService(serviceType, serviceKey);

    public object GetRequiredKeyedService(Type serviceType, object? serviceKey) => Keyed().GetRequiredKeyedService(serviceType, serviceKey);

    public ValueTask DisposeAsync()
    {
        var scope = Interlocked.Exchange(ref _scope, s_ended);
        if (scope is null || ReferenceEquals(scope, s_ended))
        {
            return default;
        }

        if (scope is IAsyncDisposable asyncDisposable)
        {
            return asyncDisposable.DisposeAsync();
        }

        scope.Dispose();
        return default;
    }

    /// <summary>Creates the call's scope unless another thread did first (or the call ended), and returns the one that won.</summary>
    private IServiceScope Create()
    {
        var created = scopes.CreateScope();
        var winner = Interlocked.CompareExchange(ref _scope, created, null);
        if (winner is null)
        {
            return created;
        }

        created.Dispose(); // nothing was resolved from it
        return winner;
    }

    // A container without keyed services fails as the framework's extension methods fail for it.
    private IKeyedServiceProvider Keyed() =>
        Provider as IKeyedServiceProvider ?? throw new InvalidOperationException("This service provider doesn't support keyed services.");

    private static ObjectDisposedException Ended() =>
        new(nameof(IServiceProvider), "The call this service provider belongs to has ended, and its DI scope with it: resolve services while the handler runs, or create a scope of your own (IServiceScopeFactory) for work that outlives the call.");

    private sealed class EndedScope : IServiceScope
    {
        public IServiceProvider ServiceProvider => throw Ended();

        public void Dispose()
        {
        }
    }
}
