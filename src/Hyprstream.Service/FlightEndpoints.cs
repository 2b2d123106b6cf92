using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Hyprstream.Flight.Rpc;
using Microsoft.Extensions.Logging;

namespace Hyprstream.Service;

/// <summary>
/// The Flight service as grpc-dotnet hosts it: every method of arrow.flight.protocol.FlightService bound to its
/// handler through one guard (authentication, which records the <see cref="Caller"/> for the handler, then the
/// handler, then the mapping of what it throws to a status, in the caller's names).
/// Methods are bound from <see cref="FlightMethods"/> (checked request parsers) rather than a generated base class;
/// PollFlightInfo and DoExchange are not bound, so grpc-dotnet answers them UNIMPLEMENTED. Each call is counted and
/// timed (<see cref="FlightMetrics"/>, when on) and logged under its request id (<see cref="CallLog"/>).
/// </summary>
public sealed class FlightEndpoints(AdapterFlightService flights, TokenAuth auth, ILogger log, FlightMetrics? metrics = null)
{
    private readonly AdapterFlightService _flights = flights;
    private readonly TokenAuth _auth = auth;
    private readonly FlightMetrics? _metrics = metrics;

    /// <summary>One call: its request id on every log event it makes, its status and latency counted, a refusal logged.</summary>
    private async Task<T> Run<T>(ServerCallContext context, string method, bool authenticate, Func<Task<T>> handler)
    {
        long started = _metrics?.Started() ?? 0;
        var status = StatusCode.OK;
        using var scope = CallLog.Scope(log, CallLog.RequestId(context), method);
        try { return await Guarded(context, authenticate, handler).ConfigureAwait(false); }
        catch (RpcException e)
        {
            status = e.StatusCode;
            CallLog.Refused(log, method, e.StatusCode, e.Status.Detail);
            throw;
        }
        finally { _metrics?.Ended(method, status, started); }
    }

    private async Task<T> Guarded<T>(ServerCallContext context, bool authenticate, Func<Task<T>> handler)
    {
        Caller caller = Caller.Admin;
        try
        {
            return await ErrorMapping.Guard(context, () =>
            {
                // Who is calling travels with the call (UserState), so handlers need no extra parameter.
                if (authenticate) (caller = _auth.Check(context)).Attach(context);
                return handler();
            }, (m, e) => log.LogError(e, "{Method}: unexpected {Exception}", m, e.GetType().Name)).ConfigureAwait(false);
        }
        catch (RpcException e) when (caller.Scoped && caller.TextOut(e.Status.Detail) is var detail && detail != e.Status.Detail)
        {
            // A tenant reads its adapters' names without the tenant prefix, in errors too.
            throw new RpcException(new Status(e.StatusCode, detail));
        }
    }

    private Task Run(ServerCallContext context, string method, bool authenticate, Func<Task> handler) =>
        Run(context, method, authenticate, async () => { await handler().ConfigureAwait(false); return true; });

    /// <summary>
    /// Binds the methods (grpc-dotnet calls this once, when the service is mapped). Each handler runs on the instance
    /// grpc-dotnet resolves for the call (the container's singleton), so mapping creates nothing: the store opens when
    /// the host starts (<see cref="FlightServiceLifetime"/>), not when the routes are built.
    /// </summary>
    internal sealed class Provider : IServiceMethodProvider<FlightEndpoints>
    {
        public void OnServiceMethodDiscovery(ServiceMethodProviderContext<FlightEndpoints> context)
        {
            context.AddDuplexStreamingMethod(FlightMethods.Handshake, [], (e, requests, responses, ctx) => e.Run(ctx, "Handshake", false, () => e._auth.Handshake(requests, responses, ctx)));
            context.AddServerStreamingMethod(FlightMethods.ListFlights, [], (e, request, responses, ctx) => e.Run(ctx, "ListFlights", true, () => e._flights.ListFlights(request, responses, ctx)));
            context.AddUnaryMethod(FlightMethods.GetFlightInfo, [], (e, request, ctx) => e.Run(ctx, "GetFlightInfo", true, () => e._flights.GetFlightInfo(request, ctx)));
            context.AddUnaryMethod(FlightMethods.GetSchema, [], (e, request, ctx) => e.Run(ctx, "GetSchema", true, () => e._flights.GetSchema(request, ctx)));
            context.AddServerStreamingMethod(FlightMethods.DoGet, [], (e, request, responses, ctx) => e.Run(ctx, "DoGet", true, () => e._flights.DoGet(request, MeteredStreams.Sent(responses, e._metrics), ctx)));
            context.AddDuplexStreamingMethod(FlightMethods.DoPut, [], (e, requests, responses, ctx) => e.Run(ctx, "DoPut", true, () => { e._flights.Data.RefuseWritesOnFollower("DoPut"); return e._flights.Put.DoPut(MeteredStreams.Received(requests, e._metrics), responses, ctx); }));
            context.AddServerStreamingMethod(FlightMethods.DoAction, [], (e, request, responses, ctx) => e.Run(ctx, "DoAction", true, () => e._flights.Actions.DoAction(request, responses, ctx)));
            context.AddServerStreamingMethod(FlightMethods.ListActions, [], (e, request, responses, ctx) => e.Run(ctx, "ListActions", true, () => e._flights.Actions.ListActions(request, responses, ctx)));
        }
    }
}
