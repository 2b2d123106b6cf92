// handles.h — what the opaque C handle types are on this side of the ABI.
#pragma once
#include <openvdb/openvdb.h>
#include <openvdb/io/File.h>
#include <atomic>
#include <memory>
#include <vector>
#include "guard.h"

struct hs_grid {
    openvdb::FloatGrid::Ptr grid;
    // The tree's memory bytes (hs::memoryBytes) as last computed, or -1 when unknown. Every access that may change
    // the tree (the non-const gridOf) resets it; the tile writes, which know the nodes they add, keep it exact. The
    // store asks after every write, and the walk over a sparse adapter's lower nodes cost ~5% of a tile DoPut.
    // Atomic: readers of one grid may fill it in concurrently (writers are exclusive).
    mutable std::atomic<int64_t> memoryBytes{-1};
};

struct hs_meta {
    openvdb::MetaMap map;
    // hs_meta_key_at walks keys in order; remembering the last position makes a full walk O(n), not O(n^2).
    mutable openvdb::MetaMap::ConstMetaIterator cursor{};
    mutable int32_t cursorIndex = -1;
    void touched() { cursorIndex = -1; }
};

struct hs_file {
    std::unique_ptr<openvdb::io::File> file;
    std::string path;
    std::vector<std::string> names;
    std::vector<std::string> types;
};

struct hs_cursor {
    openvdb::FloatGrid::ConstPtr grid;  // shares ownership; the grid outlives the cursor
    hs_module module;
    int64_t tile = 0;     // next tile (relative to the module) to visit
    int32_t offset = 0;   // next leaf offset inside that tile
};

struct hs_tile_cursor {
    openvdb::FloatGrid::ConstPtr grid;  // shares ownership; the grid outlives the cursor
    hs_module module;
    int64_t tile = 0;     // next tile (relative to the module) to visit
};

namespace hs {
template <typename H, typename... A>
H* newHandle(A&&... args) {
    H* h = new H{std::forward<A>(args)...};
    liveHandles.fetch_add(1, std::memory_order_relaxed);
    return h;
}
template <typename H>
void freeHandle(H* h) noexcept {
    if (!h) return;
    delete h;
    liveHandles.fetch_sub(1, std::memory_order_relaxed);
}
}  // namespace hs
