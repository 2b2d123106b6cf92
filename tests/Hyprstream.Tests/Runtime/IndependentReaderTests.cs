using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>
/// Our files against OpenVDB tools that share no code with us: `vdb_print` (libopenvdb-tools) and pyopenvdb
/// (python3-openvdb, Debian's /usr/bin/python3). They read what we write, and we read what they write, using only
/// the documented file format (README, "File format") — the Python side computes voxels from the hs.tile8x64
/// formula itself and never sees TileMapping.
/// </summary>
[TestFixture]
public sealed class IndependentReaderTests
{
    private const string SystemPython = "/usr/bin/python3";

    private static readonly Lazy<string?> PythonMissing = new(() =>
    {
        if (!File.Exists(SystemPython)) return $"{SystemPython} does not exist (install python3-openvdb)";
        var r = ExternalProcess.Run(SystemPython, ["-c", "import pyopenvdb, json"], TimeSpan.FromSeconds(60));
        return r.ExitCode == 0 ? null : $"{SystemPython} cannot import pyopenvdb (install python3-openvdb): {r.StdErr.Trim()}";
    });

    private static readonly Lazy<string?> VdbPrintPath = new(() => ExternalProcess.FindOnPath("vdb_print"));

    private static void RequirePython()
    {
        if (PythonMissing.Value is { } reason) Assert.Ignore(reason);
    }

    private static string RequireVdbPrint()
    {
        if (VdbPrintPath.Value == null) Assert.Ignore("vdb_print is not on PATH (install libopenvdb-tools)");
        return VdbPrintPath.Value!;
    }

    // The documented hs.tile8x64 v1 mapping, written out again in Python for the scripts below.
    private const string PyMapping = """
        import json, sys
        import pyopenvdb as vdb

        def voxel(slot_base, cols, row, col):
            tiles_per_row = (cols + 63) // 64
            slot = slot_base + (row >> 3) * tiles_per_row + (col >> 6)
            lower, l = slot >> 12, slot & 4095
            upper, u = lower >> 15, lower & 32767
            ox = upper * 4096 + (u >> 10) * 128 + (l >> 8) * 8
            oy = ((u >> 5) & 31) * 128 + ((l >> 4) & 15) * 8
            oz = (u & 31) * 128 + (l & 15) * 8
            return (ox + (row & 7), oy + ((col >> 3) & 7), oz + (col & 7))

        def mkey(i, field):
            return "hs.module.%04d.%s" % (i, field)

        spec = json.load(open(sys.argv[1]))

        """;

    /// <summary>Runs <paramref name="body"/> (after the mapping prelude) with a JSON spec; returns its stdout as JSON.</summary>
    private static JsonElement RunPython(TempDir dir, string body, object spec)
    {
        var script = dir.File("script-" + Guid.NewGuid().ToString("N")[..8] + ".py");
        var specPath = Path.ChangeExtension(script, ".json");
        File.WriteAllText(script, PyMapping + body.ReplaceLineEndings("\n"));
        File.WriteAllText(specPath, JsonSerializer.Serialize(spec));
        var r = ExternalProcess.Run(SystemPython, [script, specPath], TimeSpan.FromMinutes(2));
        r.AssertSuccess();
        var stdout = r.StdOut.Trim();
        if (stdout.Length == 0) return default;
        using var doc = JsonDocument.Parse(stdout);
        return doc.RootElement.Clone();
    }

    // ---------------- vdb_print ----------------

    [Test]
    public void VdbPrint_ListsOurGridWithItsTypeMetadataAndVoxelCount([Values] WeightPrecision precision)
    {
        var vdbPrint = RequireVdbPrint();
        using var dir = new TempDir();
        var path = dir.File("a.vdb");
        using var a = Fixtures.Small("printed-adapter", seed: 11, count: 3000);
        long active = a.ActiveCount;
        Assert.That(active, Is.GreaterThan(1000), "enough voxels that vdb_print groups digits");
        a.Save(path, precision == WeightPrecision.Half ? SaveOptions.Half : SaveOptions.Default);

        var r = ExternalProcess.Run(vdbPrint, [path, "-l", "-m"], TimeSpan.FromMinutes(1));
        r.AssertSuccess();
        var text = r.StdOut;

        Assert.That(Regex.IsMatch(text, @"^\s*Name:\s*printed-adapter\s*$", RegexOptions.Multiline), Is.True, text);
        Assert.That(Regex.IsMatch(text, @"^\s*Type:\s*Tree_float_5_4_3\s*$", RegexOptions.Multiline), Is.True, text);
        var count = Regex.Match(text, @"Number of active voxels:\s*([\d,]+)");
        Assert.That(count.Success, Is.True, text);
        Assert.That(long.Parse(count.Groups[1].Value.Replace(",", ""), CultureInfo.InvariantCulture), Is.EqualTo(active));
        // Our metadata, as OpenVDB itself prints it.
        Assert.That(Regex.IsMatch(text, @"^\s*hs\.mapping:\s*hs\.tile8x64\s*$", RegexOptions.Multiline), Is.True, text);
        Assert.That(Regex.IsMatch(text, @"^\s*hs\.mapping_version:\s*1\s*$", RegexOptions.Multiline), Is.True, text);
        Assert.That(Regex.IsMatch(text, @"^\s*hs\.module_count:\s*2\s*$", RegexOptions.Multiline), Is.True, text);
        Assert.That(Regex.IsMatch(text, @"^\s*hs\.adapter\.name:\s*printed-adapter\s*$", RegexOptions.Multiline), Is.True, text);
        // Without -l, vdb_print lists one line per grid: its name and value type.
        var brief = ExternalProcess.Run(vdbPrint, [path], TimeSpan.FromMinutes(1));
        brief.AssertSuccess();
        var lines = brief.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Has.Length.EqualTo(1), brief.StdOut);
        Assert.That(lines[0], Does.Match(@"^printed-adapter\s+float\s"));
    }

    // ---------------- pyopenvdb reads our files ----------------

    private const string PyReadOurs = """
        grid = vdb.read(spec["path"], spec["grid"])
        meta = grid.metadata
        acc = grid.getAccessor()
        modules = {}
        for i in range(meta["hs.module_count"]):
            modules[meta[mkey(i, "name")]] = (meta[mkey(i, "slot_base")], meta[mkey(i, "cols")], meta[mkey(i, "rows")])
        out = []
        for name, row, col in spec["samples"]:
            slot_base, cols, rows = modules[name]
            xyz = voxel(slot_base, cols, row, col)
            value, on = acc.probeValue(xyz)
            out.append({"xyz": list(xyz), "value": float(value), "active": bool(on)})
        print(json.dumps({
            "type": grid.valueTypeName,
            "mapping": meta["hs.mapping"],
            "mapping_version": meta["hs.mapping_version"],
            "adapter_name": meta["hs.adapter.name"],
            "base_model": meta["hs.adapter.base_model"],
            "module_count": meta["hs.module_count"],
            "modules": {k: list(v) for k, v in modules.items()},
            "active_voxels": grid.activeVoxelCount(),
            "samples": out,
        }))
        """;

    [Test]
    public void Pyopenvdb_ReadsOurFile_MetadataAndWeightsAtDocumentedVoxels([Values] WeightPrecision precision)
    {
        RequirePython();
        using var dir = new TempDir();
        var path = dir.File("ours.vdb");
        bool half = precision == WeightPrecision.Half;
        using var a = new SparseAdapter("py-readable", "Qwen/Qwen3-1.7B");
        // A second module whose slots start past a lower-internal-node boundary (4096 slots) exercises more of the formula.
        var q = a.AddModule("model.layers.3.self_attn.q_proj", 2048, 2048, 0.5f);
        var d = a.AddModule("model.layers.4.mlp.down_proj", 37, 203, 2f);
        Assert.That(q.SlotBase, Is.EqualTo(0));
        Assert.That(d.SlotBase, Is.EqualTo(TileMapping.TileCount(2048, 2048)));
        var rng = new Random(123);
        foreach (var m in new[] { q, d })
        {
            for (int i = 0; i < 400; i++) m.Set(rng.Next(m.Rows), rng.Next(m.Cols), (float)(rng.NextDouble() * 4 - 2));
            m.Set(m.Rows - 1, m.Cols - 1, 1.25f);  // the far corner (partial edge tile for the odd shape)
            m.Set(0, 0, -3.5f);
        }
        a.Save(path, half ? SaveOptions.Half : SaveOptions.Default);
        using var loaded = SparseAdapter.Load(path);

        var weights = a.EnumerateActive().ToList();
        var samples = weights.Select(w => (w.Module, w.Row, w.Col)).ToList();
        // A few positions that hold nothing.
        samples.Add((q.Name, 5, 7));
        samples.Add((d.Name, 36, 1));
        foreach (var (mod, r, c) in samples.Skip(weights.Count))
            Assert.That(a.Modules[mod].IsActive(r, c), Is.False, "fixture: the empty samples must be empty");

        var result = RunPython(dir, PyReadOurs, new
        {
            path,
            grid = "py-readable",
            samples = samples.Select(s => new object[] { s.Module, s.Row, s.Col }).ToList(),
        });

        Assert.That(result.GetProperty("type").GetString(), Is.EqualTo("float"));
        Assert.That(result.GetProperty("mapping").GetString(), Is.EqualTo("hs.tile8x64"));
        Assert.That(result.GetProperty("mapping_version").GetInt32(), Is.EqualTo(1));
        Assert.That(result.GetProperty("adapter_name").GetString(), Is.EqualTo("py-readable"));
        Assert.That(result.GetProperty("base_model").GetString(), Is.EqualTo("Qwen/Qwen3-1.7B"));
        Assert.That(result.GetProperty("module_count").GetInt32(), Is.EqualTo(2));
        var pyModules = result.GetProperty("modules");
        Assert.That(pyModules.GetProperty(d.Name)[0].GetInt64(), Is.EqualTo(d.SlotBase));
        Assert.That(pyModules.GetProperty(d.Name)[1].GetInt32(), Is.EqualTo(203));
        Assert.That(pyModules.GetProperty(d.Name)[2].GetInt32(), Is.EqualTo(37));
        Assert.That(result.GetProperty("active_voxels").GetInt64(), Is.EqualTo(a.ActiveCount));

        var got = result.GetProperty("samples").EnumerateArray().ToList();
        Assert.That(got, Has.Count.EqualTo(samples.Count));
        for (int i = 0; i < samples.Count; i++)
        {
            var (mod, r, c) = samples[i];
            var xyz = got[i].GetProperty("xyz").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var expectedVoxel = TileMapping.Voxel(a.Modules[mod].SlotBase, a.Modules[mod].Cols, r, c);
            Assert.That((xyz[0], xyz[1], xyz[2]), Is.EqualTo(expectedVoxel), $"Python's voxel for {mod}[{r},{c}]");
            float py = (float)got[i].GetProperty("value").GetDouble();
            bool active = got[i].GetProperty("active").GetBoolean();
            if (i >= weights.Count)
            {
                Assert.That(active, Is.False, $"{mod}[{r},{c}] holds nothing");
                Assert.That(py, Is.EqualTo(0f));
                continue;
            }
            float set = weights[i].Value;
            Assert.That(active, Is.True, $"{mod}[{r},{c}] is stored");
            if (half)
            {
                Assert.That(py, Is.EqualTo(set).Within(1e-3 * Math.Abs(set) + 1e-7), $"{mod}[{r},{c}] (half)");
                // Both readers decode the same half bits.
                Assert.That(py, Is.EqualTo(loaded.Modules[mod].Get(r, c)), $"{mod}[{r},{c}]: pyopenvdb and we read the same half");
            }
            else Assert.That(py, Is.EqualTo(set), $"{mod}[{r},{c}]");
        }
    }

    // ---------------- we read files pyopenvdb wrote ----------------

    private const string PyWrite = """
        grid = vdb.Vec3SGrid() if spec.get("vec3") else vdb.FloatGrid()
        grid.name = spec["grid"]
        meta = spec["meta"]
        for k, v in meta.items():
            grid[k] = v  # plain Python str / int / float
        acc = grid.getAccessor()
        for i, row, col, value in spec.get("weights", []):
            xyz = voxel(meta[mkey(i, "slot_base")], meta[mkey(i, "cols")], row, col)
            acc.setValueOn(xyz, (value, value, value) if spec.get("vec3") else value)
        for i, row, col, value in spec.get("inactive", []):  # a value stored in a leaf without being a weight
            acc.setValueOff(voxel(meta[mkey(i, "slot_base")], meta[mkey(i, "cols")], row, col), value)
        for x, y, z, value in spec.get("raw", []):
            acc.setValueOn((x, y, z), (value, value, value) if spec.get("vec3") else value)
        for x0, y0, z0, x1, y1, z1, value in spec.get("fill", []):
            grid.fill((x0, y0, z0), (x1, y1, z1), value, True)  # whole-node boxes become active tiles, not leaves
        vdb.write(spec["path"], grids=[grid])
        print(json.dumps({"active_voxels": grid.activeVoxelCount(),
                          "types": {k: type(v).__name__ for k, v in vdb.read(spec["path"], spec["grid"]).metadata.items()}}))
        """;

    private const string ModA = "model.layers.3.self_attn.q_proj";
    private const string ModB = "model.layers.7.mlp.down_proj";

    /// <summary>Documented adapter metadata for two modules, as plain JSON (→ Python str / int / float) values.</summary>
    private static Dictionary<string, object> AdapterMeta(string name, long slotBaseB)
    {
        var meta = new Dictionary<string, object>
        {
            ["hs.mapping"] = "hs.tile8x64",
            ["hs.mapping_version"] = 1,
            ["hs.adapter.name"] = name,
            ["hs.adapter.base_model"] = "Qwen/Qwen3-1.7B",
            ["hs.module_count"] = 2,
            ["hs.provenance.source"] = "pyopenvdb",
            ["hs.meta.note"] = "written by an independent writer",
        };
        void Module(int i, string mod, int layer, int rows, int cols, long slotBase, double scale)
        {
            string K(string f) => $"hs.module.{i:D4}.{f}";
            meta[K("name")] = mod;
            meta[K("layer")] = layer;
            meta[K("rows")] = rows;
            meta[K("cols")] = cols;
            meta[K("slot_base")] = slotBase;
            meta[K("scale")] = scale;
        }
        Module(0, ModA, 3, 64, 200, 0, 0.5);
        Module(1, ModB, 7, 37, 130, slotBaseB, 0.25);
        return meta;
    }

    [Test]
    public void PyopenvdbWrittenAdapter_LoadsWithItsModulesAndValues(
        [Values(40L, 5000L, 134_217_728L + 12_345L, 5_000_000_000L)] long slotBaseB)
    {
        // 40: right after module A's 4×8 tiles; 5000: past a lower internal node; 2^27+…: past an upper internal
        // node (x ≥ 4096); 5e9: a slot_base only int64 metadata holds.
        RequirePython();
        using var dir = new TempDir();
        var path = dir.File("py.vdb");
        var entries = new List<(int Module, int Row, int Col, float Value)>
        {
            (0, 0, 0, 1.5f), (0, 7, 63, -2.25f), (0, 8, 64, 0.125f), (0, 63, 199, 3f), (0, 40, 130, -0.0078125f),
            (1, 0, 0, -1f), (1, 36, 129, 0.75f), (1, 17, 64, 6.5f), (1, 9, 3, -0.5f),
        };
        var meta = AdapterMeta("py-adapter", slotBaseB);
        var written = RunPython(dir, PyWrite, new
        {
            path,
            grid = "py-adapter",
            meta,
            weights = entries.Select(e => new object[] { e.Module, e.Row, e.Col, e.Value }).ToList(),
        });
        Assert.That(written.GetProperty("active_voxels").GetInt64(), Is.EqualTo(entries.Count));
        var types = written.GetProperty("types");
        Assert.That(types.GetProperty("hs.module.0000.scale").GetString(), Is.EqualTo("float"), "metadata went in as a Python float");
        Assert.That(types.GetProperty("hs.module_count").GetString(), Is.EqualTo("int"), "metadata went in as a Python int");

        var info = AdapterFile.ReadInfo(path);
        Assert.That(info.Adapters, Has.Count.EqualTo(1));
        Assert.That(info.Adapters[0].Name, Is.EqualTo("py-adapter"));
        Assert.That(info.Adapters[0].Modules.Select(m => m.Name), Is.EqualTo(new[] { ModA, ModB }));

        using var a = SparseAdapter.Load(path);
        Assert.That(a.Name, Is.EqualTo("py-adapter"));
        Assert.That(a.BaseModel, Is.EqualTo("Qwen/Qwen3-1.7B"));
        Assert.That(a.Provenance["source"], Is.EqualTo("pyopenvdb"));
        Assert.That(a.Metadata["note"], Is.EqualTo("written by an independent writer"));
        Assert.That(a.Modules.Count, Is.EqualTo(2));
        var ma = a.Modules[ModA];
        var mb = a.Modules[ModB];
        Assert.That((ma.Rows, ma.Cols, ma.Layer, ma.Scale, ma.SlotBase), Is.EqualTo((64, 200, 3, 0.5f, 0L)));
        Assert.That((mb.Rows, mb.Cols, mb.Layer, mb.Scale, mb.SlotBase), Is.EqualTo((37, 130, 7, 0.25f, slotBaseB)));
        Assert.That(a.ActiveCount, Is.EqualTo(entries.Count));
        Assert.That(ma.ActiveCount, Is.EqualTo(5));
        Assert.That(mb.ActiveCount, Is.EqualTo(4));

        var mods = new[] { ma, mb };
        foreach (var (i, r, c, v) in entries)
            Assert.That(mods[i].Get(r, c), Is.EqualTo(v), $"{mods[i].Name}[{r},{c}]");
        var expected = entries.ToDictionary(e => (mods[e.Module].Name, e.Row, e.Col), e => e.Value);
        Assert.That(Fixtures.Snapshot(a), Is.EquivalentTo(expected));
        Assert.That(ma.Get(1, 1), Is.EqualTo(0f));

        // New modules continue after the highest slot in the file; what we save, pyopenvdb wrote, reads back the same.
        var extra = a.AddModule("model.layers.9.self_attn.v_proj", 16, 16);
        Assert.That(extra.SlotBase, Is.EqualTo(Math.Max(32, slotBaseB + TileMapping.TileCount(37, 130))));
        extra.Set(3, 4, 9f);
        var resaved = dir.File("resaved.vdb");
        a.Save(resaved);
        using var again = SparseAdapter.Load(resaved);
        Assert.That(Fixtures.Snapshot(again), Is.EquivalentTo(Fixtures.Snapshot(a)));
    }

    [Test]
    public void PyopenvdbInactiveValues_ReadAsZeroInTiles_AndAddTilesStartsFromZero()
    {
        // OpenVDB keeps values under inactive voxels (and writes them); our writers never leave any, pyopenvdb can.
        RequirePython();
        using var dir = new TempDir();
        var path = dir.File("inactive.vdb");
        RunPython(dir, PyWrite, new
        {
            path,
            grid = "py-adapter",
            meta = AdapterMeta("py-adapter", 40),
            weights = new[] { new object[] { 0, 0, 0, 1.5 }, new object[] { 0, 0, 1, 2.0 }, new object[] { 0, 0, 192, 3.0 } },
            // (0, 2): a partly active row; (1, 0): a row with no weight; (0, 250): padding of module A's 200 columns.
            inactive = new[] { new object[] { 0, 0, 2, 5.0 }, new object[] { 0, 1, 0, 7.0 }, new object[] { 0, 0, 250, 9.0 } },
        });
        using var a = SparseAdapter.Load(path);
        var m = a.Modules[ModA];
        Assert.That(m.ActiveCount, Is.EqualTo(3));
        var rows = new int[8]; var cols = new int[8]; var values = new float[8 * TileMapping.TileSize];
        int n;
        using (var cur = m.OpenTileCursor()) n = cur.Read(rows, cols, values);
        Assert.That((n, rows[0], cols[0], rows[1], cols[1]), Is.EqualTo((2, 0, 0, 0, 3)));
        var t0 = new float[TileMapping.TileSize]; t0[0] = 1.5f; t0[1] = 2f;
        var t3 = new float[TileMapping.TileSize]; t3[0] = 3f;
        Assert.That(values.AsSpan(0, TileMapping.TileSize).ToArray(), Is.EqualTo(t0), "inactive 5 and 7 read as 0");
        Assert.That(values.AsSpan(TileMapping.TileSize, TileMapping.TileSize).ToArray(), Is.EqualTo(t3), "inactive padding reads as 0");
        var byGet = new float[2 * TileMapping.TileSize];
        m.GetTiles([0, 0], [0, 3], byGet);
        Assert.That(byGet, Is.EqualTo(values.AsSpan(0, 2 * TileMapping.TileSize).ToArray()));
        var add = new float[TileMapping.TileSize]; add[2] = 1f; add[64] = 1f; add[1] = 1f;
        m.AddTiles([0], [0], add);
        Assert.That((m.Get(0, 2), m.Get(1, 0), m.Get(0, 1)), Is.EqualTo((1f, 1f, 3f)), "adds start from 0 under inactive voxels");
    }

    [Test]
    public void PlainPyopenvdbFloatGrid_IsRefusedNamingTheMissingMapping()
    {
        RequirePython();
        using var dir = new TempDir();
        var path = dir.File("plain.vdb");
        RunPython(dir, PyWrite, new
        {
            path,
            grid = "density",
            meta = new Dictionary<string, object> { ["class"] = "fog volume" },
            raw = new[] { new object[] { 1, 2, 3, 0.5 }, new object[] { 100, -20, 7, 1.0 } },
        });

        var e = Assert.Throws<InvalidDataException>(() => SparseAdapter.Load(path))!;
        Assert.That(e.Message, Does.Contain("hs.mapping"));
        Assert.That(e.Message, Does.Contain("missing"));
        var info = AdapterFile.ReadInfo(path);
        Assert.That(info.Adapters, Is.Empty);
        Assert.That(info.OtherGrids, Is.EqualTo(new[] { "density" }));
    }

    [Test]
    public void PyopenvdbVec3SGridWithAdapterMetadata_IsRefusedAsNotFloat()
    {
        RequirePython();
        using var dir = new TempDir();
        var path = dir.File("vec3.vdb");
        RunPython(dir, PyWrite, new
        {
            path,
            grid = "vec-adapter",
            vec3 = true,
            meta = AdapterMeta("vec-adapter", 40),
            weights = new[] { new object[] { 0, 1, 2, 0.5 } },
        });

        var e = Assert.Throws<InvalidDataException>(() => SparseAdapter.Load(path))!;
        Assert.That(e.Message, Does.Contain("float grid").IgnoreCase);
        Assert.That(e.Message, Does.Contain("vec3s").IgnoreCase, "names the type it found");
        Assert.Throws<InvalidDataException>(() => AdapterFile.Load(path, "vec-adapter"));
        Assert.That(AdapterFile.ReadInfo(path).Adapters, Is.Empty);
    }

    public enum Outside
    {
        PastEveryModule, BetweenModules, EdgeTileBeyondShape, NegativeCoordinate, NegativeY,
        // Voxels the mapping never produces: an aliased leaf origin, and an active tile above leaf level.
        AliasY4096, AliasZ4096, ActiveTileOverModules,
    }

    [TestCase(Outside.PastEveryModule)]
    [TestCase(Outside.BetweenModules)]
    [TestCase(Outside.EdgeTileBeyondShape)]
    [TestCase(Outside.NegativeCoordinate)]
    [TestCase(Outside.NegativeY)]
    public void PyopenvdbVoxelsOutsideEveryModule_AreRefused(Outside where) => AssertStrayVoxelsRefused(where);

    /// <summary>
    /// Voxels the mapping cannot place are refused too: a leaf at y or z ≥ 4096 (whose slot would alias one inside a
    /// module) and active tiles above leaf level (which no module stores weights as).
    /// </summary>
    [TestCase(Outside.AliasY4096)]
    [TestCase(Outside.AliasZ4096)]
    [TestCase(Outside.ActiveTileOverModules)]
    public void PyopenvdbVoxelsTheMappingCannotPlace_AreRefused(Outside where) => AssertStrayVoxelsRefused(where);

    private static void AssertStrayVoxelsRefused(Outside where)
    {
        RequirePython();
        using var dir = new TempDir();
        var path = dir.File("outside.vdb");
        const long slotBaseB = 5000;
        // Module A (64×200) has slots 0..31, module B (37×130) slots 5000..5014; a correct voxel in each.
        var weights = new List<object[]> { new object[] { 0, 5, 6, 1.0 }, new object[] { 1, 30, 100, 2.0 } };
        var raw = new List<object[]>();
        var fill = new List<object[]>();
        switch (where)
        {
            case Outside.PastEveryModule:
                raw.Add(Raw(TileMapping.SlotOrigin(slotBaseB + 15), 0, 0, 0));
                break;
            case Outside.BetweenModules:
                raw.Add(Raw(TileMapping.SlotOrigin(32), 1, 2, 3));
                break;
            case Outside.EdgeTileBeyondShape:
                // Module B's last tile row covers rows 32..39, but the module has 37 rows: row 38 is outside.
                weights.Add(new object[] { 1, 38, 5, 3.0 });
                break;
            case Outside.NegativeCoordinate:
                raw.Add(new object[] { -1, 0, 0, 4.0 });
                break;
            case Outside.AliasY4096:
                raw.Add(Raw(TileMapping.SlotOrigin(0), 1, 4096 + 2, 3));
                break;
            case Outside.AliasZ4096:
                raw.Add(Raw(TileMapping.SlotOrigin(slotBaseB), 1, 2, 4096 + 3));
                break;
            case Outside.NegativeY:
                raw.Add(new object[] { 0, -1, 0, 4.0 });
                break;
            case Outside.ActiveTileOverModules:
                // One active 128³ tile at the lower-node level: slots 0..4095, far more than module A's 32.
                fill.Add(new object[] { 0, 0, 0, 127, 127, 127, 5.0 });
                weights.RemoveAt(0);
                break;
        }
        var written = RunPython(dir, PyWrite, new { path, grid = "bad-adapter", meta = AdapterMeta("bad-adapter", slotBaseB), weights, raw, fill });
        long expectedActive = where == Outside.ActiveTileOverModules ? 128 * 128 * 128 + 1 : 3;
        Assert.That(written.GetProperty("active_voxels").GetInt64(), Is.EqualTo(expectedActive));

        var e = Assert.Throws<InvalidDataException>(() => SparseAdapter.Load(path))!;
        Assert.That(e.Message, Does.Contain("outside"));
        if (where != Outside.ActiveTileOverModules) Assert.That(e.Message, Does.Contain("1 of its 3"), "counts the one stray voxel");
    }

    private static object[] Raw((int X, int Y, int Z) origin, int dx, int dy, int dz, double value = 7.0) =>
        [origin.X + dx, origin.Y + dy, origin.Z + dz, value];
}

/// <summary>Runs a short-lived external program and captures its output.</summary>
internal static class ExternalProcess
{
    public sealed record Result(string FileName, IReadOnlyList<string> Args, int ExitCode, string StdOut, string StdErr)
    {
        public void AssertSuccess()
        {
            if (ExitCode != 0)
                Assert.Fail($"{FileName} {string.Join(' ', Args)} exited with {ExitCode}\nstderr:\n{StdErr}\nstdout:\n{StdOut}");
        }
    }

    public static Result Run(string fileName, IReadOnlyList<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {fileName}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            Assert.Fail($"{fileName} {string.Join(' ', args)} did not finish within {timeout}\nstderr:\n{stderr.Result}");
        }
        p.WaitForExit();
        return new Result(fileName, args, p.ExitCode, stdout.Result, stderr.Result);
    }

    public static string? FindOnPath(string name)
    {
        foreach (var d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Append("/usr/bin"))
        {
            if (d.Length == 0) continue;
            var f = Path.Combine(d, name);
            if (File.Exists(f)) return f;
        }
        return null;
    }
}
