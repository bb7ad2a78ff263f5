using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Server;

/// <summary>The service provider of one call: a DI scope created on first use and disposed when the call ends.</summary>
internal sealed class CallServices(IServiceScopeFactory scopes) : IServiceProvider, IAsyncDisposable
{
    private AsyncServiceScope? _scope;

    public object? GetService(Type serviceType)
    {
        _scope ??= scopes.CreateAsyncScope();
        return _scope.Value.ServiceProvider.GetService(serviceType);
    }

    public ValueTask DisposeAsync() => _scope?.DisposeAsync() ?? default;
}
