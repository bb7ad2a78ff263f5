using Ipc;
using Ipc.SharedMemory;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

[assembly: IpcTransportRegistration(typeof(SharedMemoryTransportRegistration))]

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the shared-memory transport (<c>shm://</c>) on an <see cref="IIpcBuilder"/>.</summary>
/// <remarks>Referencing the Ipc.SharedMemory package is enough: <c>AddIpc(...)</c> finds and calls this. Call it yourself to configure the options in code.</remarks>
public static class SharedMemoryIpcBuilderExtensions
{
    /// <summary>Registers the shared-memory transport and binds <see cref="SharedMemoryTransportOptions"/> from <c>Ipc:Transports:SharedMemory</c> and <c>Ipc:Endpoints:&lt;name&gt;:SharedMemory</c>.</summary>
    public static IIpcBuilder AddSharedMemory(this IIpcBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddTransport<SharedMemoryTransport>();
        builder.BindTransportOptions<SharedMemoryTransportOptions>(SharedMemoryTransportOptions.SectionName);
        builder.Services.AddOptions<SharedMemoryTransportOptions>().ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SharedMemoryTransportOptions>, SharedMemoryTransportOptionsValidator>());
        return builder;
    }

    /// <summary>Registers the shared-memory transport and configures the options of every endpoint (after configuration binding).</summary>
    public static IIpcBuilder AddSharedMemory(this IIpcBuilder builder, Action<SharedMemoryTransportOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        AddSharedMemory(builder);
        builder.Services.ConfigureAll(configure);
        return builder;
    }
}
