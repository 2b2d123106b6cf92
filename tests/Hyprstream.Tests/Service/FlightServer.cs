using Hyprstream.Flight.Rpc;
using Hyprstream.Runtime;
using Hyprstream.Runtime.Store;
using Hyprstream.Service;

namespace Hyprstream.Tests.Service;

/// <summary>A real service on a loopback port over a fresh data directory, plus a client; disposed by the test.</summary>
internal sealed class FlightServer : IAsyncDisposable
{
    public TempDir Dir { get; } = new();
    public FlightServiceHost Host { get; private set; } = null!;
    public FlightClient Client { get; private set; } = null!;

    private readonly List<FlightClient> _clients = [];

    /// <summary>A further client that sends <paramref name="token"/> on every call; disposed with the server.</summary>
    public FlightClient ClientFor(string token)
    {
        var c = new FlightClient(Host.Address) { Token = token };
        _clients.Add(c);
        return c;
    }

    public static async Task<FlightServer> StartAsync(Action<TempDir>? seed = null, IReadOnlyCollection<string>? tokens = null, int batchRows = 65536, int maxMessage = 64 << 20,
        IReadOnlyCollection<TokenGrant>? grants = null, bool metrics = false, Action<string>? log = null,
        Func<FlightServiceOptions, FlightServiceOptions>? configure = null)
    {
        var s = new FlightServer();
        seed?.Invoke(s.Dir);
        var options = new FlightServiceOptions
        {
            DataDirectory = s.Dir.Path,
            Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0),
            Tokens = tokens ?? [],
            Grants = grants ?? [],
            BatchRows = batchRows,
            MaxMessageSize = maxMessage,
            Metrics = metrics ? new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0) : null,
            Log = log,
        };
        s.Host = await FlightServiceHost.StartAsync(configure?.Invoke(options) ?? options);
        s.Client = new FlightClient(s.Host.Address);
        return s;
    }

    /// <summary>
    /// What a crash right now would keep of an adapter: the store's files are copied while the service runs (no
    /// shutdown, no flush) and opened — and so recovered — on their own. Null when the adapter is not there.
    /// </summary>
    public SparseAdapter? Durable(string name) => DurableIn(System.IO.Path.Combine(Dir.Path, ServiceStore.StoreFolder), name);

    public static SparseAdapter? DurableIn(string storeDir, string name)
    {
        using var copy = new TempDir();
        using var store = CrashCopy(storeDir, copy.Path);
        return store.Contains(name) ? store.Get(name) : null;
    }

    /// <summary>The store's files copied into <paramref name="into"/> as a crash now would leave them, opened (so recovered) there.</summary>
    public static AdapterStore CrashCopy(string storeDir, string into)
    {
        foreach (var f in Directory.EnumerateFiles(storeDir, "*", SearchOption.AllDirectories))
        {
            var rel = System.IO.Path.GetRelativePath(storeDir, f);
            if (rel == "lock" || rel.StartsWith("cache", StringComparison.Ordinal)) continue;
            var dst = System.IO.Path.Combine(into, rel);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(dst)!);
            try { File.Copy(f, dst); }
            catch (FileNotFoundException) { } // deleted meanwhile (a folded WAL segment, a replaced snapshot)
        }
        return AdapterStore.Open(into, new StoreOptions { CheckpointWalBytes = 0, Fsync = FsyncPolicy.Never });
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        foreach (var c in _clients) c.Dispose();
        await Host.DisposeAsync();
        Dir.Dispose();
    }
}
