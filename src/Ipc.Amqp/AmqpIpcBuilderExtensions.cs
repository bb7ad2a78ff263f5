using Ipc;
using Ipc.Amqp;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

[assembly: IpcTransportRegistration(typeof(AmqpTransportRegistration))]

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the AMQP transport (<c>amqp://</c>, <c>amqps://</c>) on an <see cref="IIpcBuilder"/>.</summary>
/// <remarks>Referencing the Ipc.Amqp package is enough: <c>AddIpc(...)</c> finds and calls this. Call it yourself to configure the options in code.</remarks>
public static class AmqpIpcBuilderExtensions
{
    /// <summary>Registers the AMQP transport and binds <see cref="AmqpTransportOptions"/> from <c>Ipc:Transports:Amqp</c> and <c>Ipc:Endpoints:&lt;name&gt;:Amqp</c>.</summary>
    public static IIpcBuilder AddAmqp(this IIpcBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddTransport<AmqpTransport>();
        builder.BindTransportOptions<AmqpTransportOptions>(AmqpTransportOptions.SectionName);
        builder.Services.AddOptions<AmqpTransportOptions>().ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AmqpTransportOptions>, AmqpTransportOptionsValidator>());
        return builder;
    }

    /// <summary>Registers the AMQP transport and configures the options of every endpoint (after configuration binding).</summary>
    public static IIpcBuilder AddAmqp(this IIpcBuilder builder, Action<AmqpTransportOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        AddAmqp(builder);
        builder.Services.ConfigureAll(configure);
        return builder;
    }
}
