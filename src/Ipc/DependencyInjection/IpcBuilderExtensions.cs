using System.Text.Json;
using Ipc;
using Ipc.Serialization;
using Ipc.Transports;
using MessagePack;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration methods on <see cref="IIpcBuilder"/>.</summary>
public static class IpcBuilderExtensions
{
    /// <summary>Registers a transport. Adapter packages call this from their <see cref="IIpcTransportRegistration"/>; it is idempotent.</summary>
    public static IIpcBuilder AddTransport<TTransport>(this IIpcBuilder builder)
        where TTransport : class, IIpcTransport
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IIpcTransport, TTransport>());
        return builder;
    }

    /// <summary>Adds (or changes) an endpoint in code.</summary>
    public static IIpcBuilder AddEndpoint(this IIpcBuilder builder, string name, string address, Action<IpcEndpointOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(address);
        builder.Services.Configure<IpcOptions>(options =>
        {
            var endpoint = options.Endpoints.TryGetValue(name, out var existing) ? existing : options.Endpoints[name] = new IpcEndpointOptions();
            endpoint.Address = address;
            configure?.Invoke(endpoint);
        });
        return builder;
    }

    /// <summary>Changes an endpoint's options in code, after configuration binding.</summary>
    public static IIpcBuilder ConfigureEndpoint(this IIpcBuilder builder, string name, Action<IpcEndpointOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.PostConfigure<IpcOptions>(options =>
        {
            var endpoint = options.Endpoints.TryGetValue(name, out var existing) ? existing : options.Endpoints[name] = new IpcEndpointOptions();
            configure(endpoint);
        });
        return builder;
    }

    /// <summary>
    /// Hosts handlers on the endpoint <paramref name="endpointName"/>: a hosted service listens on the endpoint's address
    /// while the host runs, unless a host integration claimed the server (<see cref="IIpcServerProvider"/>,
    /// <see cref="IIpcServer.MarkHostedExternally"/>) to serve it behind its own request loop.
    /// </summary>
    public static IIpcBuilder AddServer(this IIpcBuilder builder, string endpointName, Action<IpcServerBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(endpointName);
        ArgumentNullException.ThrowIfNull(configure);
        var server = new IpcServerBuilder(endpointName, builder.Services);
        configure(server);
        builder.Services.AddSingleton(server.Build());
        return builder;
    }

    /// <summary>Makes System.Text.Json the default serializer, optionally with <paramref name="options"/>.</summary>
    public static IIpcBuilder UseSystemTextJson(this IIpcBuilder builder, JsonSerializerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.RemoveAllKeyed(typeof(IIpcSerializer), IpcOptions.JsonSerializer);
        builder.Services.AddKeyedSingleton<IIpcSerializer>(IpcOptions.JsonSerializer, (_, _) => new SystemTextJsonIpcSerializer(options));
        builder.Services.Configure<IpcOptions>(o => o.Serializer = IpcOptions.JsonSerializer);
        return builder;
    }

    /// <summary>
    /// Replaces the MessagePack serializer's options. Options with MessagePack's default security
    /// (<see cref="MessagePackSecurity.TrustedData"/>) are read with <see cref="MessagePackSecurity.UntrustedData"/>;
    /// a security of your own is used as given.
    /// </summary>
    public static IIpcBuilder UseMessagePack(this IIpcBuilder builder, MessagePackSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        builder.Services.RemoveAllKeyed(typeof(IIpcSerializer), IpcOptions.MessagePackSerializer);
        builder.Services.AddKeyedSingleton<IIpcSerializer>(IpcOptions.MessagePackSerializer, (_, _) => new MessagePackIpcSerializer(options));
        return builder;
    }

    /// <summary>Registers a serializer of your own under <paramref name="name"/>, for <c>Serializer</c> settings to select.</summary>
    public static IIpcBuilder AddSerializer(this IIpcBuilder builder, string name, IIpcSerializer serializer)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(serializer);
        builder.Services.RemoveAllKeyed(typeof(IIpcSerializer), name);
        builder.Services.AddKeyedSingleton(name, serializer);
        return builder;
    }

    /// <summary>
    /// Binds a transport's options per endpoint, as named options (the name is the endpoint's): first from
    /// <c>Ipc:Transports:&lt;sectionName&gt;</c>, then from <c>Ipc:Endpoints:&lt;endpoint&gt;:&lt;sectionName&gt;</c>, key by key.
    /// Adapters call this; read the result with <c>IOptionsMonitor&lt;TOptions&gt;.Get(endpointName)</c>. An endpoint's own
    /// options (from its section, or set in code with <c>Configure&lt;TOptions&gt;(endpointName, ...)</c>) are validated when
    /// the host starts, with the validators registered for <typeparamref name="TOptions"/>, so a bad value fails
    /// <c>host.StartAsync()</c> even in a process that is only a client.
    /// </summary>
    public static IIpcBuilder BindTransportOptions<TOptions>(this IIpcBuilder builder, string sectionName)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(sectionName);
        builder.Services.AddOptions<TOptions>();
        if (builder.Configuration is { } configuration)
        {
            builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<TOptions>>(
                new EndpointSectionConfigureOptions<TOptions>(configuration, sectionName)));
        }

        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IpcOptions>, EndpointTransportOptionsValidator<TOptions>>(
            services => new EndpointTransportOptionsValidator<TOptions>(services)));

        return builder;
    }
}
