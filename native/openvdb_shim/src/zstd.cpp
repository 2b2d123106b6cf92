// zstd.cpp — zstd compression (optionally with trained dictionaries) and directory fsync for the adapter store.
// The store compresses WAL payloads, embeddings and its L2 cache tier here; OpenVDB's Blosc covers .vdb files.
#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <vector>
#include <zdict.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_c_literalCompressionMode; a library that lacks it just ignores it
#include <zstd.h>
#include <zstd_errors.h>
#include "guard.h"

namespace {
void checkBuffer(const void* p, int64_t n, const char* what) {
    if (n < 0) hs::fail(HS_ERR_INVALID_ARGUMENT, std::string(what) + ": negative size");
    if (n > 0 && !p) hs::fail(HS_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
}
void checkOut(const void* p, const char* what) {
    if (!p) hs::fail(HS_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
}
}  // namespace

extern "C" {

HS_API hs_status hs_zstd_compress_bound(int64_t n, int64_t* bound) {
    return hs::guarded([&] {
        checkOut(bound, "bound");
        if (n < 0) hs::fail(HS_ERR_INVALID_ARGUMENT, "n is negative");
        *bound = static_cast<int64_t>(ZSTD_compressBound(static_cast<size_t>(n)));
    });
}

HS_API hs_status hs_zstd_compress(const void* src, int64_t n, void* dst, int64_t capacity, int32_t level,
                                  const void* dict, int64_t dict_size, int64_t* written) {
    return hs::guarded([&] {
        checkBuffer(src, n, "src");
        checkBuffer(dst, capacity, "dst");
        checkBuffer(dict, dict_size, "dict");
        checkOut(written, "written");
        if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
            hs::fail(HS_ERR_INVALID_ARGUMENT, "level must be " + std::to_string(ZSTD_minCLevel()) + ".." + std::to_string(ZSTD_maxCLevel()));
        ZSTD_CCtx* cctx = ZSTD_createCCtx();
        if (!cctx) throw std::bad_alloc();
        size_t r;
        if (level < 0) {
            // Negative levels skip literal coding by default; keep it (float planes gain nothing else).
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_literalCompressionMode, ZSTD_ps_enable);
            r = dict_size > 0 ? ZSTD_CCtx_loadDictionary(cctx, dict, size_t(dict_size)) : 0;
            if (!ZSTD_isError(r)) r = ZSTD_compress2(cctx, dst, size_t(capacity), src, size_t(n));
        } else {
            r = dict_size > 0 ? ZSTD_compress_usingDict(cctx, dst, capacity, src, n, dict, dict_size, level)
                              : ZSTD_compressCCtx(cctx, dst, capacity, src, n, level);
        }
        ZSTD_freeCCtx(cctx);
        if (ZSTD_isError(r)) {
            hs::fail(ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ? HS_ERR_BUFFER_TOO_SMALL : HS_ERR_INTERNAL,
                     std::string("zstd compress: ") + ZSTD_getErrorName(r));
        }
        *written = static_cast<int64_t>(r);
    });
}

HS_API hs_status hs_zstd_decompress(const void* src, int64_t n, void* dst, int64_t capacity,
                                    const void* dict, int64_t dict_size, int64_t* written) {
    return hs::guarded([&] {
        checkBuffer(src, n, "src");
        checkBuffer(dst, capacity, "dst");
        checkBuffer(dict, dict_size, "dict");
        checkOut(written, "written");
        ZSTD_DCtx* dctx = ZSTD_createDCtx();
        if (!dctx) throw std::bad_alloc();
        size_t r = dict_size > 0
            ? ZSTD_decompress_usingDict(dctx, dst, capacity, src, n, dict, dict_size)
            : ZSTD_decompressDCtx(dctx, dst, capacity, src, n);
        ZSTD_freeDCtx(dctx);
        if (ZSTD_isError(r)) {
            hs::fail(ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ? HS_ERR_BUFFER_TOO_SMALL : HS_ERR_INVALID_DATA,
                     std::string("zstd decompress: ") + ZSTD_getErrorName(r));
        }
        *written = static_cast<int64_t>(r);
    });
}

HS_API hs_status hs_zstd_content_size(const void* src, int64_t n, int64_t* size) {
    return hs::guarded([&] {
        checkBuffer(src, n, "src");
        checkOut(size, "size");
        unsigned long long r = ZSTD_getFrameContentSize(src, static_cast<size_t>(n));
        if (r == ZSTD_CONTENTSIZE_ERROR) hs::fail(HS_ERR_INVALID_DATA, "not a zstd frame");
        if (r == ZSTD_CONTENTSIZE_UNKNOWN) hs::fail(HS_ERR_INVALID_DATA, "zstd frame does not record its size");
        *size = static_cast<int64_t>(r);
    });
}

HS_API hs_status hs_zstd_train_dictionary(const void* samples, const int64_t* sample_sizes, int32_t count,
                                          void* dict, int64_t capacity, int64_t* written) {
    return hs::guarded([&] {
        checkOut(written, "written");
        if (count <= 0) hs::fail(HS_ERR_INVALID_ARGUMENT, "at least one sample is required");
        checkOut(sample_sizes, "sample_sizes");
        checkBuffer(dict, capacity, "dict");
        std::vector<size_t> sizes(count);
        int64_t total = 0;
        for (int32_t i = 0; i < count; ++i) {
            if (sample_sizes[i] < 0) hs::fail(HS_ERR_INVALID_ARGUMENT, "negative sample size");
            sizes[i] = static_cast<size_t>(sample_sizes[i]);
            total += sample_sizes[i];
        }
        checkBuffer(samples, total, "samples");
        size_t r = ZDICT_trainFromBuffer(dict, static_cast<size_t>(capacity), samples, sizes.data(), static_cast<unsigned>(count));
        if (ZDICT_isError(r)) hs::fail(HS_ERR_INVALID_ARGUMENT, std::string("zstd dictionary training: ") + ZDICT_getErrorName(r));
        *written = static_cast<int64_t>(r);
    });
}

HS_API hs_status hs_fs_sync_directory(const char* path) {
    return hs::guarded([&] {
        checkOut(path, "path");
        int fd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) hs::fail(errno == ENOENT ? HS_ERR_NOT_FOUND : HS_ERR_IO, std::string("open ") + path + ": " + std::strerror(errno));
        int rc = ::fsync(fd);
        int err = errno;
        ::close(fd);
        if (rc != 0) hs::fail(HS_ERR_IO, std::string("fsync ") + path + ": " + std::strerror(err));
    });
}

}  // extern "C"
