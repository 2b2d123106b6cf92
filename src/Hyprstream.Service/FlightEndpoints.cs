using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Hyprstream.Flight.Rpc;

namespace Hyprstream.Service;

/// <summary>
/// The Flight service as grpc-dotnet hosts it: every method of arrow.flight.protocol.FlightService bound to its
/// handler through one guard (authentication, which records the <see cref="Caller"/> for the handler, then the
/// handler, then the mapping of what it throws to a status, in the caller's names).
/// Methods are bound from <see cref="FlightMethods"/> (checked request parsers) rather than a generated base class;
/// PollFlightInfo and DoExchange are not bound, so grpc-dotnet answers them UNIMPLEMENTED.
/// </summary>
public sealed class FlightEndpoints(AdapterFlightService flights, TokenAuth auth, Action<string, Exception>? onError)
{
    private readonly AdapterFlightService _flights = flights;
    private readonly TokenAuth _auth = auth;

    private async Task<T> Run<T>(ServerCallContext context, bool authenticate, Func<Task<T>> handler)
    {
        Caller caller = Caller.Admin;
        try
        {
            return await ErrorMapping.Guard(context, () =>
            {
                // Who is calling travels with the call (UserState), so handlers need no extra parameter.
                if (authenticate) (caller = _auth.Check(context)).Attach(context);
                return handler();
            }, onError).ConfigureAwait(false);
        }
        catch (RpcException e) when (caller.Scoped && caller.TextOut(e.Status.Detail) is var detail && detail != e.Status.Detail)
        {
            // A tenant reads its adapters' names without the tenant prefix, in errors too.
            throw new RpcException(new Status(e.StatusCode, detail));
        }
    }

    private Task Run(ServerCallContext context, bool authenticate, Func<Task> handler) =>
        Run(context, authenticate, async () => { await handler().ConfigureAwait(false); return true; });

    /// <summary>Binds the methods (grpc-dotnet calls this once, when the service is mapped).</summary>
    internal sealed class Provider(FlightEndpoints e) : IServiceMethodProvider<FlightEndpoints>
    {
        public void OnServiceMethodDiscovery(ServiceMethodProviderContext<FlightEndpoints> context)
        {
            var f = e._flights;
            context.AddDuplexStreamingMethod(FlightMethods.Handshake, [], (_, requests, responses, ctx) => e.Run(ctx, false, () => e._auth.Handshake(requests, responses, ctx)));
            context.AddServerStreamingMethod(FlightMethods.ListFlights, [], (_, request, responses, ctx) => e.Run(ctx, true, () => f.ListFlights(request, responses, ctx)));
            context.AddUnaryMethod(FlightMethods.GetFlightInfo, [], (_, request, ctx) => e.Run(ctx, true, () => f.GetFlightInfo(request, ctx)));
            context.AddUnaryMethod(FlightMethods.GetSchema, [], (_, request, ctx) => e.Run(ctx, true, () => f.GetSchema(request, ctx)));
            context.AddServerStreamingMethod(FlightMethods.DoGet, [], (_, request, responses, ctx) => e.Run(ctx, true, () => f.DoGet(request, responses, ctx)));
            context.AddDuplexStreamingMethod(FlightMethods.DoPut, [], (_, requests, responses, ctx) => e.Run(ctx, true, () => f.Put.DoPut(requests, responses, ctx)));
            context.AddServerStreamingMethod(FlightMethods.DoAction, [], (_, request, responses, ctx) => e.Run(ctx, true, () => f.Actions.DoAction(request, responses, ctx)));
            context.AddServerStreamingMethod(FlightMethods.ListActions, [], (_, request, responses, ctx) => e.Run(ctx, true, () => f.Actions.ListActions(request, responses, ctx)));
        }
    }
}
