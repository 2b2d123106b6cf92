using System.Text;
using System.Text.Json;
using Hyprstream.Flight.Ipc;

namespace Hyprstream.Service;

/// <summary>
/// How adapter weights look as Arrow: one row per stored weight, `module utf8, row int32, col int32, value float32`
/// (the stored value; multiply by the module's scale, listed in the flight's app_metadata, for the effective ΔW).
/// </summary>
public static class WeightSchema
{
    public static readonly ArrowSchema Schema = new([
        new ArrowField("module", ArrowType.Utf8, Nullable: false),
        new ArrowField("row", ArrowType.Int32, Nullable: false),
        new ArrowField("col", ArrowType.Int32, Nullable: false),
        new ArrowField("value", ArrowType.Float32, Nullable: false),
    ]);

    public static ArrowSchema WithMetadata(IReadOnlyDictionary<string, string> meta) => new(Schema.Fields, meta);

    /// <summary>Arrow bytes per weight in a DoGet batch (values + offsets + the repeated module name).</summary>
    public static long BytesPerWeight(string module) => 12 + 4 + Encoding.UTF8.GetByteCount(module);

    /// <summary>A ticket: which adapter (and optionally which module) to stream. JSON, so users can write one by hand.</summary>
    public sealed record Ticket(string Adapter, string? Module)
    {
        public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string?> { ["adapter"] = Adapter, ["module"] = Module }
            .Where(kv => kv.Value != null).ToDictionary());

        public static Ticket Parse(ReadOnlySpan<byte> bytes)
        {
            try
            {
                using var doc = JsonDocument.Parse(bytes.ToArray());
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("adapter", out var a) || a.ValueKind != JsonValueKind.String)
                    throw new ArgumentException("ticket must be a JSON object with an \"adapter\" string");
                string? module = null;
                if (root.TryGetProperty("module", out var m) && m.ValueKind != JsonValueKind.Null)
                    module = m.ValueKind == JsonValueKind.String ? m.GetString() : throw new ArgumentException("ticket \"module\" must be a string (or absent)");
                return new Ticket(a.GetString()!, module);
            }
            catch (JsonException e) { throw new ArgumentException($"ticket is not JSON: {e.Message}"); }
            catch (InvalidOperationException) { throw new ArgumentException("ticket strings must be valid Unicode text (an unpaired surrogate)"); }
        }
    }
}
