using Ipc;
using Ipc.Pipes;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

[assembly: IpcTransportRegistration(typeof(PipesTransportRegistration))]

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the named pipe (<c>pipe://</c>) and worker-process (<c>worker://</c>) transports on an <see cref="IIpcBuilder"/>.</summary>
/// <remarks>Referencing the Ipc.Pipes package is enough for <c>pipe://</c>: <c>AddIpc(...)</c> finds and calls <see cref="AddPipes(IIpcBuilder)"/>.</remarks>
public static class PipesIpcBuilderExtensions
{
    /// <summary>Registers the transports and binds <see cref="PipeTransportOptions"/> from <c>Ipc:Transports:Pipes</c> and <c>Ipc:Endpoints:&lt;name&gt;:Pipes</c>.</summary>
    public static IIpcBuilder AddPipes(this IIpcBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddTransport<PipeTransport>();
        builder.AddTransport<WorkerPipeTransport>();
        builder.BindTransportOptions<PipeTransportOptions>(PipeTransportOptions.SectionName);
        builder.BindTransportOptions<WorkerProcessOptions>(WorkerProcessOptions.SectionName);
        builder.Services.AddOptions<PipeTransportOptions>().ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PipeTransportOptions>, PipeTransportOptionsValidator>());
        builder.Services.AddOptions<WorkerProcessOptions>().ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WorkerProcessOptions>, WorkerProcessOptionsValidator>());
        return builder;
    }

    /// <summary>Registers the transports and configures the pipe options of every endpoint (after configuration binding).</summary>
    public static IIpcBuilder AddPipes(this IIpcBuilder builder, Action<PipeTransportOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        AddPipes(builder);
        builder.Services.ConfigureAll(configure);
        return builder;
    }

    /// <summary>
    /// In a parent process: adds the endpoint <paramref name="endpointName"/> (<c>worker://endpointName</c>), whose first
    /// call starts the worker process described by <paramref name="configure"/> and talks to it over anonymous pipes.
    /// Resolve its <see cref="IRequestClient"/> or <see cref="IChannel"/> keyed by <paramref name="endpointName"/>.
    /// </summary>
    public static IIpcBuilder AddWorkerProcess(this IIpcBuilder builder, string endpointName, Action<WorkerProcessOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(endpointName);
        ArgumentNullException.ThrowIfNull(configure);
        AddPipes(builder);
        builder.AddEndpoint(endpointName, $"{WorkerPipeTransport.Scheme}://{endpointName}");
        builder.Services.Configure(endpointName, configure);
        return builder;
    }

    /// <summary>
    /// In a worker process: serves the handlers of <paramref name="configure"/> to the parent that started it, over the
    /// inherited anonymous pipes. The host stops when the parent closes the pipes or exits.
    /// </summary>
    public static IIpcBuilder AddWorkerServer(this IIpcBuilder builder, string endpointName, Action<IpcServerBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(endpointName);
        AddPipes(builder);
        builder.AddEndpoint(endpointName, $"{WorkerPipeTransport.Scheme}://{endpointName}");
        return builder.AddServer(endpointName, configure);
    }
}
