using System.Text.Json;
using Hyprstream.Flight;
using Hyprstream.Flight.Ipc;

namespace Hyprstream.Service;

/// <summary>
/// A DoGet ticket: which adapter (and optionally which module) to stream, in which form, with which options. JSON,
/// so users can write one by hand: {"adapter": "a", "module"?: "m", "form"?: "rows"|"tiles", "dtype"?: "float32"|
/// "float16"|"bfloat16" (tiles), "scaled"?: false, "compression"?: "zstd"|"lz4", "dictionary"?: true (false: the module
/// column as plain utf8, for clients that cannot read dictionary batches)}. The same object sent as a CMD
/// descriptor to GetFlightInfo describes that flight.
/// </summary>
public sealed record FlightTicket(string Adapter, string? Module = null, string Form = WeightSchema.RowForm,
    WeightType Type = WeightType.Float32, bool Scaled = false, IpcCompression Compression = IpcCompression.None, bool Dictionary = true)
{
    public byte[] ToBytes()
    {
        var o = new Dictionary<string, object> { ["adapter"] = Adapter };
        if (Module != null) o["module"] = Module;
        if (Form != WeightSchema.RowForm) o["form"] = Form;
        if (Type != WeightType.Float32) o["dtype"] = TypeName(Type);
        if (Scaled) o["scaled"] = true;
        if (Compression != IpcCompression.None) o["compression"] = Compression.ToString().ToLowerInvariant();
        if (!Dictionary) o["dictionary"] = false;
        return JsonSerializer.SerializeToUtf8Bytes(o);
    }

    public static string TypeName(WeightType t) => t switch
    {
        WeightType.Float16 => "float16",
        WeightType.BFloat16 => "bfloat16",
        _ => "float32",
    };

    /// <summary>Parses a ticket; anything wrong is an ArgumentException naming the field.</summary>
    public static FlightTicket Parse(ReadOnlySpan<byte> bytes)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes.ToArray());
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("adapter", out var a) || a.ValueKind != JsonValueKind.String)
                throw new ArgumentException("ticket must be a JSON object with an \"adapter\" string");
            string? module = OptString(root, "module");
            var form = OptString(root, "form") ?? WeightSchema.RowForm;
            if (form is not (WeightSchema.RowForm or WeightSchema.TileForm))
                throw new ArgumentException($"ticket \"form\" must be \"rows\" or \"tiles\", not {StatusText.Quote(form)}");
            var type = OptString(root, "dtype") switch
            {
                null or "float32" => WeightType.Float32,
                "float16" or "half" => WeightType.Float16,
                "bfloat16" => WeightType.BFloat16,
                var other => throw new ArgumentException($"ticket \"dtype\" must be \"float32\", \"float16\" or \"bfloat16\", not {StatusText.Quote(other)}"),
            };
            if (type != WeightType.Float32 && form != WeightSchema.TileForm)
                throw new ArgumentException("ticket \"dtype\" other than float32 needs \"form\": \"tiles\"");
            bool scaled = false;
            if (root.TryGetProperty("scaled", out var s) && s.ValueKind != JsonValueKind.Null)
                scaled = s.ValueKind is JsonValueKind.True or JsonValueKind.False ? s.GetBoolean() : throw new ArgumentException("ticket \"scaled\" must be a boolean");
            var compression = IpcCompressionOptions.Parse(OptString(root, "compression"));
            bool dictionary = true;
            if (root.TryGetProperty("dictionary", out var dict) && dict.ValueKind != JsonValueKind.Null)
                dictionary = dict.ValueKind is JsonValueKind.True or JsonValueKind.False ? dict.GetBoolean() : throw new ArgumentException("ticket \"dictionary\" must be a boolean");
            return new FlightTicket(a.GetString()!, module, form, type, scaled, compression, dictionary);
        }
        catch (JsonException e) { throw new ArgumentException($"ticket is not JSON: {e.Message}"); }
        catch (InvalidOperationException) { throw new ArgumentException("ticket strings must be valid Unicode text (an unpaired surrogate)"); }
    }

    private static string? OptString(JsonElement o, string key)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new ArgumentException($"ticket \"{key}\" must be a string (or absent)");
    }
}
