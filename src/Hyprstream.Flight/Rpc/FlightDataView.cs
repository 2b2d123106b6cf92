using Google.Protobuf;
using Hyprstream.Flight.Protocol;

namespace Hyprstream.Flight.Rpc;

/// <summary>
/// A FlightData message read without copying: data_header, app_metadata and data_body are slices of the received
/// buffer (the generated parser would copy the multi-megabyte body once more). Unknown fields are skipped; a
/// malformed message is InvalidDataException.
/// </summary>
public readonly struct FlightDataView
{
    public FlightDescriptor? Descriptor { get; init; }
    public ReadOnlyMemory<byte> Header { get; init; }
    public ReadOnlyMemory<byte> AppMetadata { get; init; }
    public ReadOnlyMemory<byte> Body { get; init; }

    public static FlightDataView Parse(ReadOnlyMemory<byte> message)
    {
        var s = message.Span;
        int p = 0;
        FlightDescriptor? descriptor = null;
        ReadOnlyMemory<byte> header = default, app = default, body = default;
        while (p < s.Length)
        {
            ulong tag = Varint(s, ref p);
            int field = (int)(tag >> 3), wire = (int)(tag & 7);
            if (wire == 2)
            {
                ulong len = Varint(s, ref p);
                if (len > (ulong)(s.Length - p)) throw new InvalidDataException($"FlightData field {field} runs past the message");
                var slice = message.Slice(p, (int)len);
                p += (int)len;
                switch (field)
                {
                    case 1: descriptor = FlightDescriptor.Parser.ParseFrom(slice.Span); break;
                    case 2: header = slice; break;
                    case 3: app = slice; break;
                    case 1000: body = slice; break;
                }
            }
            else if (wire == 0) Varint(s, ref p);
            else if (wire == 1) p += 8;
            else if (wire == 5) p += 4;
            else throw new InvalidDataException($"FlightData has an unsupported wire type {wire}");
            if (p > s.Length) throw new InvalidDataException("FlightData is truncated");
        }
        return new FlightDataView { Descriptor = descriptor, Header = header, AppMetadata = app, Body = body };
    }

    private static ulong Varint(ReadOnlySpan<byte> s, ref int p)
    {
        ulong v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (p >= s.Length) throw new InvalidDataException("FlightData is truncated inside a varint");
            byte b = s[p++];
            v |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
        throw new InvalidDataException("FlightData has a malformed varint");
    }
}
