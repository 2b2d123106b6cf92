using Hyprstream.Runtime.Peft;
using Hyprstream.Runtime.Safetensors;

namespace Hyprstream.Tests;

/// <summary>
/// Tensors in dtypes the import does not read (case 6 of issue 19): the file opens; such a tensor is fatal only when
/// the import would use it; one it would not use is skipped with a note (or, when it might replace a base tensor we
/// cannot see, refused by name like any other extra).
/// </summary>
public class PeftDTypeTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";
    private const int H = 16, R = 2;

    private static (string Dir, float[] A, float[] B) Write(TempDir dir, string name, IEnumerable<PeftFiles.T> extra, TensorDType pairType = TensorDType.F32)
    {
        var rng = new Random(61);
        var a = PeftFiles.Random(rng, R * H);
        var b = PeftFiles.Random(rng, H * R);
        PeftFiles.T Pair(string n, long[] shape, float[] v) =>
            pairType == TensorDType.F64 ? new PeftFiles.T(n, pairType, shape, v.Select(x => (double)x).ToArray()) : new PeftFiles.T(n, pairType, shape, v);
        var path = PeftFiles.Adapter(dir.File(name), PeftFiles.LoraConfig(R, 4, "q_proj"),
            new[] { Pair($"base_model.model.{Q}.lora_A.weight", [R, H], a), Pair($"base_model.model.{Q}.lora_B.weight", [H, R], b) }.Concat(extra));
        return (path, a, b);
    }

    private static string Base(TempDir dir)
    {
        var path = dir.File("base.safetensors");
        PeftFiles.Write(path, [PeftFiles.F32(Q + ".weight", [H, H], new float[H * H])]);
        return path;
    }

    private static readonly PeftFiles.T UnusedU8 = new("base_model.model.model.layers.0.self_attn.q_proj.quant_state", TensorDType.U8, [5], new byte[] { 1, 2, 3, 4, 5 });

    [Test]
    public void UnusedU8Tensor_TheBaseDoesNotHave_IsSkippedWithANote_AndTheImportIsExact()
    {
        using var dir = new TempDir();
        var (path, a, b) = Write(dir, "u8", [UnusedU8]);
        var result = PeftImport.Import(path, new PeftImportOptions { Density = 1, BasePath = Base(dir) });
        using var adapter = result.Adapter;
        Assert.That(result.Notes.Single(), Does.StartWith("skipped").And.Contain("quant_state").And.Contain("U8").And.Contain("unexpected key"));
        PeftFiles.AssertExact(adapter.Modules[Q], PeftFiles.LoraDelta(b, a, H, R, H, 2.0));
    }

    [Test]
    public void UnusedU8Tensor_WithoutBase_IsRefusedByName_NotForItsDType()
    {
        using var dir = new TempDir();
        var (path, a, b) = Write(dir, "u8", [UnusedU8]);
        var e = Assert.Throws<NotSupportedException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1 }));
        Assert.That(e!.Message, Does.Contain("quant_state").And.Contain("--base").And.Contain("--drop-extras"));
        var result = PeftImport.Import(path, new PeftImportOptions { Density = 1, DropExtras = true });
        using var adapter = result.Adapter;
        Assert.That(result.Notes.Single(), Does.StartWith("dropped").And.Contain("quant_state"));
        PeftFiles.AssertExact(adapter.Modules[Q], PeftFiles.LoraDelta(b, a, H, R, H, 2.0));
    }

    [Test]
    public void F64LoraPair_IsRead_AndImportsExactly()
    {
        using var dir = new TempDir();
        var (path, a, b) = Write(dir, "f64", [], TensorDType.F64);
        using var adapter = PeftImport.Import(path, new PeftImportOptions { Density = 1 }).Adapter;
        PeftFiles.AssertExact(adapter.Modules[Q], PeftFiles.LoraDelta(b, a, H, R, H, 2.0));
    }

    [Test]
    public void UsedTensorInAnUnreadableDType_IsRefused_NamingTensorAndDType()
    {
        using var dir = new TempDir();
        var path = PeftFiles.Adapter(dir.File("i8"), PeftFiles.LoraConfig(R, 4, "q_proj"), [
            new PeftFiles.T($"base_model.model.{Q}.lora_A.weight", TensorDType.I8, [R, H], new byte[R * H]),
            PeftFiles.F32($"base_model.model.{Q}.lora_B.weight", [H, R], new float[H * R])]);
        var e = Assert.Throws<InvalidDataException>(() => PeftImport.Import(path, new PeftImportOptions { Density = 1, DropExtras = true }));
        Assert.That(e!.Message, Does.Contain($"base_model.model.{Q}.lora_A.weight").And.Contain("I8"));
    }
}
