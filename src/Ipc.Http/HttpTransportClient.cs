using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Text.Json;
using Ipc.Transports;

namespace Ipc.Http;

/// <summary>
/// The client side of an endpoint: each call is one HTTP request through the endpoint's named client of
/// <see cref="IHttpClientFactory"/> (<see cref="Microsoft.Extensions.DependencyInjection.HttpIpcBuilderExtensions.HttpClientName"/>).
/// </summary>
internal sealed class HttpTransportClient : IIpcTransportClient
{
    private static readonly MediaTypeWithQualityHeaderValue s_acceptJson = new(HttpWire.JsonMediaType);
    private static readonly MediaTypeWithQualityHeaderValue s_acceptNdJson = new(HttpWire.NdJsonMediaType);
    private static readonly MediaTypeWithQualityHeaderValue s_acceptFrames = new(HttpWire.FramesMediaType);
    private static readonly MediaTypeWithQualityHeaderValue s_acceptAny = new("*/*");

    /// <summary>The HTTP/2 error code HTTP_1_1_REQUIRED, from a server that serves HTTP/1.1 only on a cleartext endpoint.</summary>
    private const long Http11Required = 0xd;

    /// <summary>
    /// Up to this Content-Length a response's body is read into one array of its size; a longer one starts there and
    /// doubles as its bytes arrive, so that a server declaring MaxMessageSize and sending little makes the call hold little.
    /// </summary>
    private const int ExactBodyLength = 64 * 1024;

    private readonly IpcTransportContext _context;
    private readonly IHttpClientFactory _factory;
    private readonly string _clientName;
    private readonly Uri _base;
    private readonly Version _version;
    private readonly SemaphoreSlim _sends;
    private readonly ConcurrentDictionary<string, Uri> _uris = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, MediaTypeHeaderValue> _contentTypes = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, MediaTypeWithQualityHeaderValue> _accepts = new(StringComparer.OrdinalIgnoreCase);
    private readonly HttpClientTlsRefusals? _refusals;
    private volatile bool _disposed;
    private CachedClient? _client;

    public HttpTransportClient(IpcTransportContext context, HttpTransportOptions options, IHttpClientFactory factory, HttpClientTlsRefusals? refusals = null)
    {
        _context = context;
        _factory = factory;
        _refusals = refusals;
        _clientName = Microsoft.Extensions.DependencyInjection.HttpIpcBuilderExtensions.HttpClientName(context.EndpointName);
        var text = context.Address.GetLeftPart(UriPartial.Path);
        _base = new Uri(text.EndsWith('/') ? text : text + "/");
        _version = options.Protocol == HttpIpcProtocol.Http2 ? HttpVersion.Version20 : HttpVersion.Version11;
        _sends = new SemaphoreSlim(options.MaxConcurrentSends);
    }

    public async ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken)
    {
        using var http = Build(request, HttpWire.CallRequest);
        using var response = await SendCoreAsync(http, cancellationToken).ConfigureAwait(false);
        try
        {
            if (!response.IsSuccessStatusCode)
            {
                return IpcMessage.CreateFault(request, await ReadFaultAsync(response, cancellationToken).ConfigureAwait(false));
            }

            var body = await ReadBodyAsync(response.Content, cancellationToken).ConfigureAwait(false);
            var answer = IpcMessage.CreateResponse(request, body);
            answer.ContentType = response.Content.Headers.ContentType?.MediaType;
            ReadEnvelope(response, answer);
            return answer;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
        {
            throw Lost(ex);
        }
    }

    public async ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _sends.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var http = Build(message, HttpWire.CallSend);
            using var response = await SendCoreAsync(http, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw (await ReadFaultAsync(response, cancellationToken).ConfigureAwait(false)).ToException(_context.EndpointName);
            }
        }
        finally
        {
            _sends.Release();
        }
    }

    public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken) =>
        throw new IpcException(IpcErrorCode.NotSupported, $"The HTTP transport has no publish/subscribe (endpoint '{_context.EndpointName}'): use a broker transport for PublishAsync.") { Endpoint = _context.EndpointName };

    public async IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var http = Build(request, HttpWire.CallStream);
        using var response = await SendCoreAsync(http, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            yield return IpcMessage.CreateFault(request, await ReadFaultAsync(response, cancellationToken).ConfigureAwait(false));
            yield break;
        }

        var mediaType = response.Content.Headers.ContentType?.MediaType;
        var json = string.Equals(mediaType, HttpWire.NdJsonMediaType, StringComparison.OrdinalIgnoreCase);
        if (!json && !string.Equals(mediaType, HttpWire.FramesMediaType, StringComparison.OrdinalIgnoreCase))
        {
            // Not a stream (a proxy's or another app's page, say): its bytes read as frames would be nonsense kinds and lengths.
            yield return IpcMessage.CreateFault(request, new IpcFault(
                IpcErrorCode.ProtocolError,
                $"The server answered a stream call with {(mediaType is null ? "no content type" : "content type " + mediaType)}, not a stream ({HttpWire.FramesMediaType} or {HttpWire.NdJsonMediaType}): check that the address of endpoint '{_context.EndpointName}' is an Ipc server's."));
            yield break;
        }

        var itemType = response.Headers.TryGetValues(HttpWire.ItemContentTypeHeader, out var values) ? values.FirstOrDefault() : null;
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var reader = new StreamItemReader(stream, json, _context.MaxMessageSize, _context.EndpointName);
            while (true)
            {
                IpcMessage? item;
                try
                {
                    item = await reader.ReadAsync(request, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
                {
                    throw Lost(ex);
                }

                if (item is null)
                {
                    yield break;
                }

                if (item.Fault is null)
                {
                    item.ContentType = itemType;
                }

                yield return item;
                if (item.Fault is not null)
                {
                    yield break;
                }
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        // _sends is not disposed: sends on the way give their slot back once answered, and those waiting for one then fail
        // as disposed. A disposed SemaphoreSlim would fail the first after its message was accepted and strand the others.
        // It holds nothing to release (its wait handle is never asked for).
        _disposed = true;
        return default;
    }

    /// <summary>
    /// The URL of a route: the base address and the route's name, each segment escaped, so every route stays under the
    /// base path (a name that starts with a slash included: <c>/name</c> is <c>{base}//name</c>). A name a URL would
    /// resolve to another path (a <c>.</c> or <c>..</c> segment, which servers resolve even as <c>%2E</c>) is not sent.
    /// </summary>
    private Uri UriOf(string route)
    {
        var path = string.Join('/', route.Split('/').Select(Uri.EscapeDataString));
        var uri = new Uri(_base.AbsoluteUri + path);
        if (!string.Equals(uri.AbsolutePath, _base.AbsolutePath + path, StringComparison.Ordinal))
        {
            throw new IpcException(
                IpcErrorCode.NoHandler,
                $"The route '{route}' has a '.' or '..' segment, which URLs resolve away: over HTTP the call would go to {uri.AbsolutePath} rather than under {_base.AbsolutePath}, so it was not sent (endpoint '{_context.EndpointName}'). Route names have no '.' or '..' segment.")
            { Endpoint = _context.EndpointName, NotAccepted = true };
        }

        return uri;
    }

    private HttpRequestMessage Build(IpcMessage message, string call)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var uri = _uris.TryGetValue(message.Route, out var known) ? known : _uris.GetOrAdd(message.Route, static (route, client) => client.UriOf(route), this);
        var http = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Version = _version,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = Content(message.Body),
        };
        var contentType = message.ContentType;
        http.Content.Headers.ContentType = _contentTypes.GetOrAdd(contentType ?? HttpWire.OctetStreamMediaType, static t => new MediaTypeHeaderValue(t));
        var headers = http.Headers;
        headers.Accept.Add(call == HttpWire.CallStream
            ? BodyTranscoder.IsJson(contentType) ? s_acceptNdJson : s_acceptFrames
            : contentType is null ? s_acceptAny : BodyTranscoder.IsJson(contentType) ? s_acceptJson : _accepts.GetOrAdd(contentType, static t => new MediaTypeWithQualityHeaderValue(t)));
        headers.TryAddWithoutValidation(HttpWire.CallHeader, call);
        headers.TryAddWithoutValidation(HttpWire.MessageIdHeader, HttpWire.EncodeValue(message.MessageId));
        if (message.CorrelationId is { } correlation)
        {
            headers.TryAddWithoutValidation(HttpWire.CorrelationIdHeader, HttpWire.EncodeValue(correlation));
        }

        if (message.Timeout is { } timeout)
        {
            headers.TryAddWithoutValidation(HttpWire.TimeoutHeader, HttpWire.FormatTimeout(timeout));
        }

        if (message.HasHeaders)
        {
            foreach (var (name, value) in message.Headers)
            {
                if (!HttpWire.IsToken(name))
                {
                    http.Dispose();
                    throw new IpcException(IpcErrorCode.NotSupported, $"The header name '{name}' cannot travel over HTTP: use letters, digits and !#$%&'*+-.^_`|~ only.") { Endpoint = _context.EndpointName, NotAccepted = true };
                }

                headers.TryAddWithoutValidation(HttpWire.IsTraceHeader(name) ? name.ToLowerInvariant() : HttpWire.HeaderPrefix + name, HttpWire.EncodeValue(value));
            }
        }

        return http;
    }

    /// <summary>
    /// The body as <see cref="ByteArrayContent"/>, over the message's own array where it has one: SocketsHttpHandler sends
    /// a small byte-array body in the same write as the headers, so the server reads the request at once.
    /// </summary>
    private static ByteArrayContent Content(ReadOnlyMemory<byte> body) =>
        MemoryMarshal.TryGetArray(body, out var segment) && segment.Array is { } array
            ? new ByteArrayContent(array, segment.Offset, segment.Count)
            : new ByteArrayContent(body.ToArray());

    private async Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage http, CancellationToken cancellationToken)
    {
        var client = Client();
        try
        {
            return await client.SendAsync(http, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (Find<SocketException>(ex) is { SocketErrorCode: SocketError.ConnectionRefused })
        {
            throw new IpcException(IpcErrorCode.Unavailable, $"No server is listening on {_context.DisplayAddress} (endpoint '{_context.EndpointName}'). Start it, or check the address.", ex)
            {
                Endpoint = _context.EndpointName,
                NotAccepted = true,
            };
        }
        catch (HttpRequestException ex) when (Find<AuthenticationException>(ex) is { } tls)
        {
            var refusal = _refusals?.Last(_context.EndpointName);
            throw new IpcException(
                IpcErrorCode.Unauthorized,
                $"The TLS handshake with {_context.DisplayAddress} failed (endpoint '{_context.EndpointName}'): {(refusal is null ? tls.Message : $"this client refused the server's certificate: {refusal}.")} Check the certificates and Ipc:Transports:Http:Tls.",
                ex)
            {
                Endpoint = _context.EndpointName,
                NotAccepted = true,
            };
        }
        catch (HttpRequestException ex) when (Find<HttpProtocolException>(ex) is { ErrorCode: Http11Required })
        {
            throw new IpcException(IpcErrorCode.NotSupported, $"The server at {_context.DisplayAddress} speaks HTTP/1.1 only, and this client HTTP/2 (endpoint '{_context.EndpointName}'). Without TLS there is no negotiation: set Ipc:Transports:Http:Protocol alike on both sides.", ex)
            {
                Endpoint = _context.EndpointName,
                NotAccepted = true,
            };
        }
        catch (HttpRequestException ex)
        {
            throw Lost(ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IpcException(IpcErrorCode.Unavailable, string.Create(CultureInfo.InvariantCulture, $"Could not connect to {_context.DisplayAddress} within {_context.ConnectTimeout.TotalSeconds:0.###} s (endpoint '{_context.EndpointName}', ConnectTimeout)."), ex)
            {
                Endpoint = _context.EndpointName,
            };
        }
    }

    /// <summary>
    /// The endpoint's named client, created again from the factory once a minute: a call does not pay for a new client,
    /// and the factory still gets to rotate handlers (its default handler lifetime is two minutes).
    /// </summary>
    private HttpClient Client()
    {
        var now = _context.TimeProvider.GetTimestamp();
        var cached = _client;
        if (cached is null || _context.TimeProvider.GetElapsedTime(cached.Created, now) > ClientLifetime)
        {
            cached = new CachedClient(_factory.CreateClient(_clientName), now);
            _client = cached;
        }

        return cached.Client;
    }

    private static readonly TimeSpan ClientLifetime = TimeSpan.FromMinutes(1);

    private sealed record CachedClient(HttpClient Client, long Created);

    /// <summary>
    /// A call that failed on the connection: lost (<see cref="IpcErrorCode.Unavailable"/>, which may pass); or given a
    /// response that is no HTTP (<see cref="IpcErrorCode.ProtocolError"/>: another protocol's server, a broken one) or
    /// whose headers are over what the client reads (<see cref="IpcErrorCode.MessageTooLarge"/>), which another try
    /// would only get again.
    /// </summary>
    private IpcException Lost(Exception ex)
    {
        if (ResponseHeaderLimit.Find(ex) is { } limit)
        {
            return new(IpcErrorCode.MessageTooLarge, $"The response of {_context.DisplayAddress} is over what this client reads (endpoint '{_context.EndpointName}'): {limit.Message} A message's headers travel as HTTP headers: have the handler answer with fewer or smaller ones.", ex) { Endpoint = _context.EndpointName };
        }

        return IsMalformed(ex)
            ? new(IpcErrorCode.ProtocolError, $"The server at {_context.DisplayAddress} sent a malformed HTTP response (endpoint '{_context.EndpointName}'): {ex.Message} Check that the address is an Ipc HTTP server's.", ex) { Endpoint = _context.EndpointName }
            : new(IpcErrorCode.Unavailable, $"The connection to {_context.DisplayAddress} failed during the call (endpoint '{_context.EndpointName}'): {ex.Message}", ex) { Endpoint = _context.EndpointName };
    }

    /// <summary>Whether HttpClient says the response was malformed.</summary>
    private static bool IsMalformed(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.InvalidResponse } or HttpIOException { HttpRequestError: HttpRequestError.InvalidResponse })
            {
                return true;
            }
        }

        return false;
    }

    private static T? Find<T>(Exception ex)
        where T : Exception
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }

        return null;
    }

    private async Task<byte[]> ReadBodyAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var max = _context.MaxMessageSize;
        if (content.Headers.ContentLength is { } length)
        {
            if (length > max)
            {
                throw TooLarge(length);
            }

            // Memory follows the bytes that arrive, not what the server declares: a body past the first array grows it.
            var body = new byte[Math.Min(length, ExactBodyLength)];
            var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var read = 0;
                while (true)
                {
                    read += await stream.ReadAtLeastAsync(body.AsMemory(read), body.Length - read, throwOnEndOfStream: true, cancellationToken).ConfigureAwait(false);
                    if (read == length)
                    {
                        return body;
                    }

                    Array.Resize(ref body, (int)Math.Min(length, 2L * body.Length));
                }
            }
        }

        var source = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (source.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await source.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > max)
                {
                    throw TooLarge(null);
                }

                buffer.Write(chunk, 0, read);
            }

            return buffer.ToArray();
        }
    }

    private IpcException TooLarge(long? length) =>
        new(IpcErrorCode.MessageTooLarge, $"The response{(length is null ? string.Empty : $" of {length} bytes")} is larger than this client accepts ({_context.MaxMessageSize} bytes, MaxMessageSize of endpoint '{_context.EndpointName}').") { Endpoint = _context.EndpointName };

    private async Task<IpcFault> ReadFaultAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        IpcErrorCode? code = response.Headers.TryGetValues(HttpWire.ErrorCodeHeader, out var values) && HttpWire.TryParseCode(values.FirstOrDefault(), out var named) ? named : null;
        byte[] body;
        try
        {
            body = await ReadBodyAsync(response.Content, cancellationToken).ConfigureAwait(false);
        }
        catch (IpcException)
        {
            body = [];
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
        {
            throw Lost(ex); // as for a request's answer: a one-way message's or a stream's must not pass it on unmapped
        }

        // Without Ipc-Error-Code the answer is not an Ipc server's (a proxy's, the app's own middleware's): a status with a
        // code of its own (401, 404, 429, 503, another 4xx...) says what failed, whatever "code" its body names (a gateway's
        // "ServiceUnavailable" is no handler's error), and its message is kept; a status that says nothing more (500) leaves
        // the body's code to say it, as a handler's error behind a proxy that drops the header.
        var byStatus = HttpWire.ErrorCode(response.StatusCode);
        IpcErrorCode? known = code ?? (byStatus == IpcErrorCode.Unknown ? null : byStatus);
        var fault = body.Length > 0 && BodyTranscoder.IsJson(response.Content.Headers.ContentType?.MediaType) ? HttpWire.ReadError(body, known) : null;
        if (fault is not null && (code is not null || known is null))
        {
            return fault;
        }

        var resolved = known ?? byStatus;
        if (fault is { Message.Length: > 0 })
        {
            return new IpcFault(resolved, $"The server answered {(int)response.StatusCode} {response.ReasonPhrase} (endpoint '{_context.EndpointName}'): {fault.Message}");
        }

        var what = code is not null
            ? $"The server answered {(int)response.StatusCode} {response.ReasonPhrase} (endpoint '{_context.EndpointName}')."
            : (int)response.StatusCode switch
            {
                404 => $"Nothing answers POST {response.RequestMessage?.RequestUri} (404): check the base path of the address of endpoint '{_context.EndpointName}'.",
                >= 300 and < 400 => $"The server redirected the call to {response.Headers.Location?.ToString() ?? "no location"} ({(int)response.StatusCode} {response.ReasonPhrase}); the client follows no redirect: set the address of endpoint '{_context.EndpointName}' to where the server is.",
                _ => $"The server answered {(int)response.StatusCode} {response.ReasonPhrase} (endpoint '{_context.EndpointName}').",
            };
        return new IpcFault(resolved, what);
    }

    private static void ReadEnvelope(HttpResponseMessage response, IpcMessage message)
    {
        foreach (var (name, values) in response.Headers.NonValidated) // as received: no parsing of headers that are not ours
        {
            if (name.StartsWith(HttpWire.HeaderPrefix, StringComparison.OrdinalIgnoreCase) && name.Length > HttpWire.HeaderPrefix.Length
                && HttpWire.DecodeValue(values.ToString()) is { } value)
            {
                message.Headers[name[HttpWire.HeaderPrefix.Length..]] = value;
            }
        }
    }

    /// <summary>Reads the items of a stream response: <c>{"item":...}</c> lines, or frames of a kind byte, a big-endian length and the payload.</summary>
    private sealed class StreamItemReader(Stream stream, bool json, int maxMessageSize, string endpoint)
    {
        private readonly byte[] _header = new byte[5];
        private byte[] _buffer = new byte[4096];
        private int _start;
        private int _end;

        public async ValueTask<IpcMessage?> ReadAsync(IpcMessage request, CancellationToken cancellationToken)
        {
            if (!json)
            {
                if (!await FillAsync(_header, cancellationToken).ConfigureAwait(false))
                {
                    return null;
                }

                var kind = _header[0];
                var length = BinaryPrimitives.ReadInt32BigEndian(_header.AsSpan(1));
                if (kind is not (HttpWire.FrameItem or HttpWire.FrameError) || length < 0)
                {
                    return IpcMessage.CreateFault(request, new IpcFault(IpcErrorCode.ProtocolError, $"The server sent a stream frame of kind {kind} and length {length}; this client reads items (kind 0) and errors (kind 1) of a length of 0 or more."));
                }

                if (length > maxMessageSize)
                {
                    throw new IpcException(IpcErrorCode.MessageTooLarge, $"A stream item of {length} bytes is larger than this client accepts ({maxMessageSize} bytes, MaxMessageSize of endpoint '{endpoint}').") { Endpoint = endpoint };
                }

                var payload = new byte[length];
                if (!await FillAsync(payload, cancellationToken).ConfigureAwait(false))
                {
                    throw new IOException("The stream response ended inside a frame.");
                }

                return kind == HttpWire.FrameError
                    ? IpcMessage.CreateFault(request, HttpWire.ReadError(payload, null) ?? new IpcFault(IpcErrorCode.ProtocolError, "The server ended the stream with an error frame this client cannot read."))
                    : IpcMessage.CreateResponse(request, payload);
            }

            var line = await ReadLineAsync(cancellationToken).ConfigureAwait(false);
            if (line is null)
            {
                return null;
            }

            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException ex)
            {
                return IpcMessage.CreateFault(request, new IpcFault(IpcErrorCode.ProtocolError, $"The server sent a stream line that is not JSON: {ex.Message}"));
            }

            using (document)
            {
                if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("item", out var item))
                {
                    return IpcMessage.CreateResponse(request, JsonSerializer.SerializeToUtf8Bytes(item));
                }
            }

            return IpcMessage.CreateFault(request, HttpWire.ReadError(line, null) ?? new IpcFault(IpcErrorCode.ProtocolError, "The server sent a stream line that is neither an item nor an error."));
        }

        private async ValueTask<bool> FillAsync(byte[] target, CancellationToken cancellationToken)
        {
            var filled = 0;
            while (filled < target.Length)
            {
                var read = await stream.ReadAsync(target.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    if (filled == 0)
                    {
                        return false;
                    }

                    throw new IOException("The stream response ended inside a frame.");
                }

                filled += read;
            }

            return true;
        }

        private async ValueTask<byte[]?> ReadLineAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (newline >= 0)
                {
                    var line = _buffer.AsSpan(_start, newline - _start).ToArray();
                    _start = newline + 1;
                    return line;
                }

                if (_end - _start > maxMessageSize + 64)
                {
                    throw new IpcException(IpcErrorCode.MessageTooLarge, $"A stream line is larger than this client accepts ({maxMessageSize} bytes, MaxMessageSize of endpoint '{endpoint}').") { Endpoint = endpoint };
                }

                if (_start > 0)
                {
                    Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }

                if (_end == _buffer.Length)
                {
                    Array.Resize(ref _buffer, _buffer.Length * 2);
                }

                var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return _end > _start ? throw new IOException("The stream response ended inside a line.") : null;
                }

                _end += read;
            }
        }
    }
}
