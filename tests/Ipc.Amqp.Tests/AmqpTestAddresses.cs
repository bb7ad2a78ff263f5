using Ipc.TestUtils;

namespace Ipc.Amqp.Tests;

/// <summary>Addresses on the tests' shared broker (<see cref="RabbitBroker.SharedUriAsync"/>).</summary>
internal static class AmqpTestAddresses
{
    /// <summary>Returns an address on the shared broker whose queues no other test uses.</summary>
    public static string New(string prefix) =>
        $"{RabbitBroker.SharedUriAsync().GetAwaiter().GetResult()}?name={prefix}-{Guid.NewGuid():N}";

    /// <summary>How long a queue a test leaves on a broker it does not own stays there unused.</summary>
    public static readonly TimeSpan QueueExpiry = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The options every test endpoint uses: queues a test leaves on a broker it does not own expire, except dead-letter
    /// queues, which never do (on a broker named by IPC_AMQP_URI, delete the <c>*.dead-letter</c> queues the tests leave).
    /// </summary>
    public static void Configure(AmqpTransportOptions options) => options.QueueExpiry = QueueExpiry;
}
