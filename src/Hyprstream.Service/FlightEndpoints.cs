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

    /// <summary>Binds the methods (grpc-dotnet calls this once, when the service is mapped).</summary>
    internal sealed class Provider(FlightEndpoints e) : IServiceMethodProvider<FlightEndpoints>
    {
        public void OnServiceMethodDiscovery(ServiceMethodProviderContext<FlightEndpoints> context)
        {
            var f = e._flights;
            var m = e._metrics;
            context.AddDuplexStreamingMethod(FlightMethods.Handshake, [], (_, requests, responses, ctx) => e.Run(ctx, "Handshake", false, () => e._auth.Handshake(requests, responses, ctx)));
            context.AddServerStreamingMethod(FlightMethods.ListFlights, [], (_, request, responses, ctx) => e.Run(ctx, "ListFlights", true, () => f.ListFlights(request, responses, ctx)));
            context.AddUnaryMethod(FlightMethods.GetFlightInfo, [], (_, request, ctx) => e.Run(ctx, "GetFlightInfo", true, () => f.GetFlightInfo(request, ctx)));
            context.AddUnaryMethod(FlightMethods.GetSchema, [], (_, request, ctx) => e.Run(ctx, "GetSchema", true, () => f.GetSchema(request, ctx)));
            context.AddServerStreamingMethod(FlightMethods.DoGet, [], (_, request, responses, ctx) => e.Run(ctx, "DoGet", true, () => f.DoGet(request, MeteredStreams.Sent(responses, m), ctx)));
            context.AddDuplexStreamingMethod(FlightMethods.DoPut, [], (_, requests, responses, ctx) => e.Run(ctx, "DoPut", true, () => f.Put.DoPut(MeteredStreams.Received(requests, m), responses, ctx)));
            context.AddServerStreamingMethod(FlightMethods.DoAction, [], (_, request, responses, ctx) => e.Run(ctx, "DoAction", true, () => f.Actions.DoAction(request, responses, ctx)));
            context.AddServerStreamingMethod(FlightMethods.ListActions, [], (_, request, responses, ctx) => e.Run(ctx, "ListActions", true, () => f.Actions.ListActions(request, responses, ctx)));
        }
    }
}
