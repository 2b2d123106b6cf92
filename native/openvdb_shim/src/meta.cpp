// meta.cpp — typed metadata maps (openvdb::MetaMap) with string/int/real/vec2i entries.
#include <openvdb/Metadata.h>
#include <iterator>
#include "handles.h"

using namespace hs;

namespace {
std::string keyOf(const char* key) {
    if (!key || !*key) fail(HS_ERR_INVALID_ARGUMENT, "metadata key is empty");
    return key;
}
openvdb::Metadata::ConstPtr entry(const hs_meta* meta, const char* key) {
    const std::string k = keyOf(key);
    auto p = need(meta, "meta").map[k];
    if (!p) fail(HS_ERR_NOT_FOUND, "metadata key '" + k + "' is missing");
    return p;
}
template <typename M, typename V>
hs_status setTyped(hs_meta* meta, const char* key, const V& v) {
    return guarded([&] {
        need(meta, "meta").map.insertMeta(keyOf(key), M(v));
        meta->touched();
    });
}
}  // namespace

extern "C" {

HS_API hs_status hs_meta_create(hs_meta** out) {
    return guarded([&] {
        need(out, "out");
        ensureInitialized();
        *out = newHandle<hs_meta>();
    });
}

HS_API void hs_meta_free(hs_meta* meta) { freeHandle(meta); }

HS_API hs_status hs_meta_count(const hs_meta* meta, int32_t* count) {
    return guarded([&] { need(count, "count") = int32_t(need(meta, "meta").map.metaCount()); });
}

HS_API hs_status hs_meta_key_at(const hs_meta* meta, int32_t index, char* buffer, int32_t capacity,
                                int32_t* required) {
    return guarded([&] {
        const auto& map = need(meta, "meta").map;
        if (index < 0 || size_t(index) >= map.metaCount())
            fail(HS_ERR_OUT_OF_RANGE, "metadata index " + std::to_string(index) + " is out of range");
        if (meta->cursorIndex < 0 || meta->cursorIndex > index) {
            meta->cursor = map.beginMeta();
            meta->cursorIndex = 0;
        }
        std::advance(meta->cursor, index - meta->cursorIndex);
        meta->cursorIndex = index;
        copyOut(meta->cursor->first, buffer, capacity, required);
    });
}

HS_API hs_status hs_meta_type(const hs_meta* meta, const char* key, int32_t* type) {
    return guarded([&] {
        need(type, "type");
        const std::string t = entry(meta, key)->typeName();
        *type = t == "string" ? HS_META_STRING : t == "int32" ? HS_META_INT32 : t == "int64" ? HS_META_INT64
              : t == "float" ? HS_META_FLOAT : t == "double" ? HS_META_DOUBLE : t == "bool" ? HS_META_BOOL
              : t == "vec2i" ? HS_META_VEC2I : HS_META_OTHER;
    });
}

HS_API hs_status hs_meta_remove(hs_meta* meta, const char* key) {
    return guarded([&] {
        need(meta, "meta").map.removeMeta(keyOf(key));
        meta->touched();
    });
}

HS_API hs_status hs_meta_set_string(hs_meta* meta, const char* key, const char* value) {
    if (!value) return guarded([] { fail(HS_ERR_INVALID_ARGUMENT, "metadata value is NULL"); });
    return setTyped<openvdb::StringMetadata>(meta, key, std::string(value));
}
HS_API hs_status hs_meta_set_int32(hs_meta* meta, const char* key, int32_t v) { return setTyped<openvdb::Int32Metadata>(meta, key, v); }
HS_API hs_status hs_meta_set_int64(hs_meta* meta, const char* key, int64_t v) { return setTyped<openvdb::Int64Metadata>(meta, key, v); }
HS_API hs_status hs_meta_set_float(hs_meta* meta, const char* key, float v) { return setTyped<openvdb::FloatMetadata>(meta, key, v); }
HS_API hs_status hs_meta_set_double(hs_meta* meta, const char* key, double v) { return setTyped<openvdb::DoubleMetadata>(meta, key, v); }
HS_API hs_status hs_meta_set_bool(hs_meta* meta, const char* key, int32_t v) { return setTyped<openvdb::BoolMetadata>(meta, key, v != 0); }
HS_API hs_status hs_meta_set_vec2i(hs_meta* meta, const char* key, int32_t x, int32_t y) {
    return setTyped<openvdb::Vec2IMetadata>(meta, key, openvdb::Vec2i(x, y));
}

HS_API hs_status hs_meta_get_string(const hs_meta* meta, const char* key, char* buffer, int32_t capacity,
                                    int32_t* required) {
    return guarded([&] {
        auto p = entry(meta, key);
        auto s = openvdb::DynamicPtrCast<const openvdb::StringMetadata>(p);
        if (!s) fail(HS_ERR_INVALID_DATA, "metadata '" + std::string(key) + "' is " + p->typeName() + ", not string");
        copyOut(s->value(), buffer, capacity, required);
    });
}

HS_API hs_status hs_meta_get_int64(const hs_meta* meta, const char* key, int64_t* value) {
    return guarded([&] {
        need(value, "value");
        auto p = entry(meta, key);
        if (auto a = openvdb::DynamicPtrCast<const openvdb::Int64Metadata>(p)) *value = a->value();
        else if (auto b = openvdb::DynamicPtrCast<const openvdb::Int32Metadata>(p)) *value = b->value();
        else if (auto c = openvdb::DynamicPtrCast<const openvdb::BoolMetadata>(p)) *value = c->value() ? 1 : 0;
        else fail(HS_ERR_INVALID_DATA, "metadata '" + std::string(key) + "' is " + p->typeName() + ", not an integer");
    });
}

HS_API hs_status hs_meta_get_double(const hs_meta* meta, const char* key, double* value) {
    return guarded([&] {
        need(value, "value");
        auto p = entry(meta, key);
        if (auto a = openvdb::DynamicPtrCast<const openvdb::DoubleMetadata>(p)) *value = a->value();
        else if (auto b = openvdb::DynamicPtrCast<const openvdb::FloatMetadata>(p)) *value = b->value();
        else if (auto c = openvdb::DynamicPtrCast<const openvdb::Int64Metadata>(p)) *value = double(c->value());
        else if (auto d = openvdb::DynamicPtrCast<const openvdb::Int32Metadata>(p)) *value = double(d->value());
        else fail(HS_ERR_INVALID_DATA, "metadata '" + std::string(key) + "' is " + p->typeName() + ", not a number");
    });
}

HS_API hs_status hs_meta_get_vec2i(const hs_meta* meta, const char* key, int32_t* x, int32_t* y) {
    return guarded([&] {
        auto p = entry(meta, key);
        auto v = openvdb::DynamicPtrCast<const openvdb::Vec2IMetadata>(p);
        if (!v) fail(HS_ERR_INVALID_DATA, "metadata '" + std::string(key) + "' is " + p->typeName() + ", not vec2i");
        if (x) *x = v->value().x();
        if (y) *y = v->value().y();
    });
}

}  // extern "C"
