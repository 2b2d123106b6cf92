using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Hyprstream.Interop;
using Hyprstream.Interop.OpenVdb;
using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>The one header, the library's exports and the C# declarations agree; versions are checked.</summary>
public class AbiTests
{
    private static readonly string HeaderPath = Path.Combine(AppContext.BaseDirectory, "hyprstream_shim.h");

    private static HashSet<string> HeaderFunctions() =>
        Regex.Matches(File.ReadAllText(HeaderPath), @"HS_API\s+[\w\s\*]+?\b(hs_\w+)\s*\(").Select(m => m.Groups[1].Value).ToHashSet();

    private static HashSet<string> DeclaredFunctions() =>
        typeof(Hs).GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
            .Where(m => m.GetCustomAttribute<LibraryImportAttribute>() != null)
            .Select(m => m.GetCustomAttribute<LibraryImportAttribute>()!.EntryPoint ?? m.Name).ToHashSet();

    [Test]
    public void Header_Declares_ThePublicAbi()
    {
        var fns = HeaderFunctions();
        Assert.That(fns, Has.Count.GreaterThan(50));
        Assert.That(fns, Does.Contain("hs_abi_version").And.Contain("hs_grid_set_many").And.Contain("hs_file_write"));
        // ABI 1.3: whole 8x64 tiles.
        Assert.That(fns, Does.Contain("hs_tile_cursor_create").And.Contain("hs_tile_cursor_next").And.Contain("hs_tile_cursor_free")
            .And.Contain("hs_grid_get_tiles").And.Contain("hs_grid_set_tiles").And.Contain("hs_grid_add_tiles"));
    }

    [Test]
    public void EveryHeaderFunction_IsDeclaredInCSharp_AndEveryDeclarationIsInTheHeader()
    {
        var header = HeaderFunctions();
        var declared = DeclaredFunctions();
        Assert.That(header.Except(declared), Is.Empty, "declared in the header but missing in C#");
        Assert.That(declared.Except(header), Is.Empty, "declared in C# but missing in the header");
    }

    [Test]
    public void EveryHeaderFunction_IsExportedByTheLibrary()
    {
        _ = NativeInfo.AbiVersion; // loads the library through our resolver
        var path = NativeLibraryLoader.CandidateDirectories().Select(d => Path.Combine(d, NativeLibraryLoader.FileName)).First(File.Exists);
        var lib = NativeLibrary.Load(path);
        var missing = HeaderFunctions().Where(f => !NativeLibrary.TryGetExport(lib, f, out _)).ToList();
        Assert.That(missing, Is.Empty);
    }

    [Test]
    public void AbiVersion_MatchesTheHeader_AndTheManagedRequirement()
    {
        var header = File.ReadAllText(HeaderPath);
        int major = int.Parse(Regex.Match(header, @"#define HS_ABI_MAJOR (\d+)").Groups[1].Value);
        int minor = int.Parse(Regex.Match(header, @"#define HS_ABI_MINOR (\d+)").Groups[1].Value);
        Assert.That(NativeInfo.AbiVersion, Is.EqualTo((major, minor)));
        Assert.That(NativeLibraryLoader.AbiMajor, Is.EqualTo((uint)major));
        Assert.That(NativeLibraryLoader.AbiMinor, Is.LessThanOrEqualTo((uint)minor));
        Assert.That(NativeLibraryLoader.AbiMinor, Is.GreaterThanOrEqualTo(3u), "the managed side calls the ABI 1.3 tile functions");
    }

    [Test]
    public void BuildInfo_NamesOpenVdbAndNanoVdbVersions()
    {
        Assert.That(NativeInfo.BuildInfo, Does.Contain("openvdb 10.").And.Contain("nanovdb 32.").And.Contain(TileMapping.Name));
    }

    [Test]
    public void ModuleStruct_HasTheCLayout()
    {
        Assert.That(Marshal.SizeOf<HsModule>(), Is.EqualTo(16));
        Assert.That(Marshal.OffsetOf<HsModule>(nameof(HsModule.Rows)).ToInt32(), Is.EqualTo(8));
        Assert.That(Marshal.OffsetOf<HsModule>(nameof(HsModule.Cols)).ToInt32(), Is.EqualTo(12));
    }

    [Test]
    public void NanoInfoStruct_HasTheCLayout()
    {
        Assert.That(Marshal.SizeOf<HsNanoInfo>(), Is.EqualTo(48));
        Assert.That(Marshal.OffsetOf<HsNanoInfo>(nameof(HsNanoInfo.Bytes)).ToInt32(), Is.EqualTo(8));
        Assert.That(Marshal.OffsetOf<HsNanoInfo>(nameof(HsNanoInfo.LeafOffset)).ToInt32(), Is.EqualTo(24));
        Assert.That(Marshal.OffsetOf<HsNanoInfo>(nameof(HsNanoInfo.ValueOffset)).ToInt32(), Is.EqualTo(40));
    }

    [Test]
    public void ManagedOriginSlot_InvertsSlotOrigin()
    {
        foreach (long slot in new long[] { 0, 1, 4095, 4096, 123_456, (1L << 27) - 1, 1L << 27, (1L << 39) - 1 })
        {
            var (x, y, z) = TileMapping.SlotOrigin(slot);
            Assert.That(TileMapping.OriginSlot(x, y, z), Is.EqualTo(slot), $"slot {slot}");
        }
    }

    [Test]
    public void ManagedTileMapping_AgreesWithNativeTileCount()
    {
        foreach (var (r, c) in new[] { (1, 1), (8, 64), (9, 65), (2048, 2048), (6144, 2048), (37, 203) })
            Assert.That(Hs.hs_module_tile_count(r, c), Is.EqualTo(TileMapping.TileCount(r, c)), $"{r}x{c}");
        Assert.That(Hs.hs_module_tile_count(0, 5), Is.EqualTo(-1));
    }

    [Test]
    public void MissingLibrary_SaysWhatToRun()
    {
        var e = Assert.Throws<DllNotFoundException>(() => NativeLibraryLoader.Load(["/nonexistent-dir"]));
        Assert.That(e!.Message, Does.Contain("./build.sh").And.Contain("HYPRSTREAM_NATIVE_DIR").And.Contain("/nonexistent-dir/libhyprstream_native.so"));
    }

    [Test]
    public void ForeignLibrary_IsRefusedWithAClearMessage()
    {
        // libc is a real shared library without our ABI export.
        var dir = new[] { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu" }.First(d => File.Exists(Path.Combine(d, "libc.so.6")));
        using var tmp = new TempDir();
        File.Copy(Path.Combine(dir, "libc.so.6"), tmp.File(NativeLibraryLoader.FileName));
        var e = Assert.Throws<HyprstreamException>(() => NativeLibraryLoader.Load([tmp.Path]));
        Assert.That(e!.Message, Does.Contain("hs_abi_version"));
    }
}
