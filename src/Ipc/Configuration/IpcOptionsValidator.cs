using System.Globalization;
using Ipc.Resilience;
using Ipc.Serialization;
using Ipc.Server;
using Ipc.Transports;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Ipc;

/// <summary>
/// Checks <see cref="IpcOptions"/> at start; every failure names what to fix: the configuration key that holds the
/// value, or the option's property when the value was set in code.
/// </summary>
internal sealed class IpcOptionsValidator(
    TransportRegistry transports,
    SerializerRegistry serializers,
    IEnumerable<IpcServerDefinition> servers,
    ResilienceValidator resilience,
    IpcConfigurationPath path) : IValidateOptions<IpcOptions>
{
    public ValidateOptionsResult Validate(string? name, IpcOptions options)
    {
        var failures = new List<string>();

        if (serializers.Find(options.Serializer) is null)
        {
            failures.Add($"{path.Setting(nameof(IpcOptions.Serializer), options.Serializer, $"{nameof(IpcOptions)}.{nameof(IpcOptions.Serializer)}")} '{options.Serializer}' is not a registered serializer. Use {IpcOptions.MessagePackSerializer} or {IpcOptions.JsonSerializer}, or register yours with AddSerializer.");
        }

        CheckConvertible(failures);
        foreach (var (endpointName, endpoint) in options.Endpoints)
        {
            ValidateEndpoint(endpointName, endpoint, failures);
        }

        foreach (var server in servers)
        {
            if (!options.Endpoints.TryGetValue(server.EndpointName, out var endpoint))
            {
                failures.Add($"{path.Endpoint(server.EndpointName, "Address")} is missing: AddServer(\"{server.EndpointName}\") needs an endpoint of that name to listen on.{path.EmptySectionHint()}");
            }
            else
            {
                CheckSubscriptions(server, endpoint, failures);
            }
        }

        // A bad global setting shows once for every endpoint with the same text; report it once.
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures.Distinct(StringComparer.Ordinal));
    }

    /// <summary>
    /// Binding a dictionary of options drops values that do not convert (a TimeSpan of "soon"); bind each endpoint
    /// section on its own, which throws for them, so they fail at start instead of silently keeping the default.
    /// </summary>
    private void CheckConvertible(List<string> failures)
    {
        if (path.Section is null)
        {
            return;
        }

        foreach (var endpoint in path.Section.GetSection("Endpoints").GetChildren())
        {
            try
            {
                endpoint.Get<IpcEndpointOptions>();
            }
            catch (InvalidOperationException ex)
            {
                failures.Add(ex.Message + " Fix the value, or remove the key to use the default.");
            }
        }
    }

    /// <summary>A server that subscribes to topics on a transport without publish/subscribe would never receive them: say so at start.</summary>
    private void CheckSubscriptions(IpcServerDefinition server, IpcEndpointOptions endpoint, List<string> failures)
    {
        var topics = server.RouteTable.Where(r => r.Kind == Transports.IpcRouteKind.Subscription).Select(r => r.Name).ToList();
        if (topics.Count == 0
            || !Uri.TryCreate(endpoint.Address, UriKind.Absolute, out var address)
            || !transports.TryGet(address.Scheme, out var transport)
            || transport.GetCapabilities(address).HasFlag(TransportCapabilities.PublishSubscribe))
        {
            return;
        }

        failures.Add(
            $"AddServer(\"{server.EndpointName}\") subscribes to the published topics {string.Join(", ", topics)} (MapSubscription), but the {transport.Name} transport of " +
            $"{path.EndpointSetting(server.EndpointName, nameof(IpcEndpointOptions.Address), endpoint.Address)} '{AddressText.Redact(endpoint.Address)}' does not support PublishSubscribe. " +
            "Choose a transport that does, or map the routes with MapMessage to receive messages sent to the endpoint.");
    }

    private void ValidateEndpoint(string name, IpcEndpointOptions endpoint, List<string> failures)
    {
        var addressKey = path.EndpointSetting(name, nameof(IpcEndpointOptions.Address), string.IsNullOrWhiteSpace(endpoint.Address) ? null : endpoint.Address);
        if (string.IsNullOrWhiteSpace(endpoint.Address))
        {
            failures.Add($"{addressKey} is required: set it to an address such as inmemory://{name}.");
        }
        else if (!Uri.TryCreate(endpoint.Address, UriKind.Absolute, out var address))
        {
            failures.Add($"{addressKey} '{AddressText.Redact(endpoint.Address)}' is not an absolute address: write it as scheme://..., for example inmemory://{name}.");
        }
        else if (!transports.TryGet(address.Scheme, out var transport))
        {
            var fix = TransportPackages.Find(address.Scheme) is { } package
                ? $"'{address.Scheme}://' addresses come from the {package} package: add it to the project (dotnet add package {package}); its transports register themselves."
                : $"Reference the adapter package that provides '{address.Scheme}://' addresses.";
            failures.Add(
                $"{addressKey} '{AddressText.Redact(endpoint.Address)}' uses the scheme '{address.Scheme}', but no transport for it is registered. {fix} " +
                $"Registered schemes: {string.Join(", ", transports.Schemes)}.");
        }
        else
        {
            if (transport.ValidateAddress(address) is { } problem)
            {
                failures.Add($"{addressKey} '{AddressText.Redact(endpoint.Address)}' is not valid for the {transport.Name} transport: {problem}");
            }

            var capabilities = transport.GetCapabilities(address);
            var missing = endpoint.RequiredCapabilities & ~capabilities;
            if (missing != TransportCapabilities.None)
            {
                failures.Add($"{path.EndpointSetting(name, nameof(IpcEndpointOptions.RequiredCapabilities), endpoint.RequiredCapabilities)} requires {missing}, which the {transport.Name} transport of '{AddressText.Redact(endpoint.Address)}' does not support.");
            }

            resilience.Validate(name, endpoint, ResilienceDefaults.KindOf(capabilities), failures);
        }

        if (endpoint.MaxMessageSize is < 1 or > IpcEndpointOptions.MaxAllowedMessageSize)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{path.EndpointSetting(name, nameof(IpcEndpointOptions.MaxMessageSize), endpoint.MaxMessageSize)} is {endpoint.MaxMessageSize}: it must be between 1 and {IpcEndpointOptions.MaxAllowedMessageSize} bytes."));
        }

        if (endpoint.RequestTimeout is { } requestTimeout && requestTimeout <= TimeSpan.Zero && requestTimeout != Timeout.InfiniteTimeSpan)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{path.EndpointSetting(name, nameof(IpcEndpointOptions.RequestTimeout), requestTimeout)} is {endpoint.RequestTimeout}: it must be positive (or -00:00:00.001 for no timeout)."));
        }

        if (endpoint.ConnectTimeout <= TimeSpan.Zero || endpoint.ConnectTimeout > IpcEndpointOptions.MaxConnectTimeout)
        {
            // Transports start a timer (or set SocketsHttpHandler.ConnectTimeout) from it, which refuse values past about 24.8 days.
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{path.EndpointSetting(name, nameof(IpcEndpointOptions.ConnectTimeout), endpoint.ConnectTimeout)} is {endpoint.ConnectTimeout}: it must be positive and at most {IpcEndpointOptions.MaxConnectTimeout}."));
        }

        if (endpoint.DrainTimeout < TimeSpan.Zero || endpoint.DrainTimeout > IpcEndpointOptions.MaxDrainTimeout)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{path.EndpointSetting(name, nameof(IpcEndpointOptions.DrainTimeout), endpoint.DrainTimeout)} is {endpoint.DrainTimeout}: it must be zero or more and at most {IpcEndpointOptions.MaxDrainTimeout}."));
        }

        if (endpoint.Serializer is { } serializer && serializers.Find(serializer) is null)
        {
            failures.Add($"{path.EndpointSetting(name, nameof(IpcEndpointOptions.Serializer), serializer)} '{serializer}' is not a registered serializer. Use {IpcOptions.MessagePackSerializer} or {IpcOptions.JsonSerializer}, or register yours with AddSerializer.");
        }
    }
}
