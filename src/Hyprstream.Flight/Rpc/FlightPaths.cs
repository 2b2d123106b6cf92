namespace Hyprstream.Flight.Rpc;

/// <summary>The gRPC method paths of arrow.flight.protocol.FlightService.</summary>
public static class FlightPaths
{
    public const string Service = "arrow.flight.protocol.FlightService";
    public const string Handshake = "/" + Service + "/Handshake";
    public const string ListFlights = "/" + Service + "/ListFlights";
    public const string GetFlightInfo = "/" + Service + "/GetFlightInfo";
    public const string PollFlightInfo = "/" + Service + "/PollFlightInfo";
    public const string GetSchema = "/" + Service + "/GetSchema";
    public const string DoGet = "/" + Service + "/DoGet";
    public const string DoPut = "/" + Service + "/DoPut";
    public const string DoExchange = "/" + Service + "/DoExchange";
    public const string DoAction = "/" + Service + "/DoAction";
    public const string ListActions = "/" + Service + "/ListActions";
}
