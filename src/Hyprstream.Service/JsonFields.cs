using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using Hyprstream.Flight;

namespace Hyprstream.Service;

/// <summary>
/// Typed reads of action bodies (DoAction JSON): a field of the wrong JSON type is INVALID_ARGUMENT naming the field,
/// the type expected and the type sent. A missing optional field, or one sent as null, takes its default. Fields
/// that are not read are ignored.
/// </summary>
internal static class JsonFields
{
    /// <summary>A required string.</summary>
    public static string Str(JsonObject body, string key) =>
        OptStr(body, key) ?? throw Wrong(key, "a string", body[key]);

    /// <summary>An optional string; null when absent or null.</summary>
    public static string? OptStr(JsonObject body, string key, string? label = null)
    {
        label ??= key;
        var node = body[key];
        if (node == null) return null;
        return node.GetValueKind() == JsonValueKind.String ? StringOf(node, label) : throw Wrong(label, "a string", node);
    }

    /// <summary>The string; one holding an escaped unpaired surrogate ("\ud800") is INVALID_ARGUMENT, not a crash.</summary>
    private static string StringOf(JsonNode node, string key)
    {
        try { return node.GetValue<string>(); }
        catch (InvalidOperationException) { throw ErrorMapping.Invalid($"\"{key}\" is not valid Unicode text (an unpaired surrogate)"); }
    }

    /// <summary>A required finite number.</summary>
    public static double Number(JsonObject body, string key) =>
        OptNumber(body, key) ?? throw Wrong(key, "a number", body[key]);

    public static double? OptNumber(JsonObject body, string key)
    {
        var node = body[key];
        return node == null ? null : NumberOf(node, key);
    }

    /// <summary>A required number that is finite as a float32 (what the store keeps).</summary>
    public static float Float(JsonObject body, string key) => ToFloat(Number(body, key), key);

    public static float? OptFloat(JsonObject body, string key) => OptNumber(body, key) is { } d ? ToFloat(d, key) : null;

    /// <summary>An optional integer in [min, max]; 1.5, "3" and 1e30 are refused.</summary>
    public static int? OptInt(JsonObject body, string key, int min, int max)
    {
        var node = body[key];
        if (node == null) return null;
        var d = NumberOf(node, key, "an integer");
        if (d != Math.Floor(d)) throw ErrorMapping.Invalid($"\"{key}\" must be an integer, not {d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
        if (d < min || d > max) throw ErrorMapping.Invalid($"\"{key}\" must be between {min} and {max}, not {d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
        return (int)d;
    }

    /// <summary>An optional true/false; null when absent or null.</summary>
    public static bool? OptBool(JsonObject body, string key) => body[key] switch
    {
        null => null,
        var n when n.GetValueKind() is JsonValueKind.True or JsonValueKind.False => n.GetValue<bool>(),
        var other => throw Wrong(key, "true or false", other),
    };

    /// <summary>An optional object; null when absent or null.</summary>
    public static JsonObject? OptObject(JsonObject body, string key) => body[key] switch
    {
        null => null,
        JsonObject o => o,
        var other => throw Wrong(key, "an object", other),
    };

    /// <summary>A required array of strings.</summary>
    public static string[] Strings(JsonObject body, string key) =>
        OptStrings(body, key) ?? throw Wrong(key, "an array of strings", body[key]);

    /// <summary>An optional array of strings; null when absent or null.</summary>
    public static string[]? OptStrings(JsonObject body, string key, string? label = null)
    {
        label ??= key;
        var node = body[key];
        if (node == null) return null;
        if (node is not JsonArray a) throw Wrong(label, "an array of strings", node);
        var result = new string[a.Count];
        for (int i = 0; i < a.Count; i++)
            result[i] = a[i] is { } x && x.GetValueKind() == JsonValueKind.String ? StringOf(x, $"{label}[{i}]") : throw Wrong($"{label}[{i}]", "a string", a[i]);
        return result;
    }

    /// <summary>A required array of finite numbers.</summary>
    public static double[] Numbers(JsonObject body, string key)
    {
        if (body[key] is not JsonArray a) throw Wrong(key, "an array of numbers", body[key]);
        var result = new double[a.Count];
        for (int i = 0; i < a.Count; i++)
            result[i] = a[i] is { } x ? NumberOf(x, $"{key}[{i}]") : throw Wrong($"{key}[{i}]", "a number", null);
        return result;
    }

    /// <summary>INVALID_ARGUMENT: "\"k\" must be an integer, not a string".</summary>
    public static RpcException Wrong(string key, string expected, JsonNode? got) =>
        ErrorMapping.Invalid($"\"{key}\" must be {expected}, not {KindOf(got)}");

    public static float ToFloat(double d, string key)
    {
        var f = (float)d;
        return float.IsFinite(f) ? f : throw ErrorMapping.Invalid($"\"{key}\" must be a finite float32 number, not {d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
    }

    private static double NumberOf(JsonNode node, string key, string expected = "a number")
    {
        if (node.GetValueKind() != JsonValueKind.Number) throw Wrong(key, expected, node);
        return node.AsValue().TryGetValue<double>(out var d) && double.IsFinite(d) ? d
            : throw ErrorMapping.Invalid($"\"{key}\" must be a finite number, not {StatusText.Quote(node.ToJsonString())}");
    }

    private static string KindOf(JsonNode? node) => node?.GetValueKind() switch
    {
        null or JsonValueKind.Null => "null (or missing)",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        var k => k.ToString()!,
    };
}
