using System.Reflection;
using Ipc.Transports;
using Microsoft.Extensions.DependencyModel;

namespace Ipc;

/// <summary>Finds the adapter packages an application references, the way MVC finds application parts.</summary>
internal static class TransportDiscovery
{
    private const string RuntimeAssemblyName = "Ipc";

    private static readonly Lazy<IReadOnlyList<Type>> s_registrations = new(Discover);

    public static IReadOnlyList<Type> Registrations => s_registrations.Value;

    private static IReadOnlyList<Type> Discover()
    {
        var assemblies = new Dictionary<string, Assembly>(StringComparer.OrdinalIgnoreCase);
        foreach (var loaded in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (!loaded.IsDynamic && loaded.GetName().Name is { } name && ReferencesRuntime(loaded))
            {
                assemblies.TryAdd(name, loaded);
            }
        }

        var context = DependencyContext.Default;
        if (context is not null)
        {
            foreach (var library in context.RuntimeLibraries)
            {
                if (!library.Dependencies.Any(d => string.Equals(d.Name, RuntimeAssemblyName, StringComparison.OrdinalIgnoreCase)))
                {
                    continue;
                }

                foreach (var assemblyName in library.GetDefaultAssemblyNames(context))
                {
                    if (assemblyName.Name is null || assemblies.ContainsKey(assemblyName.Name))
                    {
                        continue;
                    }

                    try
                    {
                        assemblies[assemblyName.Name] = Assembly.Load(assemblyName);
                    }
                    catch (Exception ex) when (ex is FileNotFoundException or FileLoadException or BadImageFormatException)
                    {
                        // A library listed in deps.json but not deployed (trimmed, or a reference assembly) has no transport to offer.
                    }
                }
            }
        }

        var types = new List<Type>();
        foreach (var assembly in assemblies.Values.OrderBy(a => a.GetName().Name, StringComparer.Ordinal))
        {
            foreach (var attribute in assembly.GetCustomAttributes<IpcTransportRegistrationAttribute>())
            {
                if (!typeof(IIpcTransportRegistration).IsAssignableFrom(attribute.RegistrationType))
                {
                    throw new InvalidOperationException(
                        $"Assembly '{assembly.GetName().Name}' names {attribute.RegistrationType} in [IpcTransportRegistration], but it does not implement {nameof(IIpcTransportRegistration)}.");
                }

                types.Add(attribute.RegistrationType);
            }
        }

        return types;
    }

    private static bool ReferencesRuntime(Assembly assembly) =>
        assembly.GetReferencedAssemblies().Any(r => string.Equals(r.Name, RuntimeAssemblyName, StringComparison.OrdinalIgnoreCase));
}
