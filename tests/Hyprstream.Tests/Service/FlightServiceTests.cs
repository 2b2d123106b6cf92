using Apache.Arrow;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Hyprstream.Flight.Rpc;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Flight.Ipc;
using Hyprstream.Flight.Protocol;
using Hyprstream.Runtime;
using Hyprstream.Service;

using static Hyprstream.Tests.Service.FlightPutTests;
namespace Hyprstream.Tests.Service;

/// <summary>The Flight service end to end with our own client: a real Kestrel server on a loopback port.</summary>
[TestFixture]
public sealed class FlightServiceTests
{
    private TempDir _dir = null!;
    private FlightServiceHost _host = null!;
    private FlightClient _client = null!;
    private Dictionary<(string, int, int), float> _expected = null!;

    [OneTimeSetUp]
    public async Task Start()
    {
        _dir = new TempDir();
        using (var a = Fixtures.Small("small"))
        {
            a.Save(_dir.File("small.vdb"));
            _expected = Fixtures.Snapshot(a);
        }
        _host = await FlightServiceHost.StartAsync(new FlightServiceOptions
        {
            DataDirectory = _dir.Path,
            Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0),
            BatchRows = 100, // several batches even for the small fixture
        });
        _client = new FlightClient(_host.Address);
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _client.Dispose();
        await _host.DisposeAsync();
        _dir.Dispose();
    }

    internal static FlightDescriptor Path(params string[] p) => new() { Type = FlightDescriptor.Types.DescriptorType.Path, Path = { p } };

    internal static FlightDescriptor Cmd(object json) => new() { Type = FlightDescriptor.Types.DescriptorType.Cmd, Cmd = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(json)) };

    internal static async Task<Dictionary<(string, int, int), float>> ReadAll(FlightClient client, Ticket ticket)
    {
        var got = new Dictionary<(string, int, int), float>();
        await foreach (var b in client.DoGetAsync(ticket))
        {
            var rows = ((Int32Array)b.Column("row")).Values.ToArray();
            var cols = ((Int32Array)b.Column("col")).Values.ToArray();
            var vals = ((FloatArray)b.Column("value")).Values.ToArray();
            var (names, index) = Columns.Strings(b.Column("module"), "module");
            for (int i = 0; i < b.Length; i++) got.Add((names[index[i]], rows[i], cols[i]), vals[i]);
        }
        return got;
    }

    [Test]
    public async Task ListFlights_OneFlightPerAdapterAndModule_WithCounts()
    {
        var flights = await _client.ListFlightsAsync();
        var small = flights.Where(f => f.FlightDescriptor.Path.Count >= 2 && f.FlightDescriptor.Path[0] == "adapters" && f.FlightDescriptor.Path[1] == "small").ToList();
        Assert.That(small, Has.Count.EqualTo(3));
        Assert.That(flights.Count(f => f.FlightDescriptor.Path.Count >= 2 && f.FlightDescriptor.Path[0] == "tiles" && f.FlightDescriptor.Path[1] == "small"), Is.EqualTo(3),
            "the tile form of the adapter and of each module");
        var whole = small.Single(f => f.FlightDescriptor.Path.Count == 2);
        Assert.That(whole.TotalRecords, Is.EqualTo(_expected.Count));
        var q = small.Single(f => f.FlightDescriptor.Path.Count == 3 && f.FlightDescriptor.Path[2] == "model.layers.0.self_attn.q_proj");
        Assert.That(q.TotalRecords, Is.EqualTo(_expected.Keys.Count(k => k.Item1 == "model.layers.0.self_attn.q_proj")));
        var schema = SchemaBytes.Decode(whole.Schema.Memory);
        Assert.That(schema.FieldsList.Select(f => f.Name), Is.EqualTo(new[] { "module", "row", "col", "value" }));
        Assert.That(schema.GetFieldByIndex(0).DataType, Is.TypeOf<Apache.Arrow.Types.DictionaryType>(), "the module column is dictionary-encoded");
        Assert.That(schema.Metadata["hyprstream.adapter"], Is.EqualTo("small"));
        using var meta = JsonDocument.Parse(whole.AppMetadata.Memory);
        Assert.That(meta.RootElement.GetProperty("base_model").GetString(), Is.EqualTo("Qwen/Qwen3-1.7B"));
        Assert.That(meta.RootElement.GetProperty("modules").GetArrayLength(), Is.EqualTo(2));
    }

    [Test]
    public async Task DoGet_WholeAdapter_ReturnsEveryStoredWeight_InBoundedBatches()
    {
        var info = await _client.GetFlightInfoAsync(Path("adapters", "small"));
        int batches = 0;
        await foreach (var b in _client.DoGetAsync(info.Endpoint[0].Ticket))
        {
            batches++;
            Assert.That(b.Length, Is.LessThanOrEqualTo(100));
        }
        var got = await ReadAll(_client, info.Endpoint[0].Ticket);
        Assert.That(got, Is.EquivalentTo(_expected));
        Assert.That(batches, Is.GreaterThanOrEqualTo(_expected.Count / 100));
    }

    [Test]
    public async Task DoGet_OneModule_ReturnsOnlyThatModule()
    {
        var info = await _client.GetFlightInfoAsync(Path("adapters", "small", "model.layers.1.mlp.down_proj"));
        var got = await ReadAll(_client, info.Endpoint[0].Ticket);
        Assert.That(got, Is.EquivalentTo(_expected.Where(kv => kv.Key.Item1 == "model.layers.1.mlp.down_proj")));
        var schema = await _client.GetSchemaAsync(Path("adapters", "small", "model.layers.1.mlp.down_proj"));
        Assert.That(schema.Metadata["hyprstream.shape"], Is.EqualTo("37x203"));
        Assert.That(schema.Metadata["hyprstream.scale"], Is.EqualTo("0.5"));
    }

    [Test]
    public void UnknownAdapterOrModuleOrTicket_IsNotFound_OrInvalid()
    {
        var e = Assert.ThrowsAsync<RpcException>(() => _client.GetFlightInfoAsync(Path("adapters", "nope")));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        e = Assert.ThrowsAsync<RpcException>(() => _client.GetFlightInfoAsync(Path("adapters", "small", "no.such.module")));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        e = Assert.ThrowsAsync<RpcException>(async () => await ReadAll(_client, new Ticket { Ticket_ = ByteString.CopyFromUtf8("{\"adapter\":\"ghost\"}") }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        e = Assert.ThrowsAsync<RpcException>(async () => await ReadAll(_client, new Ticket { Ticket_ = ByteString.CopyFromUtf8("not json") }));
        Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
    }
}
