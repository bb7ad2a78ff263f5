using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Threading.Channels;
using Ipc.Diagnostics;
using Ipc.Transports;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Ipc.Http;

/// <summary>
/// The server side of one endpoint over HTTP, the same whether it is mapped into an app (<c>MapIpc</c>) or runs on the
/// transport's own Kestrel: maps <c>POST {base}/{route}</c> for every route, <c>GET {base}/health</c> and
/// <c>GET {base}/openapi.json</c>, and hands each request to the dispatcher.
/// </summary>
internal sealed partial class HttpIpcServer : IAsyncDisposable
{
    /// <summary>The OpenAPI document the endpoints of every mapped server belong to; each server serves its own paths of it.</summary>
    public const string OpenApiDocumentName = "ipc";

    private readonly IIpcDispatcher _dispatcher;
    private readonly HttpTransportOptions _options;
    private readonly IServiceProvider _services;
    private readonly BodyTranscoder _bodies;
    private readonly Dictionary<string, IpcRoute> _routes;
    private readonly Channel<(IpcMessage Message, int Size, long Arrived)> _oneWay;
    private readonly TimeProvider _time;
    private readonly IpcTransportTelemetry? _telemetry;
    private readonly object _queuedBytesGate = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _drainEnded = new(); // once the stop's DrainTimeout or token ends: the one-way handler is cancelled, the rest dropped
    private readonly CancellationTokenSource _stopCut = new(); // the token of any caller of StopAsync ended: the drain ends then
    private readonly TimeSpan _drainTimeout;
    private readonly Task _oneWayLoop;
    private Task<bool>? _stopped;
    private readonly ILogger _logger;
    private readonly bool _detailedErrors; // the endpoint's EnableDetailedErrors: health descriptions go to callers only then
    private long _queuedBytes; // the bodies of the accepted one-way messages, until their handler has run
    private TaskCompletionSource? _room; // set while senders wait for _queuedBytes to come under the limit

    /// <param name="dispatcher">The endpoint's dispatcher.</param>
    /// <param name="options">The endpoint's HTTP options.</param>
    /// <param name="services">The application's services.</param>
    /// <param name="basePath">The path the routes are under.</param>
    /// <param name="telemetry">Counts the accepted one-way messages a stopping server drops; <see langword="null"/> when the endpoint has no address to tag them with.</param>
    public HttpIpcServer(IIpcDispatcher dispatcher, HttpTransportOptions options, IServiceProvider services, string basePath, IpcTransportTelemetry? telemetry)
    {
        _dispatcher = dispatcher;
        _telemetry = telemetry;
        _options = options;
        _services = services;
        BasePath = basePath;
        _logger = services.GetService<ILoggerFactory>()?.CreateLogger("Ipc.Http") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _bodies = CreateTranscoder(services, dispatcher.EndpointName);
        var ipc = services.GetRequiredService<IOptions<IpcOptions>>().Value;
        _detailedErrors = (ipc.Endpoints.TryGetValue(dispatcher.EndpointName, out var endpoint) ? endpoint.EnableDetailedErrors : null) ?? ipc.EnableDetailedErrors;
        _drainTimeout = endpoint?.DrainTimeout ?? new IpcEndpointOptions().DrainTimeout;
        _routes = dispatcher.Routes.ToDictionary(r => r.Name, StringComparer.Ordinal);
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _oneWay = Channel.CreateBounded<(IpcMessage, int, long)>(new BoundedChannelOptions(options.MaxQueuedOneWayMessages) { SingleReader = false, FullMode = BoundedChannelFullMode.Wait }); // the loop, and a stop whose drain ended
        _oneWayLoop = Task.Run(RunOneWayLoopAsync);
    }

    /// <summary>Gets the path the routes are under: <c>""</c> or <c>/calculator</c>.</summary>
    public string BasePath { get; }

    public string EndpointName => _dispatcher.EndpointName;

    /// <summary>
    /// The base path of an endpoint's address: its path without a trailing slash (<c>http://host:5000/calc/</c> → <c>/calc</c>),
    /// unescaped as Kestrel unescapes a request's path (<c>/my%20calc</c> → <c>/my calc</c>), all but <c>%2F</c>, which it keeps.
    /// </summary>
    public static string BasePathOf(Uri address)
    {
        var path = address.AbsolutePath.TrimEnd('/');
        var unescaped = new System.Text.StringBuilder(path.Length);
        int start = 0, slash;
        while ((slash = path.IndexOf("%2F", start, StringComparison.OrdinalIgnoreCase)) >= 0)
        {
            unescaped.Append(Uri.UnescapeDataString(path[start..slash])).Append(path, slash, 3);
            start = slash + 3;
        }

        return unescaped.Append(Uri.UnescapeDataString(path[start..])).ToString();
    }

    /// <summary>Maps the server's endpoints into <paramref name="endpoints"/> and returns the group, so conventions apply to all of them.</summary>
    public RouteGroupBuilder Map(IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup(BasePath.Length == 0 ? "/" : BasePath.Replace("{", "{{", StringComparison.Ordinal).Replace("}", "}}", StringComparison.Ordinal));

        // ASP.NET Core matches literal paths ignoring case, and routes are ordinal names: two routes that differ only in
        // case would make every call of either ambiguous (500), so they are reached through the catch-all, which is exact.
        var alike = _dispatcher.Routes.GroupBy(r => r.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).SelectMany(g => g).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var route in _dispatcher.Routes)
        {
            if (!IsLiteral(route.Name) || alike.Contains(route.Name))
            {
                continue; // reached through the catch-all below
            }

            var builder = group.MapPost("/" + route.Name, (Delegate)((HttpContext context) => HandleAsync(context, AsSent(context, route.Name))));
            Describe(builder, route);
        }

        group.MapPost("/{**route}", (Delegate)((HttpContext context) => HandleAsync(context, (string?)context.GetRouteValue("route") ?? string.Empty)))
            .ExcludeFromDescription();
        if (_options.MapHealth)
        {
            group.MapGet("/health", (Delegate)((HttpContext context) => WriteHealthAsync(context))).ExcludeFromDescription();
        }

#if NET9_0_OR_GREATER
        if (_options.MapOpenApi)
        {
            group.MapGet("/openapi.json", (Delegate)((HttpContext context) => WriteOpenApiAsync(context))).ExcludeFromDescription();
        }
#endif

        return group;
    }

    /// <summary>
    /// Stops (once; a later call waits for the same stop): running request and stream handlers are cancelled and their
    /// callers answered <c>Unavailable</c>, no one-way message is accepted any more, and those already accepted are handled
    /// for the endpoint's <c>DrainTimeout</c> at most, or until <paramref name="cancellationToken"/> (that of this call or
    /// of any other) ends it sooner. Returns whether every one-way message accepted was handled.
    /// </summary>
    public Task<bool> StopAsync(CancellationToken cancellationToken = default)
    {
        Task<bool> stopped;
        lock (_queuedBytesGate)
        {
            stopped = _stopped ??= StopOnceAsync();
        }

        return cancellationToken.CanBeCanceled && !stopped.IsCompleted ? StopWithinAsync(stopped, cancellationToken) : stopped;
    }

    /// <summary>
    /// Waits for the stop, which <paramref name="cancellationToken"/> ends too: under <c>MapIpc</c> the app's stop begins it,
    /// and the host's stop token comes with a later call.
    /// </summary>
    private async Task<bool> StopWithinAsync(Task<bool> stopped, CancellationToken cancellationToken)
    {
        using (cancellationToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), _stopCut))
        {
            return await stopped.ConfigureAwait(false);
        }
    }

    private async Task<bool> StopOnceAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _oneWay.Writer.TryComplete();
        using (var grace = new CancellationTokenSource(_drainTimeout, _time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(grace.Token, _stopCut.Token))
        {
            try
            {
                await _oneWayLoop.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (linked.IsCancellationRequested)
            {
                // The drain is over: the handler running now has its token cancelled, and is not waited for.
            }
        }

        try
        {
            await _drainEnded.CancelAsync().ConfigureAwait(false);
        }
        catch (AggregateException)
        {
            // A callback registered on the handler's token threw; the drain ends regardless.
        }

        var dropped = 0;
        while (_oneWay.Reader.TryRead(out var queued))
        {
            dropped++;
            Handled(queued.Size);
            _telemetry?.MessagesDropped(queued.Message.Route, 1);
        }

        if (dropped > 0)
        {
            Log.OneWayDropped(_logger, EndpointName, dropped);
        }

        return _oneWayLoop.IsCompletedSuccessfully && dropped == 0;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>
    /// The route as the request names it: <paramref name="route"/>, or the same letters in another case (a literal path
    /// matches ignoring case), which then finds no handler, as on every other transport.
    /// </summary>
    private static string AsSent(HttpContext context, string route)
    {
        var path = context.Request.Path.Value.AsSpan().TrimEnd('/');
        return path.EndsWith(route, StringComparison.Ordinal) || path.Length < route.Length ? route : path[^route.Length..].ToString();
    }

    private static bool IsLiteral(string route) =>
        route.Length > 0 && route.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/' or '~') && !route.Contains("//", StringComparison.Ordinal) && route[0] != '/' && route[^1] != '/';

    private void Describe(RouteHandlerBuilder builder, IpcRoute route)
    {
        builder.WithName($"{EndpointName}.{route.Name}").WithGroupName(OpenApiDocumentName).WithTags(EndpointName);
        var native = _bodies.Native.ContentType;
        builder.Accepts(route.RequestType ?? typeof(byte[]), isOptional: false, HttpWire.JsonMediaType, native);
        switch (route.Kind)
        {
            case IpcRouteKind.Request:
                builder.Produces(StatusCodes.Status200OK, route.ResponseType ?? typeof(byte[]), HttpWire.JsonMediaType, native);
                break;
            case IpcRouteKind.Stream:
                builder.Produces(StatusCodes.Status200OK, route.ResponseType ?? typeof(byte[]), HttpWire.NdJsonMediaType, HttpWire.FramesMediaType);
                break;
            default:
                builder.Produces(StatusCodes.Status202Accepted);
                break;
        }

        foreach (var status in new[] { 400, 404, 406, 413, 415, 500, 503, 504 })
        {
            builder.Produces<HttpErrorBody>(status, HttpWire.JsonMediaType);
        }
    }

    private async Task HandleAsync(HttpContext context, string routeName)
    {
        try
        {
            await HandleCoreAsync(context, routeName).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The caller went away (or cancelled); the handler's token was cancelled with the request.
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            // The request itself is malformed (a bad chunk, a body shorter than its Content-Length, one sent too slowly):
            // the caller's fault, answered with Kestrel's status (400, 408) and its code, not 500 and an error in the log.
            var code = HttpWire.ErrorCode((System.Net.HttpStatusCode)ex.StatusCode) is var mapped && mapped != IpcErrorCode.Unknown ? mapped : IpcErrorCode.ProtocolError;
            await WriteFaultAsync(context, new IpcFault(code, $"The request for route '{routeName}' of endpoint '{EndpointName}' is malformed: {ex.Message}"), ex.StatusCode).ConfigureAwait(false);
        }
        catch (IOException ex) when (ex is not BadHttpRequestException)
        {
            // The caller went away while its request was read: over HTTP/2 a cancelled call resets its stream, which fails
            // the body's read ("The client reset the request stream") before Kestrel cancels RequestAborted. No one to answer.
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested && !context.Response.HasStarted)
        {
            await WriteFaultAsync(context, new IpcFault(IpcErrorCode.Unavailable, $"The server of endpoint '{EndpointName}' is stopping. Call again once it is back."), null).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && !context.Response.HasStarted)
        {
            Log.RequestFailed(_logger, EndpointName, routeName, ex);
            await WriteFaultAsync(context, new IpcFault(IpcErrorCode.Unknown, $"The server of endpoint '{EndpointName}' failed to answer route '{routeName}'; its log has the reason."), null).ConfigureAwait(false);
        }
    }

    private async Task HandleCoreAsync(HttpContext context, string routeName)
    {
        var request = context.Request;
        _routes.TryGetValue(routeName, out var route);
        var kind = (string?)request.Headers[HttpWire.CallHeader] switch
        {
            HttpWire.CallStream => IpcRouteKind.Stream,
            HttpWire.CallSend => IpcRouteKind.OneWay,
            HttpWire.CallRequest => IpcRouteKind.Request,
            _ => route?.Kind ?? IpcRouteKind.Request,
        };

        // What the body is: the endpoint's own format (or raw bytes), or JSON to turn into it.
        var bodyIsJson = false;
        var sentJson = false;
        string? contentType = null;
        var requestContentType = request.ContentType;
        if (string.Equals(requestContentType, _bodies.Native.ContentType, StringComparison.OrdinalIgnoreCase))
        {
            contentType = _bodies.Native.ContentType; // the Ipc client's case: nothing to parse
            sentJson = _bodies.NativeIsJson;
        }
        else if (!string.IsNullOrEmpty(requestContentType))
        {
            if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var media))
            {
                await WriteFaultAsync(context, new IpcFault(IpcErrorCode.Serialization, $"The Content-Type '{request.ContentType}' cannot be read. Send {_bodies.Native.ContentType} or {HttpWire.JsonMediaType}."), StatusCodes.Status415UnsupportedMediaType).ConfigureAwait(false);
                return;
            }

            var mediaType = media.MediaType.Value!;
            sentJson = BodyTranscoder.IsJson(mediaType);
            if (string.Equals(mediaType, _bodies.Native.ContentType, StringComparison.OrdinalIgnoreCase))
            {
                contentType = _bodies.Native.ContentType;
            }
            else if (BodyTranscoder.IsJson(mediaType) && (_bodies.NativeIsJson || route?.RequestType is not null || route is null))
            {
                bodyIsJson = !_bodies.NativeIsJson;
                contentType = _bodies.NativeIsJson ? _bodies.Native.ContentType : null;
            }
            else if (!string.Equals(mediaType, HttpWire.OctetStreamMediaType, StringComparison.OrdinalIgnoreCase))
            {
                var what = route is { RequestType: null } && BodyTranscoder.IsJson(mediaType)
                    ? $"Route '{routeName}' takes raw bytes, which JSON cannot describe: send them as {HttpWire.OctetStreamMediaType} or {_bodies.Native.ContentType}."
                    : $"The server cannot read a body of type '{mediaType}'. Send {_bodies.Native.ContentType} or {HttpWire.JsonMediaType}.";
                await WriteFaultAsync(context, new IpcFault(IpcErrorCode.Serialization, what), StatusCodes.Status415UnsupportedMediaType).ConfigureAwait(false);
                return;
            }
        }

        // What the caller reads: negotiated from Accept; with none, what it sent.
        var answerJson = NegotiateJson(request, kind, sentJson, out var acceptable);
        if (!acceptable || (answerJson && !_bodies.NativeIsJson && kind != IpcRouteKind.OneWay && route is { ResponseType: null }))
        {
            await WriteFaultAsync(context, new IpcFault(IpcErrorCode.Serialization, $"The server cannot answer route '{routeName}' with any type the Accept header '{request.Headers.Accept}' lists. Accept {_bodies.Native.ContentType}{(route is { ResponseType: null } && !_bodies.NativeIsJson ? string.Empty : " or " + HttpWire.JsonMediaType)}."), StatusCodes.Status406NotAcceptable).ConfigureAwait(false);
            return;
        }

        var body = await ReadBodyAsync(context).ConfigureAwait(false);
        if (body is null)
        {
            return; // answered 413
        }

        var message = new IpcMessage(routeName, body) { ContentType = contentType, RemoteAddress = Ipc.Peers.HttpPeer.Describe(context) };
        if (!ReadEnvelope(request, message, out var bad))
        {
            await WriteFaultAsync(context, new IpcFault(IpcErrorCode.ProtocolError, bad!), null).ConfigureAwait(false);
            return;
        }

        if (bodyIsJson && route?.RequestType is { } requestType)
        {
            try
            {
                message.Body = _bodies.FromJson(requestType, message.Body);
                message.ContentType = _bodies.Native.ContentType;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                await WriteFaultAsync(context, new IpcFault(IpcErrorCode.Serialization, $"The JSON body of route '{routeName}' could not be read as {requestType.Name}: {ex.Message}"), null).ConfigureAwait(false);
                return;
            }
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        switch (kind)
        {
            case IpcRouteKind.OneWay or IpcRouteKind.Subscription:
                if (route is not { Kind: IpcRouteKind.OneWay or IpcRouteKind.Subscription })
                {
                    // Accepted with 202, it would only be dropped once its turn came: the sender learns now.
                    await WriteFaultAsync(context, NoOneWayHandler(routeName, route), null).ConfigureAwait(false);
                    return;
                }

                if (message.Timeout <= TimeSpan.Zero)
                {
                    // Accepted with 202, it would only be dropped as late once its turn came: the sender learns now.
                    await WriteFaultAsync(context, new IpcFault(IpcErrorCode.Timeout, $"The one-way message for route '{routeName}' of endpoint '{EndpointName}' arrived with no time left ({HttpWire.TimeoutHeader}: {request.Headers[HttpWire.TimeoutHeader]}); it was not queued and its handler did not run."), null).ConfigureAwait(false);
                    return;
                }

                var size = message.Body.Length;
                var arrived = _time.GetTimestamp();
                await ReserveAsync(size, linked.Token).ConfigureAwait(false);
                try
                {
                    await _oneWay.Writer.WriteAsync((message, size, arrived), linked.Token).ConfigureAwait(false);
                }
                catch
                {
                    Handled(size);
                    throw;
                }

                context.Response.StatusCode = StatusCodes.Status202Accepted;
                context.Response.Headers[HttpWire.MessageIdHeader] = HttpWire.EncodeValue(message.MessageId);
                return;
            case IpcRouteKind.Stream:
                await StreamAsync(context, message, route, answerJson, linked.Token).ConfigureAwait(false);
                return;
            default:
                // Waits on the call's token too, so a handler that ignores it cannot hold the caller of a stopping server.
                var pending = _dispatcher.DispatchRequestAsync(message, linked.Token);
                var response = pending.IsCompletedSuccessfully ? pending.Result : await pending.AsTask().WaitAsync(linked.Token).ConfigureAwait(false);
                await WriteResponseAsync(context, response, route, answerJson).ConfigureAwait(false);
                return;
        }
    }

    private IpcFault NoOneWayHandler(string routeName, IpcRoute? route) => new(
        IpcErrorCode.NoHandler,
        route is null
            ? $"Endpoint '{EndpointName}' has no handler for route '{routeName}'."
            : $"Endpoint '{EndpointName}' has no handler for one-way messages on route '{routeName}': it is a {(route.Kind == IpcRouteKind.Stream ? "stream" : "request/response")} route. Call it with {(route.Kind == IpcRouteKind.Stream ? "StreamAsync" : "RequestAsync")} (Ipc-Call: {(route.Kind == IpcRouteKind.Stream ? HttpWire.CallStream : HttpWire.CallRequest)}).");

    private bool NegotiateJson(HttpRequest request, IpcRouteKind kind, bool sentJson, out bool acceptable)
    {
        acceptable = true;
        var header = request.Headers.Accept;
        if (header.Count == 0)
        {
            return sentJson;
        }

        if (header.Count == 1 && string.Equals(header[0], _bodies.Native.ContentType, StringComparison.OrdinalIgnoreCase))
        {
            return _bodies.NativeIsJson; // the Ipc client's case: nothing to parse
        }

        var accept = request.GetTypedHeaders().Accept;
        if (accept.Count == 0)
        {
            return sentJson;
        }

        foreach (var media in accept.OrderByDescending(m => m.Quality ?? 1))
        {
            if (media.Quality == 0)
            {
                continue;
            }

            var type = media.MediaType.Value ?? string.Empty;
            if (type is "*/*" or "application/*")
            {
                return sentJson;
            }

            if (BodyTranscoder.IsJson(type) || (kind == IpcRouteKind.Stream && string.Equals(type, HttpWire.NdJsonMediaType, StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }

            if (string.Equals(type, _bodies.Native.ContentType, StringComparison.OrdinalIgnoreCase)
                || string.Equals(type, HttpWire.OctetStreamMediaType, StringComparison.OrdinalIgnoreCase)
                || (kind == IpcRouteKind.Stream && string.Equals(type, HttpWire.FramesMediaType, StringComparison.OrdinalIgnoreCase)))
            {
                return _bodies.NativeIsJson;
            }
        }

        acceptable = false;
        return false;
    }

    /// <summary>
    /// How much of a body over the limit the server reads and drops before it answers 413, so that a client still sending
    /// it reads the answer instead of a reset connection, and the connection stays usable. A larger body is answered at once
    /// and its connection closed.
    /// </summary>
    private const long DrainLimit = 1024 * 1024;

    /// <summary>Reads the body, refusing one over the endpoint's limit before buffering it; <see langword="null"/> once 413 is answered.</summary>
    private async Task<byte[]?> ReadBodyAsync(HttpContext context)
    {
        var max = _dispatcher.MaxMessageSize;
        var declared = context.Request.ContentLength;
        var limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature ? feature : null;
        if (declared > max)
        {
            if (declared <= max + DrainLimit && limit is not null)
            {
                limit.MaxRequestBodySize = declared;
                await DrainAsync(context.Request.BodyReader, declared.Value, context.RequestAborted).ConfigureAwait(false);
            }

            await WriteTooLargeAsync(context, declared.Value).ConfigureAwait(false);
            return null;
        }

        if (limit is not null)
        {
            limit.MaxRequestBodySize = declared is null ? max + DrainLimit : max;
        }

        var reader = context.Request.BodyReader;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                await WriteTooLargeAsync(context, null).ConfigureAwait(false);
                return null;
            }

            var buffer = result.Buffer;
            if (buffer.Length > max)
            {
                reader.AdvanceTo(buffer.End);
                if (!result.IsCompleted)
                {
                    await DrainAsync(reader, max + DrainLimit - buffer.Length, context.RequestAborted).ConfigureAwait(false);
                }

                await WriteTooLargeAsync(context, null).ConfigureAwait(false);
                return null;
            }

            if (result.IsCompleted)
            {
                var body = buffer.ToArray();
                reader.AdvanceTo(buffer.End);
                return body;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Reads and drops up to <paramref name="budget"/> bytes of the body; the connection is closed if more follow.</summary>
    private static async Task DrainAsync(PipeReader reader, long budget, CancellationToken cancellationToken)
    {
        try
        {
            while (budget > 0)
            {
                var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                budget -= result.Buffer.Length;
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (BadHttpRequestException)
        {
            // Over even the drain limit: Kestrel closes the connection after the answer.
        }
    }

    private Task WriteTooLargeAsync(HttpContext context, long? declared) =>
        WriteFaultAsync(context, new IpcFault(IpcErrorCode.MessageTooLarge,
            $"The request body{(declared is null ? string.Empty : $" of {declared} bytes")} is larger than endpoint '{EndpointName}' accepts ({_dispatcher.MaxMessageSize} bytes, MaxMessageSize)."), null);

    private static bool ReadEnvelope(HttpRequest request, IpcMessage message, out string? bad)
    {
        bad = null;
        foreach (var (name, values) in request.Headers)
        {
            string? target = null;
            if (name.StartsWith(HttpWire.HeaderPrefix, StringComparison.OrdinalIgnoreCase) && name.Length > HttpWire.HeaderPrefix.Length)
            {
                target = name[HttpWire.HeaderPrefix.Length..];
            }
            else if (HttpWire.IsTraceHeader(name))
            {
                target = name.ToLowerInvariant();
            }
            else if (!name.Equals(HttpWire.MessageIdHeader, StringComparison.OrdinalIgnoreCase) && !name.Equals(HttpWire.CorrelationIdHeader, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var value = HttpWire.DecodeValue(values.ToString());
            if (value is null)
            {
                bad = $"The header {name} holds a malformed encoded value: write =?utf-8?b?<base64 of the UTF-8 text>?=.";
                return false;
            }

            if (target is not null)
            {
                message.Headers[target] = value;
            }
            else if (name.Equals(HttpWire.MessageIdHeader, StringComparison.OrdinalIgnoreCase))
            {
                if (value.Length > 0)
                {
                    message.MessageId = value;
                }
            }
            else
            {
                message.CorrelationId = value;
            }
        }

        if (request.Headers.TryGetValue(HttpWire.TimeoutHeader, out var timeout))
        {
            if (!HttpWire.TryParseTimeout(timeout.ToString(), out var left))
            {
                bad = $"The header {HttpWire.TimeoutHeader} is '{timeout}'; write the time the call has left in whole milliseconds, for example {HttpWire.TimeoutHeader}: 5000.";
                return false;
            }

            message.Timeout = left;
        }

        return true;
    }

    private static void WriteEnvelope(HttpResponse response, IpcMessage message)
    {
        response.Headers[HttpWire.MessageIdHeader] = HttpWire.EncodeValue(message.MessageId);
        if (message.CorrelationId is { } correlation)
        {
            response.Headers[HttpWire.CorrelationIdHeader] = HttpWire.EncodeValue(correlation);
        }

        if (message.HasHeaders)
        {
            foreach (var (name, value) in message.Headers)
            {
                if (HttpWire.IsToken(name))
                {
                    response.Headers[HttpWire.HeaderPrefix + name] = HttpWire.EncodeValue(value);
                }
            }
        }
    }

    private async Task WriteResponseAsync(HttpContext context, IpcMessage response, IpcRoute? route, bool answerJson)
    {
        if (response.Fault is { } fault)
        {
            await WriteFaultAsync(context, fault, null, response).ConfigureAwait(false);
            return;
        }

        var body = response.Body;
        var contentType = response.ContentType ?? HttpWire.OctetStreamMediaType;
        if (answerJson && !_bodies.NativeIsJson && route?.ResponseType is { } type)
        {
            try
            {
                body = _bodies.ToJson(type, body);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                await WriteFaultAsync(context, new IpcFault(IpcErrorCode.Serialization, $"The response of route '{route.Name}' could not be written as JSON ({type.Name}): {ex.Message} Accept {_bodies.Native.ContentType} instead."), StatusCodes.Status406NotAcceptable, response).ConfigureAwait(false);
                return;
            }

            contentType = HttpWire.JsonMediaType;
        }

        var http = context.Response;
        http.StatusCode = StatusCodes.Status200OK;
        http.ContentType = contentType;
        http.Headers.CacheControl = "no-store";
        WriteEnvelope(http, response);
        http.ContentLength = body.Length;
        await http.BodyWriter.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task StreamAsync(HttpContext context, IpcMessage request, IpcRoute? route, bool answerJson, CancellationToken cancellationToken)
    {
        // Each move waits on the call's token too, so a producer that ignores it cannot hold the caller of a stopping server.
        var items = new DispatchedStream(_dispatcher.DispatchStreamAsync(request, cancellationToken).GetAsyncEnumerator(cancellationToken));
        var writing = false; // items are in the response's buffer: a flush the stop cancels leaves them there, unsent, so no fault may follow as a body of its own
        try
        {
            if (!await items.MoveNextAsync(cancellationToken).ConfigureAwait(false))
            {
                StartStream(context, request, answerJson);
                return;
            }

            if (items.Current.Fault is { } first)
            {
                await WriteFaultAsync(context, first, null, items.Current).ConfigureAwait(false);
                return;
            }

            StartStream(context, request, answerJson);
            writing = true;
            var writer = context.Response.BodyWriter;
            var type = route?.ResponseType;
            do
            {
                var item = items.Current;
                if (item.Fault is { } fault)
                {
                    WriteStreamError(writer, fault, answerJson);
                }
                else if (answerJson)
                {
                    ReadOnlyMemory<byte> json;
                    try
                    {
                        json = _bodies.NativeIsJson || type is null ? item.Body : _bodies.ToJson(type, item.Body);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        WriteStreamError(writer, new IpcFault(IpcErrorCode.Serialization, $"An item of route '{request.Route}' could not be written as JSON ({type!.Name}): {ex.Message}"), answerJson: true);
                        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                        return;
                    }

                    WriteJsonLine(writer, json.Span);
                }
                else
                {
                    WriteFrame(writer, HttpWire.FrameItem, item.Body.Span);
                }

                await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            while (await items.MoveNextAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested && writing && !context.RequestAborted.IsCancellationRequested)
        {
            WriteStreamError(context.Response.BodyWriter, new IpcFault(IpcErrorCode.Unavailable, $"The server of endpoint '{EndpointName}' stopped during the stream."), answerJson);
            await context.Response.BodyWriter.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            await items.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void StartStream(HttpContext context, IpcMessage request, bool answerJson)
    {
        var http = context.Response;
        http.StatusCode = StatusCodes.Status200OK;
        http.ContentType = answerJson ? HttpWire.NdJsonMediaType : HttpWire.FramesMediaType;
        http.Headers[HttpWire.ItemContentTypeHeader] = answerJson ? HttpWire.JsonMediaType : _bodies.Native.ContentType;
        http.Headers.CacheControl = "no-store";
        http.Headers[HttpWire.MessageIdHeader] = HttpWire.EncodeValue(request.MessageId);
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    private static void WriteJsonLine(IBufferWriter<byte> writer, ReadOnlySpan<byte> json)
    {
        // {"item":<json>}\n — each line is a JSON object, so an item and the error that may end the stream never look alike.
        writer.Write("{\"item\":"u8);
        if (json.IndexOfAny((byte)'\n', (byte)'\r') < 0)
        {
            writer.Write(json);
        }
        else
        {
            using var document = System.Text.Json.JsonDocument.Parse(json.ToArray());
            using var compact = new System.Text.Json.Utf8JsonWriter(writer);
            document.WriteTo(compact);
        }

        writer.Write("}\n"u8);
    }

    private static void WriteFrame(IBufferWriter<byte> writer, byte kind, ReadOnlySpan<byte> payload)
    {
        var header = writer.GetSpan(5);
        header[0] = kind;
        BinaryPrimitives.WriteInt32BigEndian(header[1..], payload.Length);
        writer.Advance(5);
        writer.Write(payload);
    }

    private static void WriteStreamError(IBufferWriter<byte> writer, IpcFault fault, bool answerJson)
    {
        var error = new ArrayBufferWriter<byte>(256);
        HttpWire.WriteError(error, fault, withErrorCode: true);
        if (answerJson)
        {
            writer.Write(error.WrittenSpan);
            writer.Write("\n"u8);
        }
        else
        {
            WriteFrame(writer, HttpWire.FrameError, error.WrittenSpan);
        }
    }

    private async Task WriteFaultAsync(HttpContext context, IpcFault fault, int? status, IpcMessage? response = null)
    {
        var http = context.Response;
        if (http.HasStarted)
        {
            context.Abort();
            return;
        }

        http.StatusCode = status ?? HttpWire.StatusCode(fault.ErrorCode);
        http.ContentType = HttpWire.JsonMediaType;
        http.Headers.CacheControl = "no-store";
        http.Headers[HttpWire.ErrorCodeHeader] = fault.ErrorCode.ToString();
        if (response is not null)
        {
            WriteEnvelope(http, response);
        }

        var body = new ArrayBufferWriter<byte>(256);
        HttpWire.WriteError(body, fault, withErrorCode: false);
        http.ContentLength = body.WrittenCount;
        await http.BodyWriter.WriteAsync(body.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Handles the accepted one-way messages in order until the server stops and the queue is empty, or the stop's drain ends.</summary>
    private async Task RunOneWayLoopAsync()
    {
        var token = _drainEnded.Token;
        try
        {
            while (await _oneWay.Reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                if (token.IsCancellationRequested || !_oneWay.Reader.TryRead(out var queued))
                {
                    continue;
                }

                var (message, size, arrived) = queued;
                try
                {
                    if (message.Timeout is { } left && left <= LongestDeadline)
                    {
                        // The time it waited (for room, then for its turn) counts against its deadline: its handler gets
                        // what is left, and the dispatcher drops one whose time ran out meanwhile without running it.
                        message.Timeout = left - _time.GetElapsedTime(arrived);
                    }

                    await _dispatcher.DispatchOneWayAsync(message, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    // The drain ended while this handler ran, and the handler ended on its cancelled token: the message is
                    // not delivered, and is reported as the ones still queued are.
                    _telemetry?.MessagesDropped(message.Route, 1);
                    Log.OneWayHandlerCancelled(_logger, EndpointName, message.MessageId, message.Route);
                    throw;
                }
                finally
                {
                    Handled(size);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The drain ended: the stop drops what is still queued.
        }
    }

    /// <summary>Remaining times above this (about 24.8 days) are no deadline to the dispatcher, so they are not counted down.</summary>
    private static readonly TimeSpan LongestDeadline = TimeSpan.FromMilliseconds(int.MaxValue);

    /// <summary>
    /// Waits until the accepted one-way bodies are under <see cref="HttpTransportOptions.MaxQueuedOneWayBytes"/>, then counts
    /// <paramref name="size"/> in (so one message may take it past the limit, and the next sender waits).
    /// </summary>
    private async ValueTask ReserveAsync(int size, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task room;
            lock (_queuedBytesGate)
            {
                if (_queuedBytes < _options.MaxQueuedOneWayBytes)
                {
                    _queuedBytes += size;
                    return;
                }

                room = (_room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }

            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Counts a one-way body out once its handler has run (or it was never queued), and lets waiting senders on once there is room.</summary>
    private void Handled(int size)
    {
        TaskCompletionSource? room = null;
        lock (_queuedBytesGate)
        {
            _queuedBytes -= size;
            if (_queuedBytes < _options.MaxQueuedOneWayBytes)
            {
                (room, _room) = (_room, null);
            }
        }

        room?.TrySetResult();
    }

    private static BodyTranscoder CreateTranscoder(IServiceProvider services, string endpointName)
    {
        var ipc = services.GetRequiredService<IOptions<IpcOptions>>().Value;
        var serializerName = ipc.Endpoints.TryGetValue(endpointName, out var endpoint) && endpoint.Serializer is { } name ? name : ipc.Serializer;
        var native = services.GetRequiredKeyedService<IIpcSerializer>(serializerName);
        var json = services.GetRequiredKeyedService<IIpcSerializer>(IpcOptions.JsonSerializer);
        return new BodyTranscoder(native, json);
    }
}

/// <summary>The error body, for the OpenAPI document: <c>{ "error": { "code", "message", "details" } }</c>.</summary>
/// <param name="Error">The error.</param>
internal sealed record HttpErrorBody(HttpError Error);

/// <summary>What failed.</summary>
/// <param name="Code">The handler's code, or the <see cref="IpcErrorCode"/> name.</param>
/// <param name="Message">What went wrong and what to fix.</param>
/// <param name="Details">The handler's details.</param>
internal sealed record HttpError(string Code, string Message, IReadOnlyDictionary<string, string> Details);
