namespace Hyprstream.Runtime.Safetensors;

public static class TensorDTypes
{
    public static int Size(this TensorDType t) => t switch
    {
        TensorDType.U8 or TensorDType.I8 or TensorDType.BOOL or TensorDType.F8_E4M3 or TensorDType.F8_E5M2 or TensorDType.F8_E8M0 => 1,
        TensorDType.F16 or TensorDType.BF16 or TensorDType.I16 or TensorDType.U16 => 2,
        TensorDType.F32 or TensorDType.I32 or TensorDType.U32 => 4,
        TensorDType.F64 or TensorDType.I64 or TensorDType.U64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The float types a delta is applied to in place (F32, F16, BF16).</summary>
    public static bool IsFloat(this TensorDType t) => t is TensorDType.F32 or TensorDType.F16 or TensorDType.BF16;

    /// <summary>The float types read as numbers (the delta types and F64).</summary>
    public static bool IsReadableReal(this TensorDType t) => t.IsFloat() || t == TensorDType.F64;

    public static string Name(this TensorDType t) => t.ToString();

    /// <summary>The dtype names a header may use here.</summary>
    public static string Known => string.Join(", ", Enum.GetNames<TensorDType>());

    /// <summary>Parses a header dtype string; null for one whose size we do not know (F4, custom quantized types, …).</summary>
    public static TensorDType? Parse(string s) => Enum.TryParse<TensorDType>(s, ignoreCase: false, out var t) && t.ToString() == s ? t : null;
}
