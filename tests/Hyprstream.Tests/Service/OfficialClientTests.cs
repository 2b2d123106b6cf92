using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Types;
using Grpc.Core;
using Grpc.Net.Client;
using Hyprstream.Flight.Ipc;
using Official = Apache.Arrow.Flight;
using OfficialClient = Apache.Arrow.Flight.Client.FlightClient;

namespace Hyprstream.Tests.Service;

/// <summary>
/// The official Apache Arrow C# Flight client (Apache.Arrow.Flight 23) as a second independent client. Its reader
/// does not load dictionary batches, so it asks for the module column as plain utf8 ("dictionary": false in the
/// ticket); everything else is as any client gets it.
/// </summary>
[TestFixture]
public sealed class OfficialClientTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";

    [Test]
    public async Task OfficialClient_ListsReadsRowsAndTiles_AndWrites()
    {
        Dictionary<(string, int, int), float> expected = null!;
        await using var s = await FlightServer.StartAsync(dir =>
        {
            using var a = Fixtures.Small("small", count: 300);
            expected = Fixtures.Snapshot(a);
            a.Save(dir.File("small.vdb"));
        });
        using var channel = GrpcChannel.ForAddress(s.Host.Address);
        var client = new OfficialClient(channel);

        var listed = new List<Official.FlightInfo>();
        using (var list = client.ListFlights())
            while (await list.ResponseStream.MoveNext(default)) listed.Add(list.ResponseStream.Current);
        Assert.That(listed.Select(f => string.Join("/", f.Descriptor.Paths)), Is.SupersetOf(new[] { "adapters/small", "tiles/small", $"adapters/small/{Q}" }));

        var info = await client.GetInfo(Official.FlightDescriptor.CreatePathDescriptor("adapters", "small"));
        Assert.That(info.TotalRecords, Is.EqualTo(expected.Count));
        var ticket = JsonSerializer.Deserialize<Dictionary<string, object>>(info.Endpoints[0].Ticket.Ticket.ToStringUtf8())!;
        ticket["dictionary"] = false;
        var rows = new Dictionary<(string, int, int), float>();
        using (var get = client.GetStream(new Official.FlightTicket(JsonSerializer.Serialize(ticket))))
            while (await get.ResponseStream.MoveNext())
            {
                var b = get.ResponseStream.Current;
                var m = (StringArray)b.Column(0);
                var r = (Int32Array)b.Column(1);
                var c = (Int32Array)b.Column(2);
                var v = (FloatArray)b.Column(3);
                for (int i = 0; i < b.Length; i++) rows.Add((m.GetString(i), r.Values[i], c.Values[i]), v.Values[i]);
            }
        Assert.That(rows, Is.EquivalentTo(expected));

        var tiles = new Dictionary<(string, int, int), float>();
        using (var get = client.GetStream(new Official.FlightTicket("{\"adapter\":\"small\",\"form\":\"tiles\",\"dictionary\":false}")))
            while (await get.ResponseStream.MoveNext())
            {
                var b = get.ResponseStream.Current;
                var m = (StringArray)b.Column(0);
                var tr = ((Int32Array)b.Column(1)).Values;
                var tc = ((Int32Array)b.Column(2)).Values;
                var v = ((FloatArray)((FixedSizeListArray)b.Column(3)).Values).Values;
                for (int t = 0; t < b.Length; t++)
                    for (int k = 0; k < 512; k++)
                        if (v[t * 512 + k] != 0) tiles.Add((m.GetString(t), tr[t] * 8 + k / 64, tc[t] * 64 + k % 64), v[t * 512 + k]);
            }
        Assert.That(tiles, Is.EquivalentTo(expected));

        // DoPut with the official writer: a CMD descriptor creating an adapter, one row batch (plain utf8 module).
        var schema = new Schema([new Field("module", StringType.Default, false), new Field("row", Int32Type.Default, false),
            new Field("col", Int32Type.Default, false), new Field("value", FloatType.Default, false)], null);
        var cmd = JsonSerializer.Serialize(new { adapter = "official", create = true, modules = new[] { new { name = Q, rows = 64, cols = 128 } } });
        var put = await client.StartPut(Official.FlightDescriptor.CreateCommandDescriptor(cmd), schema);
        await put.RequestStream.WriteAsync(new RecordBatch(schema, [Columns.Utf8([Q, Q]), Columns.Int32([3, 4], 2), Columns.Int32([5, 6], 2), Columns.Float32([0.25f, -1f], 2)], 2));
        await put.RequestStream.CompleteAsync();
        int acks = 0;
        while (await put.ResponseStream.MoveNext()) acks++;
        Assert.That(acks, Is.EqualTo(1));
        using var onDisk = s.Durable("official")!;
        Assert.That(onDisk.Modules[Q].Get(3, 5), Is.EqualTo(0.25f));
        Assert.That(onDisk.Modules[Q].Get(4, 6), Is.EqualTo(-1f));

        // Errors reach it as statuses.
        var e = Assert.ThrowsAsync<RpcException>(async () => await client.GetInfo(Official.FlightDescriptor.CreatePathDescriptor("adapters", "missing")));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
    }
}
