// nano_handle.h — what an hs_nano is: one NanoVDB grid in a 32-byte-aligned host buffer, plus the module table
// string that travelled with it in a snapshot file (empty for a fresh conversion). A mapped snapshot (hs_nano_map)
// wraps the file's pages: the buffer is not owned, and the mapping is released after the handle.
#pragma once
#include <sys/mman.h>
#include <nanovdb/util/GridHandle.h>
#include <nanovdb/util/HostBuffer.h>
#include <string>
#include "handles.h"

struct hs_nano {
    nanovdb::GridHandle<nanovdb::HostBuffer> handle;
    std::string table;
    void* map = nullptr;      // the mapped file (hs_nano_map), or null
    size_t mapBytes = 0;
    ~hs_nano() {
        handle.reset();
        if (map) ::munmap(map, mapBytes);
    }
};
