using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc;

/// <summary>
/// Returned by <c>AddIpc(...)</c>; adapters and servers hang their registration methods on it.
/// </summary>
public interface IIpcBuilder
{
    /// <summary>Gets the service collection.</summary>
    IServiceCollection Services { get; }

    /// <summary>Gets the <c>Ipc</c> configuration section the options are bound from, or <see langword="null"/> when configured in code only.</summary>
    IConfiguration? Configuration { get; }
}

internal sealed class IpcBuilder(IServiceCollection services, IConfiguration? configuration) : IIpcBuilder
{
    public IServiceCollection Services { get; } = services;

    public IConfiguration? Configuration { get; } = configuration;
}
