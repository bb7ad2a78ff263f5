using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using AmqpChannel = RabbitMQ.Client.IChannel;

namespace Ipc.Benchmarks;

/// <summary>
/// The AMQP transport against hand-written RabbitMQ.Client baselines on the same node, alternated in blocks as
/// <see cref="InterleavedRatios"/> does: request/response over direct reply-to (64-byte body, one call at a time), and
/// confirmed one-way publishing (64-byte persistent messages to a quorum queue with a consumer, 256 in flight).
/// <c>dotnet run -c Release --project tests/Ipc.Benchmarks -- amqp</c> (a private node, or the broker at IPC_AMQP_URI).
/// </summary>
internal static class AmqpBenchmarks
{
    private const int Blocks = 60;
    private const int CallsPerBlock = 200;
    private const int Rounds = 5;
    private const int MessagesPerRound = 20_000;
    private const int InFlight = 256;
    private static readonly byte[] s_payload = new byte[64];

    public static async Task RunAsync(TextWriter output)
    {
        RabbitBroker? own = null;
        var uri = Environment.GetEnvironmentVariable(RabbitBroker.UriVariable);
        if (string.IsNullOrEmpty(uri))
        {
            own = await RabbitBroker.StartAsync(1);
            uri = own.Uri();
        }

        try
        {
            var run = Guid.NewGuid().ToString("N")[..8];
            await using var raw = await RawPair.StartAsync(uri, "bench-raw-" + run);
            var address = $"{uri.TrimEnd('/')}/?name=bench-ipc-{run}";
            var received = 0;
            var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Services.AddIpc().AddAmqp(o => o.QueueExpiry = TimeSpan.FromMinutes(5)).AddEndpoint("bench", address).AddServer("bench", s => s
                .MapRequest<byte[], byte[]>("echo", body => body)
                .MapMessage<byte[]>("note", (_, _, _) =>
                {
                    Interlocked.Increment(ref received);
                    return ValueTask.CompletedTask;
                }));
            using var host = builder.Build();
            await host.StartAsync();
            var services = new ServiceCollection();
            services.AddIpc().AddAmqp(o => o.QueueExpiry = TimeSpan.FromMinutes(5))
                .AddEndpoint("bench", address)
                .AddEndpoint("bench-trimmed", address).ConfigureResilience("bench-trimmed", r => r.Enabled = false);
            await using var provider = services.BuildServiceProvider();
            var requests = provider.GetRequiredKeyedService<IRequestClient>("bench");
            var trimmed = provider.GetRequiredKeyedService<IRequestClient>("bench-trimmed");
            var channel = provider.GetRequiredKeyedService<IChannel>("bench");
            var trimmedChannel = provider.GetRequiredKeyedService<IChannel>("bench-trimmed");
            var transport = (Transports.IIpcTransportClient)channel.GetService(typeof(Transports.IIpcTransportClient))!;
            var encoded = MessagePack.MessagePackSerializer.Serialize(s_payload, Serialization.MessagePackIpcSerializer.DefaultOptions);

            // Request/response: the baseline, the typed call, and two rows that show where the difference goes (the runtime
            // with the total timeout alone, and the endpoint's transport client called directly). Warmed up, then blocks of
            // each in turn, the order rotating from one round to the next so that none always follows the same one; a
            // block's ratio is to the baseline's block of the same round.
            var calls = new (string Name, Func<Task> Call)[]
            {
                ("raw RabbitMQ.Client", () => raw.RequestAsync(s_payload)),
                ("Ipc `RequestAsync` (defaults)", () => requests.RequestAsync<byte[], byte[]>("echo", s_payload).AsTask()),
                ("Ipc `RequestAsync`, `Resilience:Enabled=false`", () => trimmed.RequestAsync<byte[], byte[]>("echo", s_payload).AsTask()),
                ("the endpoint's transport client alone", () => transport.RequestAsync(new IpcMessage("echo", encoded) { ContentType = Serialization.MessagePackIpcSerializer.MediaType }, CancellationToken.None).AsTask()),
            };
            for (var i = 0; i < 500; i++)
            {
                foreach (var (_, call) in calls)
                {
                    await call();
                }
            }

            var times = calls.Select(_ => new List<double>()).ToArray();
            for (var block = 0; block < Blocks; block++)
            {
                for (var turn = 0; turn < calls.Length; turn++)
                {
                    var c = (turn + block) % calls.Length;
                    var watch = Stopwatch.StartNew();
                    for (var i = 0; i < CallsPerBlock; i++)
                    {
                        await calls[c].Call();
                    }

                    times[c].Add(watch.Elapsed.TotalMicroseconds / CallsPerBlock);
                }
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Request/response over direct reply-to, 64 B, {Blocks} blocks of {CallsPerBlock} calls each:"));
            output.WriteLine();
            output.WriteLine("| Call | Mean per call | Ratio of means | Ratio of blocks: median (p25 to p75) |");
            output.WriteLine("| --- | ---: | ---: | ---: |");
            for (var c = 0; c < calls.Length; c++)
            {
                var ratios = times[0].Zip(times[c], (r, i) => i / r).ToList();
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {calls[c].Name} | {times[c].Average():N0} us | {times[c].Average() / times[0].Average():N2} | {Median(ratios):N2} ({Percentile(ratios, 0.25):N2} to {Percentile(ratios, 0.75):N2}) |"));
            }

            output.WriteLine();
            output.WriteLine("| Benchmark | raw RabbitMQ.Client | Ipc | Ratio (Ipc / raw) |");
            output.WriteLine("| --- | ---: | ---: | ---: |");

            // Confirmed one-way publishing, alternated rounds: the baseline, Ipc, and Ipc without the standard pipeline (what
            // the pipeline costs the rate). A round ends when its consumer has handled every message, so none leaves work for
            // the next; it also reads the processor time it used until then, in this process (client and server) and in the
            // broker's node: on two cores shared with the broker, the rate is bound by that time.
            using var self = Process.GetCurrentProcess();
            using var broker = own?.ProcessId() is { } brokerId ? Process.GetProcessById(brokerId) : null;
            var senders = new (string Name, Func<Task> Send, Func<long> Consumed)[]
            {
                ("raw", () => raw.PublishConfirmedAsync(s_payload), () => raw.Consumed),
                ("Ipc", () => channel.SendAsync("note", s_payload).AsTask(), () => Volatile.Read(ref received)),
                ("Ipc with `Resilience:Enabled=false`", () => trimmedChannel.SendAsync("note", s_payload).AsTask(), () => Volatile.Read(ref received)),
            };
            var rounds = senders.Select(_ => new List<Round>()).ToArray();
            for (var round = 0; round < Rounds; round++)
            {
                for (var s = 0; s < senders.Length; s++)
                {
                    rounds[s].Add(await MeasureRoundAsync(senders[s].Send, senders[s].Consumed, self, broker));
                }
            }

            var rawRates = rounds[0].Select(r => r.Rate).ToList();
            for (var s = 1; s < senders.Length; s++)
            {
                var ratios = rawRates.Zip(rounds[s], (r, i) => i.Rate / r).ToList();
                var name = s == 1
                    ? $"Confirmed one-way, 64 B persistent to a quorum queue, {InFlight} in flight, msg/s (median of {Rounds} rounds of {MessagesPerRound:N0})"
                    : $"The same, {senders[s].Name}";
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {Median(rawRates):N0} | {Median(rounds[s].Select(r => r.Rate).ToList()):N0} | {Median(ratios):N2} (Ipc rate / raw rate, median of the rounds; p25 {Percentile(ratios, 0.25):N2}, p75 {Percentile(ratios, 0.75):N2}) |"));
            }

            string PerMessage(Func<Round, double> measure) => string.Join(", ", senders.Select((sender, s) =>
                string.Create(CultureInfo.InvariantCulture, $"{sender.Name} {Median(rounds[s].Select(measure).ToList()):N1} us")));
            output.WriteLine();
            output.WriteLine(
                $"Processor time per confirmed message (median of the rounds): this process (client and server) {PerMessage(r => r.Self)}; " +
                (broker is null ? "the broker's is not read (not a private node)." : $"the broker {PerMessage(r => r.Broker)}."));

            // What the rates do not show: bytes allocated per confirmed message in this process (client and server).
            Console.Error.WriteLine("confirmed one-way, allocated per message: " + string.Join(", ", senders.Select((sender, s) =>
                string.Create(CultureInfo.InvariantCulture, $"{sender.Name} {rounds[s].Sum(r => r.Bytes) / Rounds} B"))));
            await host.StopAsync();
        }
        finally
        {
            if (own is not null)
            {
                await own.DisposeAsync();
            }
        }
    }

    private static async Task Concurrently(int count, int inFlight, Func<Task> send)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, inFlight).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                await send();
            }
        })));
    }

    /// <summary>
    /// One round of <see cref="MessagesPerRound"/> confirmed sends, <see cref="InFlight"/> at a time: its rate (until the
    /// last confirm), and the processor time and bytes it cost per message until its consumer had handled every message,
    /// so that no round leaves work for the next one.
    /// </summary>
    private static async Task<Round> MeasureRoundAsync(Func<Task> send, Func<long> consumed, Process self, Process? broker)
    {
        var target = consumed() + MessagesPerRound;
        var bytes = GC.GetTotalAllocatedBytes(precise: false);
        var (selfBefore, brokerBefore) = Processor(self, broker);
        var watch = Stopwatch.StartNew();
        await Concurrently(MessagesPerRound, InFlight, send);
        var rate = MessagesPerRound / watch.Elapsed.TotalSeconds;
        while (consumed() < target)
        {
            if (watch.Elapsed > TimeSpan.FromMinutes(1))
            {
                throw new TimeoutException($"The consumer handled {MessagesPerRound - (target - consumed())} of the round's {MessagesPerRound} messages within a minute.");
            }

            await Task.Delay(1);
        }

        var (selfAfter, brokerAfter) = Processor(self, broker);
        return new Round(rate, (selfAfter - selfBefore) / MessagesPerRound, (brokerAfter - brokerBefore) / MessagesPerRound, (GC.GetTotalAllocatedBytes(precise: false) - bytes) / MessagesPerRound);
    }

    /// <summary>The processor time used so far by this process and by the broker's node (when it is a private one), in microseconds.</summary>
    private static (double Self, double Broker) Processor(Process self, Process? broker)
    {
        self.Refresh();
        broker?.Refresh();
        return (self.TotalProcessorTime.TotalMicroseconds, broker?.TotalProcessorTime.TotalMicroseconds ?? 0);
    }

    private static double Median(List<double> values) => Percentile(values, 0.5);

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted[(int)Math.Round(p * (sorted.Count - 1))];
    }

    /// <summary>What one round of confirmed sends measured: msg/s, and per message the processor time (us) of this process and of the broker, and the bytes allocated.</summary>
    private sealed record Round(double Rate, double Self, double Broker, long Bytes);

    /// <summary>
    /// The hand-written baseline: a RabbitMQ.Client server and client doing what the transport does, with messages that
    /// carry the same standard properties as the transport's (message_id, type, content_type, delivery mode; a request
    /// also correlation_id, reply_to and expiration), so the broker handles the same messages on both sides.
    /// </summary>
    private sealed class RawPair : IAsyncDisposable
    {
        private readonly ConcurrentDictionary<string, TaskCompletionSource<byte[]>> _pending = new();
        private readonly IConnection _serverConnection;
        private readonly IConnection _clientConnection;
        private readonly AmqpChannel _requests;
        private readonly AmqpChannel _confirms;
        private readonly string _name;
        private const string ContentType = "application/x-msgpack";
        private readonly string _idPrefix = Random.Shared.NextInt64().ToString("x16", CultureInfo.InvariantCulture);
        private long _sequence;
        private long _messages;
        private long _consumed;

        /// <summary>Gets how many one-way messages the raw consumer has acknowledged.</summary>
        public long Consumed => Volatile.Read(ref _consumed);

        private RawPair(IConnection server, IConnection client, AmqpChannel requests, AmqpChannel confirms, string name)
        {
            _serverConnection = server;
            _clientConnection = client;
            _requests = requests;
            _confirms = confirms;
            _name = name;
        }

        public static async Task<RawPair> StartAsync(string uri, string name)
        {
            var factory = new ConnectionFactory { Uri = new Uri(uri) };
            var server = await factory.CreateConnectionAsync();
            var serverRequests = await server.CreateChannelAsync();
            var serverNotes = await server.CreateChannelAsync();
            await serverRequests.BasicQosAsync(0, 64, false);
            await serverNotes.BasicQosAsync(0, 64, false);
            var expiry = new Dictionary<string, object?> { ["x-expires"] = 300_000 };
            await serverRequests.QueueDeclareAsync(name + ".requests", durable: false, exclusive: false, autoDelete: false, arguments: expiry);
            await serverNotes.QueueDeclareAsync(name + ".notes", durable: true, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?>(expiry) { ["x-queue-type"] = "quorum" });
            var echo = new AsyncEventingBasicConsumer(serverRequests);
            echo.ReceivedAsync += async (_, e) =>
            {
                var body = e.Body.ToArray();
                var request = e.BasicProperties;
                var props = new BasicProperties { MessageId = request.MessageId, Type = request.Type, ContentType = request.ContentType, CorrelationId = request.CorrelationId, DeliveryMode = DeliveryModes.Transient };
                await serverRequests.BasicPublishAsync(string.Empty, e.BasicProperties.ReplyTo!, false, props, body);
                await serverRequests.BasicAckAsync(e.DeliveryTag, false);
            };
            await serverRequests.BasicConsumeAsync(name + ".requests", false, echo);
            var client = await factory.CreateConnectionAsync();
            var requests = await client.CreateChannelAsync();
            var confirms = await client.CreateChannelAsync(new CreateChannelOptions(true, true));
            var pair = new RawPair(server, client, requests, confirms, name);
            var notes = new AsyncEventingBasicConsumer(serverNotes);
            notes.ReceivedAsync += async (_, e) =>
            {
                await serverNotes.BasicAckAsync(e.DeliveryTag, false);
                Interlocked.Increment(ref pair._consumed);
            };
            await serverNotes.BasicConsumeAsync(name + ".notes", false, notes);
            var replies = new AsyncEventingBasicConsumer(requests);
            replies.ReceivedAsync += (_, e) =>
            {
                if (pair._pending.TryRemove(e.BasicProperties.CorrelationId!, out var call))
                {
                    call.TrySetResult(e.Body.ToArray());
                }

                return Task.CompletedTask;
            };
            await requests.BasicConsumeAsync("amq.rabbitmq.reply-to", true, replies);
            return pair;
        }

        public async Task<byte[]> RequestAsync(byte[] body)
        {
            var id = Interlocked.Increment(ref _sequence).ToString(CultureInfo.InvariantCulture);
            var call = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[id] = call;
            var props = new BasicProperties { MessageId = NewMessageId(), Type = "echo", ContentType = ContentType, CorrelationId = id, ReplyTo = "amq.rabbitmq.reply-to", Expiration = "30000", DeliveryMode = DeliveryModes.Transient };
            await _requests.BasicPublishAsync(string.Empty, _name + ".requests", true, props, body);
            return await call.Task;
        }

        /// <summary>A message id as a careful publisher makes one: unique, 32 hex digits, without the cost of a random GUID.</summary>
        private string NewMessageId() => _idPrefix + Interlocked.Increment(ref _messages).ToString("x16", CultureInfo.InvariantCulture);

        /// <summary>Publishes one persistent message and waits for the broker's confirm.</summary>
        public Task PublishConfirmedAsync(byte[] body) =>
            _confirms.BasicPublishAsync(string.Empty, _name + ".notes", true, new BasicProperties { MessageId = NewMessageId(), Type = "note", ContentType = ContentType, DeliveryMode = DeliveryModes.Persistent }, body).AsTask();

        public async ValueTask DisposeAsync()
        {
            await _clientConnection.CloseAsync();
            await _serverConnection.CloseAsync();
            _clientConnection.Dispose();
            _serverConnection.Dispose();
        }
    }
}
