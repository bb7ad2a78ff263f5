using System.Text;

namespace Ipc.Amqp;

/// <summary>
/// The names of an endpoint's queues and exchange on the broker, all starting with the endpoint's broker name
/// (<see cref="AmqpAddress.Name"/>), and their arguments.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>&lt;name&gt;.requests</c>: the requests of every request route, shared by the instances of the server (a classic, transient queue); published to the default exchange, answered through direct reply-to.</item>
/// <item><c>&lt;name&gt;.send.&lt;route&gt;</c>: the one-way messages of one route, shared by the instances (competing consumers).</item>
/// <item><c>&lt;name&gt;.publish</c>: the topic exchange published messages go to, with the topic as routing key.</item>
/// <item><c>&lt;name&gt;.subscriber.&lt;service&gt;</c>: one queue per subscribing service, bound to the exchange with each topic it subscribes to.</item>
/// <item><c>&lt;queue&gt;.dead-letter</c>: the messages of a queue whose handler kept failing, with the error in their headers; it never expires.</item>
/// </list>
/// </remarks>
internal static class AmqpTopology
{
    /// <summary>The pseudo-queue of RabbitMQ's direct reply-to.</summary>
    public const string DirectReplyTo = "amq.rabbitmq.reply-to";

    public static string RequestQueue(string name) => name + ".requests";

    public static string SendQueue(string name, string route) => name + ".send." + route;

    public static string PublishExchange(string name) => name + ".publish";

    public static string SubscriberQueue(string name, string service) => name + ".subscriber." + service;

    public static string DeadLetterQueue(string queue) => queue + ".dead-letter";

    /// <summary>
    /// Whether <paramref name="topic"/> has a word (between dots) that an AMQP binding key reads as a wildcard: <c>*</c>
    /// (one word) or <c>#</c> (any number of words). Inside a longer word they are plain characters.
    /// </summary>
    public static bool HasWildcard(string topic)
    {
        var words = "." + topic + ".";
        return words.Contains(".*.", StringComparison.Ordinal) || words.Contains(".#.", StringComparison.Ordinal);
    }

    /// <summary>Says what is wrong with a name used in queue names, or returns <see langword="null"/>.</summary>
    public static string? CheckName(string value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "give a name.";
        }

        if (value.StartsWith("amq.", StringComparison.Ordinal))
        {
            return "names starting with 'amq.' are reserved by the broker.";
        }

        return Encoding.UTF8.GetByteCount(value) > 200 ? "the name is longer than 200 bytes; queue names are at most 255." : null;
    }

    /// <summary>The arguments of a queue that keeps one-way or published messages.</summary>
    public static Dictionary<string, object?> MessageQueueArguments(AmqpTransportOptions options)
    {
        var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (options.Durable && options.QuorumQueues)
        {
            arguments["x-queue-type"] = "quorum";
        }

        AddExpiry(arguments, options);
        return arguments;
    }

    /// <summary>
    /// The arguments of a dead-letter queue: those of a message queue without the expiry. Nothing consumes it, so with
    /// one the broker would delete it, dead letters included, that long after the server declared it.
    /// </summary>
    public static Dictionary<string, object?> DeadLetterQueueArguments(AmqpTransportOptions options)
    {
        var arguments = MessageQueueArguments(options);
        arguments.Remove("x-expires");
        return arguments;
    }

    /// <summary>The arguments of the request queue: classic, as requests are short-lived.</summary>
    public static Dictionary<string, object?> RequestQueueArguments(AmqpTransportOptions options)
    {
        var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
        AddExpiry(arguments, options);
        return arguments;
    }

    private static void AddExpiry(Dictionary<string, object?> arguments, AmqpTransportOptions options)
    {
        if (options.QueueExpiry is { } expiry)
        {
            arguments["x-expires"] = (int)Math.Min(int.MaxValue, expiry.TotalMilliseconds);
        }
    }
}
