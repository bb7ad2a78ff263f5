using Ipc;
using Ipc.Sockets;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

[assembly: IpcTransportRegistration(typeof(SocketsTransportRegistration))]

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the socket transports (<c>unix://</c>, <c>tcp://</c>) on an <see cref="IIpcBuilder"/>.</summary>
/// <remarks>Referencing the Ipc.Sockets package is enough: <c>AddIpc(...)</c> finds and calls this. Call it yourself to configure the options in code.</remarks>
public static class SocketsIpcBuilderExtensions
{
    /// <summary>Registers the Unix socket and TCP transports and binds <see cref="SocketTransportOptions"/> from <c>Ipc:Transports:Sockets</c> and <c>Ipc:Endpoints:&lt;name&gt;:Sockets</c>.</summary>
    public static IIpcBuilder AddSockets(this IIpcBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddTransport<UnixSocketTransport>();
        builder.AddTransport<TcpTransport>();
        builder.BindTransportOptions<SocketTransportOptions>(SocketTransportOptions.SectionName);
        builder.Services.AddOptions<SocketTransportOptions>().ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SocketTransportOptions>, SocketTransportOptionsValidator>());
        return builder;
    }

    /// <summary>Registers the socket transports and configures the options of every endpoint (after configuration binding).</summary>
    public static IIpcBuilder AddSockets(this IIpcBuilder builder, Action<SocketTransportOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        AddSockets(builder);
        builder.Services.ConfigureAll(configure);
        return builder;
    }
}
