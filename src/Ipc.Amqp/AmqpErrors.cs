using RabbitMQ.Client.Exceptions;

namespace Ipc.Amqp;

/// <summary>Maps RabbitMQ.Client's exceptions to the Ipc error model; the native exception is kept as the inner exception.</summary>
internal static class AmqpErrors
{
    /// <summary>A failure to connect: the broker refused the login (Unauthorized) or could not be reached (Unavailable, nothing sent).</summary>
    public static IpcException ConnectFailed(Exception exception, AmqpAddress address, string endpoint)
    {
        if (Find<AuthenticationFailureException>(exception) is not null || Find<PossibleAuthenticationFailureException>(exception) is not null)
        {
            return new IpcException(
                IpcErrorCode.Unauthorized,
                $"The broker at {address} refused the login of user '{address.UserName}'. Set Ipc:Endpoints:{endpoint}:Amqp:UserName and Password (or Ipc:Transports:Amqp) to a user the broker knows, with access to the virtual host.",
                exception)
            { Endpoint = endpoint, NotAccepted = true };
        }

        if (exception is OperationInterruptedException { ShutdownReason.ReplyCode: 530 or 403 })
        {
            return new IpcException(IpcErrorCode.Unauthorized, $"The broker at {address} refused access: {exception.Message}", exception) { Endpoint = endpoint, NotAccepted = true };
        }

        if (Find<System.Security.Authentication.AuthenticationException>(exception) is { } tls)
        {
            // This client refused the broker's certificate (or the handshake failed): no retry helps.
            return new IpcException(
                IpcErrorCode.Unauthorized,
                $"The TLS handshake with the broker at {address} failed ({tls.GetBaseException().Message}). Its certificate must be trusted (Ipc:Endpoints:{endpoint}:Amqp:Tls:CertificateAuthorityPath, or the system's trust store) and carry the name the client expects (Tls:ServerName, by default the host).",
                exception)
            { Endpoint = endpoint, NotAccepted = true };
        }

        var secure = address.Endpoints.Any(e => e.Ssl.Enabled);
        return new IpcException(
            IpcErrorCode.Unavailable,
            $"No AMQP broker could be reached at {address} ({exception.GetBaseException().Message}). Start RabbitMQ there, or point endpoint '{endpoint}' at a running broker.{(secure ? " Over TLS, a broker that requires a client certificate closes the connection of a client without an acceptable one: see Tls:ClientCertificatePath." : string.Empty)}",
            exception)
        { Endpoint = endpoint, NotAccepted = true };
    }

    /// <summary>A publish that did not complete: the connection or channel closed first, so the broker did not confirm it.</summary>
    public static IpcException NotConfirmed(Exception exception, string what, string endpoint) =>
        new(IpcErrorCode.Unavailable, $"The broker did not confirm {what} of endpoint '{endpoint}': {exception.GetBaseException().Message}. Sending it again is safe.", exception)
        {
            Endpoint = endpoint,
            NotAccepted = true,
        };

    /// <summary>A subscription to a topic with a wildcard word, which would bind the queue to topics no handler maps.</summary>
    public static IpcException WildcardTopic(string topic, string endpoint) =>
        new(
            IpcErrorCode.NotSupported,
            $"Endpoint '{endpoint}' subscribes to the topic '{topic}', whose '*' or '#' word the broker would read as a wildcard. Subscriptions match topics exactly, on every transport, so the messages of the other topics it matched would find no handler: subscribe to each topic by its name (MapSubscription once per topic).")
        {
            Endpoint = endpoint,
        };

    /// <summary>A declaration the broker refused: the queue or exchange exists with other arguments (406 PRECONDITION_FAILED).</summary>
    public static IpcException DeclareFailed(Exception exception, string name, string endpoint)
    {
        var text = exception is OperationInterruptedException { ShutdownReason: { } reason }
            ? $"{reason.ReplyCode} {reason.ReplyText}"
            : exception.GetBaseException().Message;
        return new IpcException(
            IpcErrorCode.ProtocolError,
            $"The broker refused to declare '{name}' for endpoint '{endpoint}' ({text}). A queue or exchange of that name exists with other settings: use the same Durable, QuorumQueues and QueueExpiry in every process of the endpoint, or delete it.",
            exception)
        { Endpoint = endpoint, NotAccepted = true };
    }

    public static bool IsConnectionFailure(Exception exception) =>
        exception is AlreadyClosedException or OperationInterruptedException or IOException or ObjectDisposedException or PublishException or ChannelAllocationException
        || exception is InvalidOperationException && exception.Message.Contains("closed", StringComparison.OrdinalIgnoreCase);

    private static T? Find<T>(Exception? exception)
        where T : Exception
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is T found)
            {
                return found;
            }
        }

        return null;
    }
}
