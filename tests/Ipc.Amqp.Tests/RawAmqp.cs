using System.Diagnostics;
#region alias
using RabbitMQ.Client;                          // IConnection, ConnectionFactory, ...
using AmqpChannel = RabbitMQ.Client.IChannel;   // RabbitMQ.Client's channel, under another name
#endregion

namespace Ipc.Amqp.Tests;

/// <summary>A plain RabbitMQ.Client connection, to look at queues the way an operator would.</summary>
internal sealed class RawAmqp : IAsyncDisposable
{
    private readonly IConnection _connection;
    private readonly AmqpChannel _channel;

    private RawAmqp(IConnection connection, AmqpChannel channel)
    {
        _connection = connection;
        _channel = channel;
    }

    public static async Task<RawAmqp> ConnectAsync(string address)
    {
        var uri = new Uri(address);
        var factory = new ConnectionFactory { Uri = new UriBuilder(uri) { Query = string.Empty }.Uri };
        var connection = await factory.CreateConnectionAsync();
        return new RawAmqp(connection, await connection.CreateChannelAsync());
    }

    /// <summary>The broker name of an address (its <c>?name=</c>).</summary>
    public static string NameOf(string address) => new Uri(address).Query.TrimStart('?')["name=".Length..];

    /// <summary>Publishes to <paramref name="queue"/> through the default exchange, as any AMQP client can.</summary>
    public async Task PublishAsync(string queue, BasicProperties properties, byte[] body) =>
        await _channel.BasicPublishAsync(string.Empty, queue, mandatory: false, properties, body);

    /// <summary>
    /// Publishes <paramref name="value"/> in MessagePack to the queue of one-way route <paramref name="route"/> of
    /// <paramref name="address"/>, as a plain AMQP client would: <c>type</c> is the route, <c>content_type</c> MessagePack's,
    /// the rest as <paramref name="properties"/> say.
    /// </summary>
    public static async Task PublishToRouteAsync<T>(string address, string route, T value, BasicProperties properties)
    {
        var body = new System.Buffers.ArrayBufferWriter<byte>();
        new Ipc.Serialization.MessagePackIpcSerializer().Serialize(body, value);
        properties.Type = route;
        properties.ContentType = Ipc.Serialization.MessagePackIpcSerializer.MediaType;
        await using var raw = await ConnectAsync(address);
        await raw.PublishAsync(AmqpTopology.SendQueue(NameOf(address), route), properties, body.WrittenSpan.ToArray());
    }

    /// <summary>Deletes <paramref name="queue"/>, as an operator would once its messages were dealt with.</summary>
    public async Task DeleteQueueAsync(string queue) => await _channel.QueueDeleteAsync(queue);

    /// <summary>Declares a quorum queue that the broker deletes once it has been unused for <paramref name="expiry"/>.</summary>
    public async Task DeclareExpiringAsync(string queue, TimeSpan expiry) =>
        await _channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, new Dictionary<string, object?> { ["x-queue-type"] = "quorum", ["x-expires"] = (int)expiry.TotalMilliseconds });

    /// <summary>
    /// Waits until the broker deleted <paramref name="queue"/> (asked every 20 ms, each time on a channel of its own, as
    /// asking about a missing queue closes the channel; asking does not count as using a quorum queue).
    /// </summary>
    public async Task WaitForDeletedAsync(string queue, TimeSpan timeout)
    {
        var timer = Stopwatch.StartNew();
        while (true)
        {
            await using var channel = await _connection.CreateChannelAsync();
            try
            {
                await channel.QueueDeclarePassiveAsync(queue);
            }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
            {
                return;
            }

            Assert.True(timer.Elapsed < timeout, $"{queue} still exists after {timeout}");
            await Task.Delay(20); // polled: the broker announces no queue's deletion, and a consumer would keep it in use
        }
    }

    public async Task<uint> MessageCountAsync(string queue) => (await _channel.QueueDeclarePassiveAsync(queue)).MessageCount;

    /// <summary>
    /// Whether <paramref name="queue"/> is durable or not and of <paramref name="type"/> (quorum; classic when
    /// <see langword="null"/>), with the tests' expiry (<see cref="AmqpTestAddresses.QueueExpiry"/>): the broker takes a declaration only when it is the queue's
    /// own, and refuses any other with 406 PRECONDITION_FAILED.
    /// </summary>
    public async Task<bool> IsAsync(string queue, bool durable, string? type)
    {
        var arguments = new Dictionary<string, object?> { ["x-expires"] = (int)AmqpTestAddresses.QueueExpiry.TotalMilliseconds };
        if (type is not null)
        {
            arguments["x-queue-type"] = type;
        }

        await using var channel = await _connection.CreateChannelAsync(); // a refused declaration closes its channel
        try
        {
            await channel.QueueDeclareAsync(queue, durable, exclusive: false, autoDelete: false, arguments);
            return true;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 406)
        {
            return false;
        }
    }

    /// <summary>Waits until <paramref name="queue"/> has no ready message (the broker has no event for it: it is asked every 20 ms).</summary>
    public async Task WaitForEmptyAsync(string queue, TimeSpan timeout)
    {
        var timer = Stopwatch.StartNew();
        while (await MessageCountAsync(queue) > 0)
        {
            Assert.True(timer.Elapsed < timeout, $"{queue} still holds messages after {timeout}");
            await Task.Delay(20); // polled: the broker announces no change of a queue's message count
        }
    }

    /// <summary>Waits until <paramref name="queue"/> holds at least <paramref name="count"/> ready messages (asked every 20 ms, as in <see cref="WaitForEmptyAsync"/>).</summary>
    public async Task WaitForMessagesAsync(string queue, uint count, TimeSpan timeout)
    {
        var timer = Stopwatch.StartNew();
        while (await MessageCountAsync(queue) < count)
        {
            Assert.True(timer.Elapsed < timeout, $"{queue} holds fewer than {count} messages after {timeout}");
            await Task.Delay(20); // polled: the broker announces no change of a queue's message count
        }
    }

    /// <summary>Takes one message from <paramref name="queue"/>, waiting for one to arrive (a consumer, so no polling).</summary>
    public async Task<(IReadOnlyBasicProperties BasicProperties, byte[] Body)> GetAsync(string queue, TimeSpan timeout)
    {
        var received = new TaskCompletionSource<(IReadOnlyBasicProperties, byte[])>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _channel.BasicQosAsync(0, 1, global: false);
        var consumer = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(_channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            if (received.TrySetResult((delivery.BasicProperties, delivery.Body.ToArray())))
            {
                await _channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
            }
        };
        var tag = await _channel.BasicConsumeAsync(queue, autoAck: false, consumer);
        try
        {
            return await received.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"nothing arrived in {queue} within {timeout}");
        }
        finally
        {
            await _channel.BasicCancelAsync(tag);
        }
    }

    /// <summary>
    /// Takes one message from <paramref name="queue"/> and closes the channel without acknowledging it, as a server
    /// whose process ended does: the broker takes the message back (a quorum queue counts that in <c>x-delivery-count</c>).
    /// </summary>
    public async Task TakeAndAbandonAsync(string queue, TimeSpan timeout)
    {
        var channel = await _connection.CreateChannelAsync();
        await using (channel)
        {
            var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await channel.BasicQosAsync(0, 1, global: false);
            var consumer = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += (_, _) =>
            {
                received.TrySetResult();
                return Task.CompletedTask;
            };
            await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
            await received.Task.WaitAsync(timeout);
            await channel.CloseAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.CloseAsync();
        await _connection.CloseAsync();
        _connection.Dispose();
    }
}
