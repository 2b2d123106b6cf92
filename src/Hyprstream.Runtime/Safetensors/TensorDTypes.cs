namespace Hyprstream.Runtime.Safetensors;

public static class TensorDTypes
{
    public static int Size(this TensorDType t) => t switch
    {
        TensorDType.F32 or TensorDType.I32 => 4,
        TensorDType.F16 or TensorDType.BF16 => 2,
        TensorDType.I64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    public static bool IsFloat(this TensorDType t) => t is TensorDType.F32 or TensorDType.F16 or TensorDType.BF16;

    public static string Name(this TensorDType t) => t.ToString();

    /// <summary>Parses a header dtype string; null for anything we do not handle (F64, I8, U8, BOOL, F8_*, …).</summary>
    public static TensorDType? Parse(string s) => s switch
    {
        "F32" => TensorDType.F32,
        "F16" => TensorDType.F16,
        "BF16" => TensorDType.BF16,
        "I32" => TensorDType.I32,
        "I64" => TensorDType.I64,
        _ => null,
    };
}
