using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Server;

/// <summary>The service provider of one call: a DI scope created on first use and disposed when the call ends.</summary>
/// <remarks>Keyed services resolve as from the scope itself (<c>GetRequiredKeyedService</c>, <c>GetKeyedService</c>).</remarks>
internal sealed class CallServices(IServiceScopeFactory scopes) : IKeyedServiceProvider, IAsyncDisposable
{
    private AsyncServiceScope? _scope;

    private IServiceProvider Provider => (_scope ??= scopes.CreateAsyncScope()).ServiceProvider;

    public object? GetService(Type serviceType) => Provider.GetService(serviceType);

    public object? GetKeyedService(Type serviceType, object? serviceKey) => Keyed().GetKeyedService(serviceType, serviceKey);

    public object GetRequiredKeyedService(Type serviceType, object? serviceKey) => Keyed().GetRequiredKeyedService(serviceType, serviceKey);

    public ValueTask DisposeAsync() => _scope?.DisposeAsync() ?? default;

    // A container without keyed services fails as the framework's extension methods fail for it.
    private IKeyedServiceProvider Keyed() =>
        Provider as IKeyedServiceProvider ?? throw new InvalidOperationException("This service provider doesn't support keyed services.");
}
