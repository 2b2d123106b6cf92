// nano_handle.h — what an hs_nano is: one NanoVDB grid in a 32-byte-aligned host buffer, plus the module table
// string that travelled with it in a snapshot file (empty for a fresh conversion).
#pragma once
#include <nanovdb/util/GridHandle.h>
#include <nanovdb/util/HostBuffer.h>
#include <string>
#include "handles.h"

struct hs_nano {
    nanovdb::GridHandle<nanovdb::HostBuffer> handle;
    std::string table;
};
