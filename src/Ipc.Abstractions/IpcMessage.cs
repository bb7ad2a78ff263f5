using System.Globalization;

namespace Ipc;

/// <summary>
/// The envelope every transport carries: a route, a message id, an optional correlation id, headers and an opaque body.
/// A response may carry a <see cref="Fault"/> instead of a body.
/// </summary>
/// <remarks>
/// The body is bytes the transport never looks into; typed calls fill it with the endpoint's serializer, raw calls
/// set it directly. Not thread-safe: build a message on one thread, then hand it over.
/// </remarks>
public sealed class IpcMessage
{
    private IpcHeaders? _headers;
    private string? _messageId;

    /// <summary>Creates a message for <paramref name="route"/> with <paramref name="body"/>; its message id is created on first use.</summary>
    public IpcMessage(string route, ReadOnlyMemory<byte> body = default)
    {
        ArgumentNullException.ThrowIfNull(route);
        Route = route;
        Body = body;
    }

    /// <summary>Gets or sets the route: which handler on the server receives the message.</summary>
    public string Route { get; set; }

    /// <summary>Gets or sets the message id (a new unique id unless set). A retried call keeps it, so a server can recognise a duplicate.</summary>
    /// <remarks>A response carries the message id of the request it answers.</remarks>
    public string MessageId
    {
        get => _messageId ??= NewMessageId();
        set
        {
            ArgumentException.ThrowIfNullOrEmpty(value);
            _messageId = value;
        }
    }

    /// <summary>Gets or sets the correlation id that ties together the messages of one conversation.</summary>
    public string? CorrelationId { get; set; }

    /// <summary>Gets the headers (created on first use).</summary>
    public IpcHeaders Headers => _headers ??= new IpcHeaders();

    /// <summary>Gets a value indicating whether the message has at least one header, without creating the collection.</summary>
    public bool HasHeaders => _headers is { Count: > 0 };

    /// <summary>Gets or sets the media type of the body (for example <c>application/x-msgpack</c>); <see langword="null"/> for raw bodies.</summary>
    /// <remarks>Transports carry it natively where they can (HTTP <c>Content-Type</c>, AMQP <c>content_type</c>), otherwise as the <c>content-type</c> header.</remarks>
    public string? ContentType { get; set; }

    /// <summary>Gets or sets the body.</summary>
    public ReadOnlyMemory<byte> Body { get; set; }

    /// <summary>Gets or sets the failure a response carries instead of a body; <see langword="null"/> on success.</summary>
    public IpcFault? Fault { get; set; }

    /// <summary>
    /// Gets or sets how long the call has left when the message is sent: the receiver's deadline is the moment the
    /// message arrives plus this time. <see langword="null"/> means no deadline.
    /// </summary>
    /// <remarks>
    /// The deadline travels as a remaining time, as gRPC's <c>grpc-timeout</c> does, so the clocks of the two machines
    /// need not agree; through a broker, where a message can wait in a queue that does not count its time down, the
    /// transport sends the deadline as a moment too, and the clocks must agree there (see the transport's documentation). The client sets it on each attempt of a request from the time the call has left (its
    /// attempt and total timeouts); a value the caller set on a raw message is kept when it is shorter, and is all a
    /// stream or one-way message carries (a stream's timeouts end at its first item, a send's once it is accepted). The server
    /// cancels the handler's token when the deadline passes and answers <see cref="IpcErrorCode.Timeout"/>, and does not
    /// run a request that arrives with <see cref="TimeSpan.Zero"/> or less. Responses do not carry it.
    /// </remarks>
    public TimeSpan? Timeout { get; set; }

    /// <summary>
    /// Gets or sets the settings of the call that sends this message (its timeout, whether it is idempotent), read by the
    /// client that sends it; never sent, like <c>HttpRequestMessage.Options</c>.
    /// </summary>
    /// <remarks>
    /// A typed call (<c>RequestAsync&lt;TRequest, TResponse&gt;</c>, <c>SendAsync&lt;TMessage&gt;</c>, ...) of a
    /// <see cref="DelegatingChannel"/> or <see cref="DelegatingRequestClient"/> builds its message and sets this, so a
    /// decorator that overrides the raw method sees those settings too. Its message id, correlation id and headers are
    /// already applied to the message. <see cref="Clone"/> does not copy it: a transport hands the server a copy, and
    /// the server sees only what travels.
    /// </remarks>
    public IpcCallOptions? CallOptions { get; set; }

    /// <summary>
    /// Gets or sets who sent this message, as the server's transport saw the peer (for example <c>127.0.0.1:52814</c> over
    /// TCP, <c>pid=4242 uid=1000</c> over a Unix socket); <see langword="null"/> when the transport has no peer to name
    /// (in-memory, a broker). Never sent: the server's transport sets it on the messages it hands to the dispatcher, and
    /// handlers read it as <see cref="IpcContext.RemoteAddress"/>.
    /// </summary>
    /// <remarks>
    /// Stream transports compute it once per connection and set the same string on every message of that connection.
    /// <see cref="Clone"/> does not copy it. Use it for logs and diagnostics, not to authorize a caller: only what the
    /// transport itself checked (peer credentials, a client certificate) is trustworthy.
    /// </remarks>
    public string? RemoteAddress { get; set; }

    /// <summary>Creates a new unique message id: 32 lower-case hex digits.</summary>
    /// <remarks>
    /// A random 64-bit prefix chosen once per process followed by a 64-bit counter: unique within the process by
    /// construction and across processes with overwhelming probability, at a fraction of the cost of a random GUID.
    /// </remarks>
    public static string NewMessageId()
    {
        var sequence = unchecked((ulong)Interlocked.Increment(ref s_sequence));
        return string.Create(32, sequence, static (span, sequence) =>
        {
            s_prefix.CopyTo(span);
            for (var i = 31; i >= 16; i--, sequence >>= 4)
            {
                span[i] = HexDigits[(int)(sequence & 0xF)]; // by hand: the general formatter costs more than the rest of the id
            }
        });
    }

    private const string HexDigits = "0123456789abcdef";
    private static readonly string s_prefix = BitConverter.ToUInt64(Guid.NewGuid().ToByteArray(), 0).ToString("x16", CultureInfo.InvariantCulture);
    private static long s_sequence;

    /// <summary>Creates a response to <paramref name="request"/>: same route, message id and correlation id.</summary>
    public static IpcMessage CreateResponse(IpcMessage request, ReadOnlyMemory<byte> body)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new IpcMessage(request.Route, body) { _messageId = request.MessageId, CorrelationId = request.CorrelationId };
    }

    /// <summary>Creates a failed response to <paramref name="request"/>: same route, message id and correlation id.</summary>
    public static IpcMessage CreateFault(IpcMessage request, IpcFault fault)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(fault);
        return new IpcMessage(request.Route) { _messageId = request.MessageId, CorrelationId = request.CorrelationId, Fault = fault };
    }

    /// <summary>Creates a copy with its own headers (the body, which is read-only, is shared), without <see cref="CallOptions"/> and <see cref="RemoteAddress"/>.</summary>
    public IpcMessage Clone()
    {
        var copy = new IpcMessage(Route, Body) { _messageId = MessageId, CorrelationId = CorrelationId, ContentType = ContentType, Fault = Fault, Timeout = Timeout };
        if (HasHeaders)
        {
            var headers = copy.Headers;
            foreach (var (name, value) in _headers!)
            {
                headers[name] = value;
            }
        }

        return copy;
    }
}
