using System.Diagnostics;
using System.Runtime.CompilerServices;
using Ipc.Diagnostics;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ipc.Server;

/// <summary>Routes incoming messages of one endpoint to its handlers and turns every failure into a fault.</summary>
internal sealed partial class IpcDispatcher : IIpcDispatcher
{
    private static readonly AsyncLocal<IpcContext?> s_current = new();

    private readonly EndpointRuntime _endpoint;
    private readonly IpcServerDefinition _server;
    private readonly IServiceScopeFactory _scopes;
    private readonly ILogger _logger;
    private readonly DuplicateFilter? _duplicates;
    private readonly TimeProvider _time;

    public IpcDispatcher(EndpointRuntime endpoint, IpcServerDefinition server, IServiceScopeFactory scopes, ILogger logger)
    {
        _endpoint = endpoint;
        _server = server;
        _scopes = scopes;
        _logger = logger;
        ServiceName = server.ServiceName ?? endpoint.Name;
        _duplicates = server.DuplicateFilterCapacity > 0 ? new DuplicateFilter(server.DuplicateFilterCapacity) : null;
        _time = endpoint.TransportContext.TimeProvider;
    }

    /// <summary>Gets the context of the call being handled on this async flow, if any.</summary>
    public static IpcContext? CurrentContext => s_current.Value;

    public string EndpointName => _endpoint.Name;

    public int MaxMessageSize => _endpoint.Options.MaxMessageSize;

    /// <summary>Gets the subscriber identity: the name set with <c>WithServiceName</c>, else what the creator chose (the application's name), else the endpoint's.</summary>
    public string ServiceName { get; init; }

    public IReadOnlyList<IpcRoute> Routes => _server.RouteTable;

    public ValueTask<IpcMessage> DispatchRequestAsync(IpcMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _duplicates is null ? DispatchRequestCoreAsync(request, cancellationToken) : DispatchRequestOnceAsync(_duplicates, request, cancellationToken);
    }

    /// <summary>Runs the handler once per message id in the duplicate filter's window; a duplicate gets the first response.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IpcMessage> DispatchRequestOnceAsync(DuplicateFilter duplicates, IpcMessage request, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (duplicates.Begin(request.MessageId, out var owner) is { } first)
            {
                try
                {
                    var response = await first.WaitAsync(cancellationToken).ConfigureAwait(false);
                    Log.DuplicateRequest(_logger, request.MessageId, request.Route, _endpoint.Name);
                    return response.Clone(); // every response handed out is the transport's own
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    continue; // the first delivery was cancelled before it answered: handle this one
                }
            }

            try
            {
                var response = await DispatchRequestCoreAsync(request, cancellationToken).ConfigureAwait(false);
                if (response.Fault is { ErrorCode: IpcErrorCode.Timeout })
                {
                    duplicates.Abandon(request.MessageId, owner!); // out of time, not answered: a retry with time left runs it
                    return response;
                }

                var kept = response.Clone(); // the window keeps a copy no caller can change
                if (kept.Body.Span.Overlaps(request.Body.Span))
                {
                    kept.Body = kept.Body.ToArray(); // a raw handler answered with the request's bytes, which are the transport's only until this call completes
                }

                DuplicateFilter.Complete(owner!, kept);
                return response;
            }
            catch
            {
                duplicates.Abandon(request.MessageId, owner!);
                throw;
            }
        }
    }

    // Calls nobody observes go straight to their handler, without the extra async step the telemetry takes.
    private ValueTask<IpcMessage> DispatchRequestCoreAsync(IpcMessage request, CancellationToken cancellationToken) =>
        _endpoint.Telemetry.IsServerObserved(IpcOperation.Request) ? DispatchRequestObservedAsync(request, cancellationToken) : HandleRequestAsync(request, cancellationToken);

    private async ValueTask<IpcMessage> DispatchRequestObservedAsync(IpcMessage request, CancellationToken cancellationToken)
    {
        var telemetry = _endpoint.Telemetry;
        var started = EndpointTelemetry.Start(telemetry.Metrics.ServerRequestDuration); // no clock reads while nothing listens
        using var activity = telemetry.StartServer(request, IpcOperation.Request);
        telemetry.Count(telemetry.Metrics.ServerReceivedMessages, telemetry.Metrics.ServerReceivedBytes, IpcOperation.Request, request.Route, 1, request.Body.Length);
        IpcMessage? response = null;
        try
        {
            response = await HandleRequestAsync(request, cancellationToken).ConfigureAwait(false);
            return response;
        }
        finally
        {
            var fault = response?.Fault;
            if (fault is not null)
            {
                IpcDiagnostics.SetError(activity, fault.ErrorCode.ToString(), fault.Message);
            }
            else if (response is not null)
            {
                telemetry.Count(telemetry.Metrics.ServerSentMessages, telemetry.Metrics.ServerSentBytes, IpcOperation.Request, request.Route, 1, response.Body.Length);
            }

            // A call the transport cancelled (its client went away) has no response: its error is the cancellation.
            telemetry.RecordDuration(telemetry.Metrics.ServerRequestDuration, started, IpcOperation.Request, request.Route, fault?.ErrorCode.ToString() ?? (response is null ? typeof(OperationCanceledException).FullName : null));
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IpcMessage> HandleRequestAsync(IpcMessage request, CancellationToken cancellationToken)
    {
        if (Check(request, RouteKind.Request, out var entry) is { } rejected)
        {
            return IpcMessage.CreateFault(request, rejected);
        }

        if (CallDeadline.ArrivedExpired(request))
        {
            return IpcMessage.CreateFault(request, ArrivedLate(request));
        }

        using var deadline = CallDeadline.Start(request, cancellationToken, _time);
        var services = new CallServices(_scopes);
        await using var _ = services.ConfigureAwait(false);
        var context = new IpcContext(_endpoint.Name, request, services);
        s_current.Value = context;
        ReadOnlyMemory<byte> body;
        try
        {
            body = await entry.Request!(request, context, _endpoint.Serializer, deadline?.Token ?? cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException) when (deadline is { Passed: true })
        {
            return IpcMessage.CreateFault(request, DeadlinePassed(request, deadline.Timeout));
        }
        catch (Exception ex)
        {
            return IpcMessage.CreateFault(request, ToFault(request, ex));
        }

        if (body.Length > MaxMessageSize)
        {
            return IpcMessage.CreateFault(request, new IpcFault(
                IpcErrorCode.MessageTooLarge,
                $"The response of route '{request.Route}' is {body.Length} bytes, over the {MaxMessageSize}-byte MaxMessageSize of endpoint '{_endpoint.Name}'."));
        }

        var response = IpcMessage.CreateResponse(request, body);
        response.ContentType = _endpoint.Serializer.ContentType;
        if (context.HasResponseHeaders)
        {
            foreach (var (name, value) in context.ResponseHeaders)
            {
                response.Headers[name] = value;
            }
        }

        return response;
    }

    public ValueTask<IpcOneWayOutcome> DispatchOneWayAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return _endpoint.Telemetry.IsServerObserved(IpcOperation.Process) ? DispatchOneWayObservedAsync(message, cancellationToken) : HandleOneWayAsync(message, cancellationToken);
    }

    private async ValueTask<IpcOneWayOutcome> DispatchOneWayObservedAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        var telemetry = _endpoint.Telemetry;
        var started = EndpointTelemetry.Start(telemetry.Metrics.ServerProcessDuration);
        using var activity = telemetry.StartServer(message, IpcOperation.Process);
        telemetry.Count(telemetry.Metrics.ServerReceivedMessages, telemetry.Metrics.ServerReceivedBytes, IpcOperation.Process, message.Route, 1, message.Body.Length);
        IpcOneWayOutcome? outcome = null;
        try
        {
            outcome = await HandleOneWayAsync(message, cancellationToken).ConfigureAwait(false);
            return outcome.Value;
        }
        finally
        {
            var fault = outcome?.Fault;
            if (fault is not null)
            {
                IpcDiagnostics.SetError(activity, fault.ErrorCode.ToString(), fault.Message);
            }

            telemetry.RecordDuration(telemetry.Metrics.ServerProcessDuration, started, IpcOperation.Process, message.Route, fault?.ErrorCode.ToString() ?? (outcome is null ? typeof(OperationCanceledException).FullName : null));
        }
    }

    private async ValueTask<IpcOneWayOutcome> HandleOneWayAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        if (_duplicates is null)
        {
            return await HandleOneWayOnceAsync(message, cancellationToken).ConfigureAwait(false);
        }

        if (_duplicates.IsDuplicate(message.MessageId))
        {
            Log.DuplicateDropped(_logger, message.MessageId, message.Route, _endpoint.Name);
            return IpcOneWayOutcome.Success; // its first delivery was handled
        }

        var handled = false;
        try
        {
            var outcome = await HandleOneWayOnceAsync(message, cancellationToken).ConfigureAwait(false);
            handled = outcome.Succeeded;
            return outcome;
        }
        finally
        {
            if (!handled)
            {
                _duplicates.Forget(message.MessageId); // not handled: a broker's next delivery of it is no duplicate
            }
        }
    }

    private async ValueTask<IpcOneWayOutcome> HandleOneWayOnceAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        if ((Check(message, RouteKind.OneWay, out var entry) ?? (CallDeadline.ArrivedExpired(message) ? ArrivedLate(message) : null)) is { } rejected)
        {
            return NotDelivered(message, rejected, null);
        }

        using var deadline = CallDeadline.Start(message, cancellationToken, _time);
        var services = new CallServices(_scopes);
        await using var _ = services.ConfigureAwait(false);
        var context = new IpcContext(_endpoint.Name, message, services);
        s_current.Value = context;
        try
        {
            await entry.OneWay!(message, context, _endpoint.Serializer, deadline?.Token ?? cancellationToken).ConfigureAwait(false);
            return IpcOneWayOutcome.Success;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex) when (deadline is { Passed: true })
        {
            return NotDelivered(message, DeadlinePassed(message, deadline.Timeout), ex);
        }
        catch (Exception ex)
        {
            return NotDelivered(message, ToFault(message, ex), ex);
        }
    }

    /// <summary>Logs and counts a one-way message that was not handled, and returns its outcome.</summary>
    private IpcOneWayOutcome NotDelivered(IpcMessage message, IpcFault fault, Exception? exception)
    {
        Log.MessageFailed(_logger, _endpoint.Name, message.Route, message.MessageId, message.RemoteAddress ?? Log.UnknownPeer, fault.Message, exception);
        _endpoint.Telemetry.CountDropped(message.Route, 1);
        return IpcOneWayOutcome.Failure(fault);
    }

    public IAsyncEnumerable<IpcMessage> DispatchStreamAsync(IpcMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _endpoint.Telemetry.IsServerObserved(IpcOperation.Stream) ? DispatchStreamObservedAsync(request, cancellationToken) : HandleStreamAsync(request, cancellationToken);
    }

    private async IAsyncEnumerable<IpcMessage> DispatchStreamObservedAsync(IpcMessage request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var telemetry = _endpoint.Telemetry;
        var started = EndpointTelemetry.Start(telemetry.Metrics.ServerStreamDuration);
        using var activity = telemetry.StartServer(request, IpcOperation.Stream);
        telemetry.Count(telemetry.Metrics.ServerReceivedMessages, telemetry.Metrics.ServerReceivedBytes, IpcOperation.Stream, request.Route, 1, request.Body.Length);
        string? errorType = typeof(OperationCanceledException).FullName; // until the stream ends or faults: a stream the transport cancelled
        try
        {
            await foreach (var item in HandleStreamAsync(request, cancellationToken).ConfigureAwait(false))
            {
                if (item.Fault is { } fault)
                {
                    errorType = fault.ErrorCode.ToString();
                    IpcDiagnostics.SetError(activity, errorType, fault.Message);
                }
                else
                {
                    telemetry.Count(telemetry.Metrics.ServerSentMessages, telemetry.Metrics.ServerSentBytes, IpcOperation.Stream, request.Route, 1, item.Body.Length);
                }

                yield return item;
            }

            if (activity?.Status != ActivityStatusCode.Error && errorType == typeof(OperationCanceledException).FullName)
            {
                errorType = null; // ended without a fault
            }
        }
        finally
        {
            telemetry.RecordDuration(telemetry.Metrics.ServerStreamDuration, started, IpcOperation.Stream, request.Route, errorType);
        }
    }

    private async IAsyncEnumerable<IpcMessage> HandleStreamAsync(IpcMessage request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if ((Check(request, RouteKind.Stream, out var entry) ?? (CallDeadline.ArrivedExpired(request) ? ArrivedLate(request) : null)) is { } rejected)
        {
            yield return IpcMessage.CreateFault(request, rejected);
            yield break;
        }

        using var deadline = CallDeadline.Start(request, cancellationToken, _time);
        var outer = cancellationToken;
        cancellationToken = deadline?.Token ?? cancellationToken; // the handler's token: its deadline passes, or the transport cancels
        var services = new CallServices(_scopes);
        await using var _ = services.ConfigureAwait(false);
        var context = new IpcContext(_endpoint.Name, request, services);
        s_current.Value = context;

        // Each item is asked for on the flow of whoever reads the stream, which lacks what this method set on its own flow
        // before its first item: the handler's context and its server span, put back before every item so the calls and
        // spans a handler makes after its first item carry its correlation id and trace as those before it do.
        var span = Activity.Current;
        IAsyncEnumerator<ReadOnlyMemory<byte>>? items = null;
        try
        {
            IpcFault? fault = null;
            try
            {
                items = entry.Stream!(request, context, _endpoint.Serializer, cancellationToken).GetAsyncEnumerator(cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !outer.IsCancellationRequested)
            {
                fault = ToStreamFault(request, ex, deadline);
            }

            while (fault is null)
            {
                ReadOnlyMemory<byte> body;
                try
                {
                    if (s_current.Value != context)
                    {
                        s_current.Value = context;
                    }

                    if (Activity.Current != span)
                    {
                        Activity.Current = span;
                    }

                    if (!await items!.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield break;
                    }

                    body = items.Current;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !outer.IsCancellationRequested)
                {
                    fault = ToStreamFault(request, ex, deadline);
                    break;
                }

                if (body.Length > MaxMessageSize)
                {
                    fault = new IpcFault(IpcErrorCode.MessageTooLarge, $"A stream item of route '{request.Route}' is {body.Length} bytes, over the {MaxMessageSize}-byte MaxMessageSize of endpoint '{_endpoint.Name}'.");
                    break;
                }

                var item = IpcMessage.CreateResponse(request, body);
                item.ContentType = _endpoint.Serializer.ContentType;
                yield return item;
            }

            yield return IpcMessage.CreateFault(request, fault);
        }
        finally
        {
            s_current.Value = null;
            if (items is not null)
            {
                await items.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private IpcFault? Check(IpcMessage message, RouteKind kind, out RouteEntry entry)
    {
        if (!_server.Routes.TryGetValue(message.Route, out entry!))
        {
            if (!_endpoint.DetailedErrors)
            {
                return new IpcFault(IpcErrorCode.NoHandler, $"Endpoint '{_endpoint.Name}' has no handler for route '{message.Route}'.");
            }

            var known = _server.Routes.Count == 0 ? "none" : string.Join(", ", _server.Routes.Keys.Order(StringComparer.Ordinal));
            return new IpcFault(IpcErrorCode.NoHandler, $"Endpoint '{_endpoint.Name}' has no handler for route '{message.Route}'. Mapped routes: {known}.");
        }

        // A one-way dispatch serves both one-way routes (sent messages) and subscriptions (published messages).
        if (entry.Kind != kind && !(kind == RouteKind.OneWay && entry.Kind == RouteKind.Subscription))
        {
            return new IpcFault(
                IpcErrorCode.NoHandler,
                $"Route '{message.Route}' of endpoint '{_endpoint.Name}' is mapped as {Describe(entry.Kind)}; call it with {Call(entry.Kind)}.");
        }

        if (message.Body.Length > MaxMessageSize)
        {
            return new IpcFault(
                IpcErrorCode.MessageTooLarge,
                $"The message for route '{message.Route}' is {message.Body.Length} bytes, over the {MaxMessageSize}-byte MaxMessageSize of endpoint '{_endpoint.Name}'.");
        }

        return null;
    }

    /// <summary>
    /// The fault a caller sees for a handler's exception: an <see cref="IpcHandlerException"/> as the handler meant it; any
    /// other exception as a generic <see cref="IpcRemoteError.UnhandledExceptionCode"/> error, unless the endpoint sends
    /// detailed errors (its type, message and stack trace). Unhandled exceptions are logged with their stack trace.
    /// </summary>
    private IpcFault ToFault(IpcMessage message, Exception ex)
    {
        switch (ex)
        {
            case DispatchFaultException dispatch:
                return dispatch.Fault;
            case IpcHandlerException handler:
                return new IpcFault(IpcErrorCode.RemoteError, handler.Message, new IpcRemoteError(handler.Code, handler.Message, WithStack(handler.Details, ex)));
            default:
                Log.HandlerFailed(_logger, _endpoint.Name, message.Route, message.MessageId, message.RemoteAddress ?? Log.UnknownPeer, ex);
                if (_endpoint.DetailedErrors)
                {
                    return new IpcFault(IpcErrorCode.RemoteError, ex.Message, new IpcRemoteError(ex.GetType().Name, ex.Message, WithStack(null, ex)));
                }

                var generic = $"The handler of route '{message.Route}' failed with an unhandled exception; the server logged it with message id {message.MessageId}. (EnableDetailedErrors on the server sends exception messages to callers, for development.)";
                return new IpcFault(IpcErrorCode.RemoteError, generic, new IpcRemoteError(IpcRemoteError.UnhandledExceptionCode, generic));
        }
    }

    /// <summary>The fault that ends a stream: <see cref="IpcErrorCode.Timeout"/> when its deadline passed, else the handler's failure.</summary>
    private IpcFault ToStreamFault(IpcMessage request, Exception ex, CallDeadline? deadline) =>
        ex is OperationCanceledException && deadline is { Passed: true } ? DeadlinePassed(request, deadline.Timeout) : ToFault(request, ex);

    private IpcFault ArrivedLate(IpcMessage message) => new(
        IpcErrorCode.Timeout,
        $"The call to route '{message.Route}' reached endpoint '{_endpoint.Name}' after its deadline had passed; its handler was not run.");

    private IpcFault DeadlinePassed(IpcMessage message, TimeSpan timeout) => new(
        IpcErrorCode.Timeout,
        $"The deadline of the call to route '{message.Route}' on endpoint '{_endpoint.Name}' passed on the server {timeout} after the call arrived; the handler's token was cancelled.");

    private IReadOnlyDictionary<string, string>? WithStack(IReadOnlyDictionary<string, string>? details, Exception ex)
    {
        if (!_endpoint.DetailedErrors)
        {
            return details;
        }

        var withStack = details is null ? new Dictionary<string, string>() : new Dictionary<string, string>(details);
        withStack["stackTrace"] = ex.ToString();
        return withStack;
    }

    private static string Describe(RouteKind kind) => kind switch
    {
        RouteKind.Request => "a request/response route",
        RouteKind.OneWay => "a one-way route",
        RouteKind.Subscription => "a subscription to a published topic",
        _ => "a stream route",
    };

    private static string Call(RouteKind kind) => kind switch
    {
        RouteKind.Request => "RequestAsync",
        RouteKind.OneWay => "SendAsync",
        RouteKind.Subscription => "PublishAsync",
        _ => "StreamAsync",
    };
}
