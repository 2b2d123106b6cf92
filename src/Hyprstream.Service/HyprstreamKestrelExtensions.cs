using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Hyprstream.Service;

/// <summary>Kestrel's HTTP/2 limits for bulk Flight streams, as `hyprstream serve` sets them; for host apps that want the same.</summary>
public static class HyprstreamKestrelExtensions
{
    /// <summary>
    /// Large flow-control windows (a DoGet streams tens of MB, and the default 96 KB stream window stalls it on real
    /// networks), 1 MiB frames, 1000 streams per connection, no Server header.
    /// </summary>
    public static KestrelServerOptions ConfigureHyprstreamFlightLimits(this KestrelServerOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        o.AddServerHeader = false;
        o.Limits.Http2.InitialConnectionWindowSize = 32 << 20;
        o.Limits.Http2.InitialStreamWindowSize = 16 << 20;
        o.Limits.Http2.MaxFrameSize = 1 << 20;
        o.Limits.Http2.MaxStreamsPerConnection = 1000;
        return o;
    }
}
