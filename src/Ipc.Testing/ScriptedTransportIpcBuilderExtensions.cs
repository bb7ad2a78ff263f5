using Ipc;
using Ipc.Testing;
using Ipc.Transports;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a <see cref="ScriptedTransport"/>.</summary>
public static class ScriptedTransportIpcBuilderExtensions
{
    /// <summary>Registers <paramref name="transport"/> for <c>scripted://</c> addresses.</summary>
    public static IIpcBuilder AddScriptedTransport(this IIpcBuilder builder, ScriptedTransport transport)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(transport);
        builder.Services.AddSingleton<IIpcTransport>(transport);
        return builder;
    }
}
