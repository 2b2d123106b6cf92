// library.cpp — library-wide state: ABI version, build info, thread-local errors, the live-handle counter.
#include <openvdb/openvdb.h>
#include <nanovdb/NanoVDB.h>
#include <cstring>
#include <mutex>
#include "guard.h"
#include "mapping.h"

namespace hs {
namespace {
thread_local std::string lastError;
std::once_flag initOnce;
#define HS_STR2(x) #x
#define HS_STR(x) HS_STR2(x)
const char* const kBuildInfo = "hyprstream_shim " HS_STR(HS_ABI_MAJOR) "." HS_STR(HS_ABI_MINOR)
    " openvdb " OPENVDB_LIBRARY_VERSION_STRING " (abi " HS_STR(OPENVDB_ABI_VERSION_NUMBER) ")"
    " nanovdb " HS_STR(NANOVDB_MAJOR_VERSION_NUMBER) "." HS_STR(NANOVDB_MINOR_VERSION_NUMBER) "."
    HS_STR(NANOVDB_PATCH_VERSION_NUMBER) " mapping hs.tile8x64 v1";
}  // namespace

std::atomic<int64_t> liveHandles{0};
// Messages can quote file content; keep them short, printable and valid UTF-8 (ASCII) for every caller.
void setLastError(const std::string& msg) {
    lastError.clear();
    for (char ch : msg.substr(0, 2000)) {
        const unsigned char c = static_cast<unsigned char>(ch);
        lastError += (c >= 0x20 && c < 0x7F) ? ch : '?';
    }
    if (msg.size() > 2000) lastError += "...";
}
void clearLastError() { lastError.clear(); }
void ensureInitialized() { std::call_once(initOnce, [] { openvdb::initialize(); }); }

void copyOut(const std::string& s, char* buffer, int32_t capacity, int32_t* required) {
    const int64_t need = int64_t(s.size()) + 1;
    if (need > INT32_MAX) fail(HS_ERR_INTERNAL, "string too long for the ABI");
    if (required) *required = int32_t(need);
    if (!buffer || capacity < need) {
        if (buffer || capacity != 0 || !required)
            fail(HS_ERR_BUFFER_TOO_SMALL, "buffer of " + std::to_string(capacity) + " bytes is smaller than the "
                 + std::to_string(need) + " needed");
        return;  // a pure length query (NULL, 0, &required) succeeds
    }
    std::memcpy(buffer, s.data(), s.size());
    buffer[s.size()] = '\0';
}
}  // namespace hs

extern "C" {
HS_API uint32_t hs_abi_version(void) { return (uint32_t(HS_ABI_MAJOR) << 16) | HS_ABI_MINOR; }
HS_API const char* hs_build_info(void) { return hs::kBuildInfo; }
HS_API const char* hs_last_error(void) { return hs::lastError.c_str(); }
HS_API int64_t hs_live_handles(void) { return hs::liveHandles.load(); }
HS_API hs_status hs_initialize(void) {
    return hs::guarded([] { hs::ensureInitialized(); });
}
HS_API int64_t hs_module_tile_count(int32_t rows, int32_t cols) {
    if (rows <= 0 || cols <= 0) return -1;
    hs_module m{0, rows, cols};
    return hs::tileCount(m);
}
}
