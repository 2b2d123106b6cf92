// guard.h — the one wrapper every exported function runs its body in: it clears the thread-local error,
// turns any exception into a status code + message, and never lets one escape the C ABI.
#pragma once
#include <openvdb/Exceptions.h>
#include <atomic>
#include <new>
#include <stdexcept>
#include <string>
#include "hyprstream_shim.h"

namespace hs {

// An error we raise ourselves, carrying the status the caller should see.
struct Error : std::runtime_error {
    hs_status status;
    Error(hs_status s, const std::string& msg) : std::runtime_error(msg), status(s) {}
};

[[noreturn]] inline void fail(hs_status s, const std::string& msg) { throw Error(s, msg); }

void setLastError(const std::string& msg);
void clearLastError();
extern std::atomic<int64_t> liveHandles;
void ensureInitialized();

template <typename Body>
hs_status guarded(Body&& body) noexcept {
    clearLastError();
    try {
        body();
        return HS_OK;
    } catch (const Error& e) {
        setLastError(e.what());
        return e.status;
    } catch (const std::bad_alloc&) {
        setLastError("out of memory");
        return HS_ERR_OUT_OF_MEMORY;
    } catch (const openvdb::IoError& e) {
        setLastError(e.what());
        return HS_ERR_IO;
    } catch (const openvdb::KeyError& e) {
        setLastError(e.what());
        return HS_ERR_NOT_FOUND;
    } catch (const openvdb::LookupError& e) {
        setLastError(e.what());
        return HS_ERR_NOT_FOUND;
    } catch (const openvdb::TypeError& e) {
        setLastError(e.what());
        return HS_ERR_INVALID_DATA;
    } catch (const openvdb::Exception& e) {
        setLastError(e.what());
        return HS_ERR_INVALID_DATA;
    } catch (const std::exception& e) {
        setLastError(std::string("internal error: ") + e.what());
        return HS_ERR_INTERNAL;
    } catch (...) {
        setLastError("internal error: unknown exception");
        return HS_ERR_INTERNAL;
    }
}

template <typename T>
T& need(T* p, const char* what) {
    if (!p) fail(HS_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
    return *p;
}

// Copies s into a caller buffer; *required always gets the size including the terminating NUL.
void copyOut(const std::string& s, char* buffer, int32_t capacity, int32_t* required);

}  // namespace hs
