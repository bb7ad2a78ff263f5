namespace Ipc.Transports;

/// <summary>
/// Registers a transport with the runtime. Adapter packages put it on their assembly so that referencing the package is
/// enough: <c>AddIpc(...)</c> finds every assembly the application depends on that references <c>Ipc</c> and carries
/// this attribute, and calls its <see cref="IIpcTransportRegistration"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class IpcTransportRegistrationAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    /// <param name="registrationType">A type with a public parameterless constructor that implements <see cref="IIpcTransportRegistration"/>.</param>
    public IpcTransportRegistrationAttribute(Type registrationType)
    {
        ArgumentNullException.ThrowIfNull(registrationType);
        RegistrationType = registrationType;
    }

    /// <summary>Gets the registration type.</summary>
    public Type RegistrationType { get; }
}

/// <summary>Adds a transport (and its options) to an <see cref="IIpcBuilder"/>. Must be idempotent.</summary>
public interface IIpcTransportRegistration
{
    /// <summary>Registers the transport.</summary>
    void Register(IIpcBuilder builder);
}
