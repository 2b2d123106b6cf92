namespace Hyprstream.Runtime;

/// <summary>bfloat16 as raw bits (the upper half of a float32), rounded to nearest even; NaN stays NaN.</summary>
public static class Bf16
{
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static ushort FromSingle(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((u >> 16) | 0x40);
        u += 0x7FFFu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }
}
