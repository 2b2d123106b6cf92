using Hyprstream.Interop;
using Hyprstream.Interop.OpenVdb;
using Hyprstream.Runtime;

namespace Hyprstream.Tests;

/// <summary>Native failures become the right .NET exceptions with the native message; messages are per thread.</summary>
public class ErrorTests
{
    [Test]
    public void StatusCodes_MapToExceptionTypes()
    {
        Assert.That(Status.ToException(Status.InvalidArgument, "m"), Is.TypeOf<ArgumentException>());
        Assert.That(Status.ToException(Status.OutOfRange, "m"), Is.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(Status.ToException(Status.Io, "m"), Is.TypeOf<IOException>());
        Assert.That(Status.ToException(Status.InvalidData, "m"), Is.TypeOf<InvalidDataException>());
        Assert.That(Status.ToException(Status.NotFound, "'x' does not exist"), Is.TypeOf<FileNotFoundException>());
        Assert.That(Status.ToException(Status.NotFound, "metadata key 'k' is missing"), Is.TypeOf<KeyNotFoundException>());
        Assert.That(Status.ToException(Status.OutOfMemory, "m"), Is.TypeOf<OutOfMemoryException>());
        var e = Status.ToException(Status.Internal, "boom");
        Assert.That(e, Is.TypeOf<HyprstreamException>());
        Assert.That(((HyprstreamException)e).NativeStatus, Is.EqualTo(Status.Internal));
        Assert.That(e.Message, Does.Contain("boom"));
    }

    [Test]
    public void NativeMessage_ReachesTheException()
    {
        using var a = new SparseAdapter("e");
        var m = a.AddModule("m", 4, 4);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => m.Set(4, 0, 1f));
        Assert.That(e!.Message, Does.Contain("(4, 0)").And.Contain("4x4"));
        var n = Assert.Throws<ArgumentException>(() => m.Set(0, 0, float.NaN));
        Assert.That(n!.Message, Does.Contain("NaN"));
    }

    [Test]
    public void SuccessfulCall_ClearsTheLastError()
    {
        using var a = new SparseAdapter("e");
        var m = a.AddModule("m", 4, 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Set(-1, 0, 1f));
        Assert.That(Status.LastError(), Is.Not.Empty);
        m.Set(0, 0, 1f);
        Assert.That(Status.LastError(), Is.Empty);
    }

    [Test]
    public void LastError_IsPerThread()
    {
        using var a = new SparseAdapter("e");
        var m = a.AddModule("m", 4, 4);
        var barrier = new Barrier(2);
        string? fromA = null, fromB = null;
        var ta = new Thread(() =>
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => m.Get(99, 0));
            barrier.SignalAndWait();   // B fails now, with another message
            barrier.SignalAndWait();
            fromA = Status.LastError();
        });
        var tb = new Thread(() =>
        {
            barrier.SignalAndWait();
            Assert.Throws<ArgumentException>(() => m.Set(0, 0, float.PositiveInfinity));
            fromB = Status.LastError();
            barrier.SignalAndWait();
        });
        ta.Start(); tb.Start(); ta.Join(); tb.Join();
        Assert.That(fromA, Does.Contain("(99, 0)"));
        Assert.That(fromB, Does.Contain("infinite"));
    }

    [Test]
    public void NullHandles_AreRefused_NotCrashes()
    {
        unsafe
        {
            Assert.That(Hs.hs_grid_memory_bytes(new Interop.Handles.GridHandle(), out _), Is.EqualTo(Status.InvalidArgument));
            Assert.That(Status.LastError(), Does.Contain("NULL"));
            Assert.That(Hs.hs_cursor_next(new Interop.Handles.CursorHandle(), null, null, null, 0, out _), Is.EqualTo(Status.InvalidArgument));
            Assert.That(Hs.hs_tile_cursor_next(new Interop.Handles.TileCursorHandle(), null, null, null, 0, out _), Is.EqualTo(Status.InvalidArgument));
        }
    }

    [Test]
    public void TileCalls_NullArraysAndNegativeCounts_AreInvalidArgument_AndChangeNothing()
    {
        using var a = new SparseAdapter("t");
        var m = a.AddModule("m", 8, 64);
        m.Set(0, 0, 1f);
        var mod = new HsModule(m.SlotBase, m.Rows, m.Cols);
        unsafe
        {
            Assert.That(Hs.hs_grid_set_tiles(a.Grid, mod, null, null, null, 1), Is.EqualTo(Status.InvalidArgument));
            Assert.That(Status.LastError(), Does.Contain("NULL"));
            Assert.That(Hs.hs_grid_add_tiles(a.Grid, mod, null, null, null, -1), Is.EqualTo(Status.InvalidArgument));
            Assert.That(Status.LastError(), Does.Contain("negative"));
            Assert.That(Hs.hs_grid_get_tiles(a.Grid, mod, null, null, null, 1), Is.EqualTo(Status.InvalidArgument));
            Assert.That(Hs.hs_grid_set_tiles(a.Grid, mod, null, null, null, 0), Is.EqualTo(Status.Ok), "(NULL, 0) is an empty batch");
            Assert.That(Hs.hs_tile_cursor_create(a.Grid, mod, out var cursor), Is.EqualTo(Status.Ok));
            using (cursor)
            {
                Assert.That(Hs.hs_tile_cursor_next(cursor, null, null, null, -1, out _), Is.EqualTo(Status.InvalidArgument));
                Assert.That(Hs.hs_tile_cursor_next(cursor, null, null, null, 4, out _), Is.EqualTo(Status.InvalidArgument));
                Assert.That(Hs.hs_tile_cursor_next(cursor, null, null, null, 0, out var none), Is.EqualTo(Status.Ok));
                Assert.That(none, Is.Zero);
            }
            var bad = new HsModule(m.SlotBase, 0, 64);
            Assert.That(Hs.hs_tile_cursor_create(a.Grid, bad, out var refused), Is.EqualTo(Status.InvalidArgument));
            Assert.That(refused.IsInvalid, Is.True);
        }
        Assert.That(m.Get(0, 0), Is.EqualTo(1f));
        Assert.That(m.ActiveCount, Is.EqualTo(1));
    }

    [Test]
    public void StringOutput_TooSmallBuffer_ReportsTheNeededSize()
    {
        using var meta = new NativeMeta();
        meta.Set("k", "hello world");
        unsafe
        {
            byte* buf = stackalloc byte[4];
            Assert.That(Hs.hs_meta_get_string(meta.Handle, "k", buf, 4, out var required), Is.EqualTo(Status.BufferTooSmall));
            Assert.That(required, Is.EqualTo(12));
        }
        Assert.That(meta.GetString("k"), Is.EqualTo("hello world"));
        Assert.Throws<KeyNotFoundException>(() => meta.GetString("missing"));
        Assert.Throws<InvalidDataException>(() => meta.GetInt64("k"));
    }
}
