using System.Buffers.Binary;
using System.Text;
using Hyprstream.Runtime.Bytes;

namespace Hyprstream.Runtime.Store;

/// <summary>What a WAL record does.</summary>
public enum WalOp : byte
{
    CreateAdapter = 1, // payload: base model (UTF-8, may be empty)
    Update = 2,        // payload: a BatchCodec batch
    DeleteAdapter = 3, // payload: empty
    Describe = 4,      // payload: tags + embedding (see AdapterDescription)
    CreateFrom = 5,    // payload: i32 base-model length, base model (UTF-8), a BatchCodec batch; replaces an existing adapter
}
