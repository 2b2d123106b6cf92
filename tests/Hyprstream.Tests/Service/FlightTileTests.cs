using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Types;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Service;

/// <summary>
/// The tile form (one row per stored 8×64 tile, values fixed_size_list[512]) read and written through the service,
/// value by value against the adapter's own weights; IPC body compression both ways; the gRPC health service.
/// </summary>
[TestFixture]
public sealed class FlightTileTests
{
    private const string Q = "model.layers.0.self_attn.q_proj", D = "model.layers.1.mlp.down_proj";

    private static async Task<(FlightServer, Dictionary<(string, int, int), float>)> Small()
    {
        Dictionary<(string, int, int), float> expected = null!;
        var s = await FlightServer.StartAsync(dir =>
        {
            using var a = Fixtures.Small("small", count: 400);
            expected = Fixtures.Snapshot(a);
            a.Save(dir.File("small.vdb"));
        });
        return (s, expected);
    }

    private static Ticket TicketOf(object json) => new() { Ticket_ = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(json)) };

    /// <summary>Every tile of a tile DoGet as weights (non-zero values), with the tiles seen and the bytes of padding checked to be zero.</summary>
    private static async Task<(Dictionary<(string, int, int), float> Weights, HashSet<(string, int, int)> Tiles, List<RecordBatch> Kept)> ReadTiles(
        FlightServer s, Ticket ticket, Func<IArrowArray, int, float> value)
    {
        var weights = new Dictionary<(string, int, int), float>();
        var tiles = new HashSet<(string, int, int)>();
        var shapes = new Dictionary<string, (int Rows, int Cols)> { [Q] = (64, 128), [D] = (37, 203) };
        await foreach (var b in s.Client.DoGetAsync(ticket))
        {
            var (names, idx) = Columns.Strings(b.Column(0), "module");
            var tr = ((Int32Array)b.Column(1)).Values;
            var tc = ((Int32Array)b.Column(2)).Values;
            var items = ((FixedSizeListArray)b.Column(3)).Values;
            for (int t = 0; t < b.Length; t++)
            {
                var m = names[idx[t]];
                Assert.That(tiles.Add((m, tr[t], tc[t])), Is.True, "each tile once");
                for (int k = 0; k < 512; k++)
                {
                    float v = value(items, t * 512 + k);
                    int row = tr[t] * 8 + k / 64, col = tc[t] * 64 + k % 64;
                    if (row >= shapes[m].Rows || col >= shapes[m].Cols) { Assert.That(v, Is.EqualTo(0f), "padding of an edge tile reads 0"); continue; }
                    if (v != 0) weights.Add((m, row, col), v);
                }
            }
        }
        return (weights, tiles, []);
    }

    private static float F32(IArrowArray a, int i) => ((FloatArray)a).Values[i];

    [Test]
    public async Task TileDoGet_CarriesEveryStoredWeight_ValueByValue_InEachType()
    {
        var (s, expected) = await Small();
        await using var _ = s;
        var info = await s.Client.GetFlightInfoAsync(Path("tiles", "small"));
        var ticket = info.Endpoint[0].Ticket;
        var (weights, tiles, _) = await ReadTiles(s, ticket, F32);
        Assert.That(weights, Is.EquivalentTo(expected));
        var wantTiles = expected.Keys.Select(k => (k.Item1, k.Item2 >> 3, k.Item3 >> 6)).ToHashSet();
        Assert.That(tiles, Is.EquivalentTo(wantTiles));
        Assert.That(info.TotalRecords, Is.EqualTo(wantTiles.Count), "FlightInfo counts tiles");

        // One module.
        var (qOnly, _, _) = await ReadTiles(s, (await s.Client.GetFlightInfoAsync(Path("tiles", "small", Q))).Endpoint[0].Ticket, F32);
        Assert.That(qOnly, Is.EquivalentTo(expected.Where(kv => kv.Key.Item1 == Q)));

        // float16: each value rounded to the nearest half; scaled: times the module's scale (0.5).
        var (halves, _, _) = await ReadTiles(s, TicketOf(new { adapter = "small", form = "tiles", dtype = "float16" }),
            (a, i) => (float)((HalfFloatArray)a).Values[i]);
        Assert.That(halves, Is.EquivalentTo(expected.ToDictionary(kv => kv.Key, kv => (float)(Half)kv.Value).Where(kv => kv.Value != 0)));
        var (scaled, _, _) = await ReadTiles(s, TicketOf(new { adapter = "small", form = "tiles", scaled = true }), F32);
        Assert.That(scaled, Is.EquivalentTo(expected.ToDictionary(kv => kv.Key, kv => kv.Value * 0.5f)));

        // bfloat16 travels as uint16 bits: the top half of the float32, rounded to nearest even (computed here, not by the service's code).
        var (brain, _, _) = await ReadTiles(s, TicketOf(new { adapter = "small", form = "tiles", dtype = "bfloat16" }),
            (a, i) => BitConverter.Int32BitsToSingle(((UInt16Array)a).Values[i] << 16));
        Assert.That(brain, Is.EquivalentTo(expected.ToDictionary(kv => kv.Key, kv => RoundToBf16(kv.Value)).Where(kv => kv.Value != 0)));

        // A CMD descriptor with a ticket's JSON describes that flight, and its schema says so.
        var cmdInfo = await s.Client.GetFlightInfoAsync(Cmd(new { adapter = "small", form = "tiles", dtype = "float16" }));
        var schema = SchemaBytes.Decode(cmdInfo.Schema.Memory);
        Assert.That(((FixedSizeListType)schema.GetFieldByIndex(3).DataType).ValueDataType, Is.TypeOf<HalfFloatType>());
        Assert.That(schema.Metadata["hyprstream.dtype"], Is.EqualTo("float16"));
        Assert.That(JsonDocument.Parse(cmdInfo.Endpoint[0].Ticket.Ticket_.Memory).RootElement.GetProperty("dtype").GetString(), Is.EqualTo("float16"));
    }

    private static float RoundToBf16(float v)
    {
        uint u = BitConverter.SingleToUInt32Bits(v);
        uint lower = u & 0xFFFF, upper = u >> 16;
        if (lower > 0x8000 || (lower == 0x8000 && (upper & 1) == 1)) upper++;
        return BitConverter.Int32BitsToSingle((int)(upper << 16));
    }

    private static readonly Schema TileSchema = new([
        new Field("module", StringType.Default, false), new Field("tile_row", Int32Type.Default, false), new Field("tile_col", Int32Type.Default, false),
        new Field("values", new FixedSizeListType(new Field("item", FloatType.Default, false), 512), false)], null);

    private static RecordBatch Tiles(params (string Module, int TileRow, int TileCol, (int R, int C, float V)[] Cells)[] tiles)
    {
        var values = new float[tiles.Length * 512];
        for (int t = 0; t < tiles.Length; t++)
            foreach (var (r, c, v) in tiles[t].Cells) values[t * 512 + r * 64 + c] = v;
        int n = tiles.Length;
        return new RecordBatch(TileSchema, [
            Columns.Utf8(tiles.Select(t => t.Module)), Columns.Int32(tiles.Select(t => t.TileRow).ToArray(), n),
            Columns.Int32(tiles.Select(t => t.TileCol).ToArray(), n), Columns.FixedSizeList(Columns.Float32(values, values.Length), 512, n)], n);
    }

    [Test]
    public async Task TileDoPut_SetsAndAddsWholeTiles_Durably_AndBadTilesChangeNothing()
    {
        await using var s = await FlightServer.StartAsync();
        var acks = await s.Client.DoPutAsync(Cmd(CreateCmd("t")), TileSchema, [
            (Tiles((Q, 0, 0, [(0, 0, 1f), (7, 63, 2f)]), (Q, 7, 1, [(7, 63, 3f)])), null),
            (Tiles((Q, 0, 0, [(0, 0, 0.5f), (1, 1, 4f)])), "add"u8.ToArray()),
        ]);
        Assert.That(acks, Has.Count.EqualTo(2));
        using (var onDisk = s.Durable("t")!)
        {
            var m = onDisk.Modules[Q];
            Assert.That(m.Get(0, 0), Is.EqualTo(1.5f));
            Assert.That(m.Get(7, 63), Is.EqualTo(2f));
            Assert.That(m.Get(1, 1), Is.EqualTo(4f));
            Assert.That(m.Get(63, 127), Is.EqualTo(3f));
            Assert.That(m.ActiveCount, Is.EqualTo(4), "zeros of a tile set are not stored");
        }
        // A set replaces the whole tile: what it does not name is gone.
        await s.Client.DoPutAsync(Path("tiles", "t"), TileSchema, [(Tiles((Q, 0, 0, [(2, 2, 9f)])), null)]);
        using (var onDisk = s.Durable("t")!)
        {
            Assert.That(onDisk.Modules[Q].Get(0, 0), Is.EqualTo(0f));
            Assert.That(onDisk.Modules[Q].Get(2, 2), Is.EqualTo(9f));
            Assert.That(onDisk.ActiveCount, Is.EqualTo(2));
        }
        var bad = new (RecordBatch Batch, string Why)[]
        {
            (Tiles((Q, 0, 0, [(3, 3, 5f)]), (Q, 8, 0, [(0, 0, 1f)])), "tile row 8 of a 64-row module"),
            (Tiles((Q, 0, 2, [(0, 0, 1f)])), "tile col 2 of a 128-col module"),
            (Tiles((Q, 0, 0, [(3, 3, float.NaN)])), "NaN"),
            (Tiles((Q, 0, 0, [(3, 3, float.PositiveInfinity)])), "infinity"),
            (Tiles(("no.such.module", 0, 0, [(0, 0, 1f)])), "unknown module"),
        };
        foreach (var (batch, why) in bad)
        {
            var e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Path("tiles", "t"), TileSchema, [(batch, null)]), why);
            Assert.That(e!.StatusCode, Is.AnyOf(StatusCode.InvalidArgument, StatusCode.NotFound), why);
        }
        using (var onDisk = s.Durable("t")!) Assert.That(onDisk.ActiveCount, Is.EqualTo(2), "no bad batch changed anything");
        Assert.That(s.Host.Store.Store.Info("t").ActiveCount, Is.EqualTo(2));
    }

    [Test]
    public async Task Padding_OfAnEdgeTile_MustBeZero()
    {
        await using var s = await FlightServer.StartAsync();
        await s.Client.DoPutAsync(Cmd(new { adapter = "e", create = true, modules = new[] { new { name = D, rows = 37, cols = 203 } } }), TileSchema, []);
        // Rows 37..39 and cols 203..255 of tile (4, 3) are outside the module.
        var e = Assert.ThrowsAsync<RpcException>(() => s.Client.DoPutAsync(Path("tiles", "e"), TileSchema, [(Tiles((D, 4, 3, [(5, 0, 1f)])), null)]));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);
        await s.Client.DoPutAsync(Path("tiles", "e"), TileSchema, [(Tiles((D, 4, 3, [(4, 10, 1f)])), null)]);
        using var onDisk = s.Durable("e")!;
        Assert.That(onDisk.Modules[D].Get(36, 202), Is.EqualTo(1f));
    }

    [TestCase("zstd")]
    [TestCase("lz4")]
    public async Task Compression_AskedByTheTicket_ShrinksTheStream_AndDecodes(string codec)
    {
        await using var s = await FlightServer.StartAsync();
        // Compressible: every weight of 16 whole tiles is 1.
        var cells = Enumerable.Range(0, 512).Select(k => (k / 64, k % 64, 1f)).ToArray();
        var tiles = Enumerable.Range(0, 16).Select(t => (Q, t % 8, t / 8, cells)).ToArray();
        await s.Client.DoPutAsync(Cmd(CreateCmd("c")), TileSchema, [(Tiles(tiles), null)]);
        long plain = 0, packed = 0, weights = 0;
        await foreach (var b in s.Client.DoGetAsync(TicketOf(new { adapter = "c", form = "tiles" }), ipcBytes: x => plain += x)) { }
        await foreach (var b in s.Client.DoGetAsync(TicketOf(new { adapter = "c", form = "tiles", compression = codec }), ipcBytes: x => packed += x))
            weights += ((FloatArray)((FixedSizeListArray)b.Column(3)).Values).Values.ToArray().Count(v => v == 1f);
        Assert.That(weights, Is.EqualTo(16 * 512));
        Assert.That(packed, Is.LessThan(plain / 4), $"{codec}: {packed} bytes against {plain}");

        // A compressed DoPut is read the same way.
        var ipc = codec == "zstd" ? IpcCompression.Zstd : IpcCompression.Lz4;
        await s.Client.DoPutAsync(Cmd(CreateCmd("c2")), TileSchema, [(Tiles(tiles), null)], ipc);
        using var onDisk = s.Durable("c2")!;
        Assert.That(onDisk.ActiveCount, Is.EqualTo(16 * 512));
    }

    [Test]
    public async Task HealthService_ServesTheFlightService()
    {
        await using var s = await FlightServer.StartAsync();
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(s.Host.Address);
        var health = new Health.HealthClient(channel);
        Assert.That((await health.CheckAsync(new HealthCheckRequest())).Status, Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
        Assert.That((await health.CheckAsync(new HealthCheckRequest { Service = "arrow.flight.protocol.FlightService" })).Status,
            Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
        var e = Assert.ThrowsAsync<RpcException>(async () => await health.CheckAsync(new HealthCheckRequest { Service = "no.such.Service" }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
    }

    [Test]
    public async Task PollFlightInfoAndDoExchange_AreUnimplemented()
    {
        await using var s = await FlightServer.StartAsync();
        var e = Assert.ThrowsAsync<RpcException>(async () => await s.Client.Stub.PollFlightInfoAsync(Path("adapters", "x")));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.Unimplemented));
        using var call = s.Client.Stub.DoExchange();
        e = Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(default));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.Unimplemented));
    }
}
