/*
 * id_set.c - core.id_set(): a compact set of id strings, so that a walk over every page never
 * yields the same definition twice without keeping every id as a Lua string in a Lua table.
 *
 * PostHog's ids are UUIDs, sent in their canonical form (36 characters, lowercase hex, hyphens
 * at 8, 13, 18 and 23): such an id is kept as its 16 bytes, a bijection, so two different ids
 * never meet. Any other string (uppercase or mixed-case hex included: the set compares bytes,
 * as a Lua table does, and never folds case) is kept as an exact copy of its bytes. Each part is
 * an open-addressing table (linear probing, at most 7/8 full, doubled when it would be fuller)
 * with one control byte per slot: 0 for empty, else 0x80 and 7 bits of the key's hash.
 *
 * Its blocks come from the Lua state's allocator (lua_getallocf), as all the core's memory does,
 * but outside the collector's count: a walk's ids, which live as long as the walk, then do not
 * let the heap grow further between collections (counted, 2.2 MB of ids for 100,000 let it grow
 * by 4 MB more). Running out of memory raises before the set changes; the set's finalizer frees
 * its blocks.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "core.h"

#define ID_SET_MT "posthog.event_definitions.core.id_set"

#define UUID_CHARS  36
#define UUID_BYTES  16
#define SLOT        16 /* bytes of a slot: a packed UUID, or the offset and length of an id */
#define FIRST_SLOTS 16 /* slots of a table's first block (a power of two) */
#define FIRST_BYTES 256

typedef struct table {
    unsigned char *ctrl;  /* cap control bytes, then cap slots of SLOT bytes (one block) */
    unsigned char *slots;
    size_t cap, count;    /* cap: 0 (no block yet) or a power of two */
} table;

typedef struct id_set {
    table uuids;          /* slot: the 16 bytes of a canonical UUID */
    table others;         /* slot: the offset in `bytes` and the length of any other id */
    char *bytes;          /* the other ids, back to back */
    size_t bytes_len, bytes_cap;
    uint64_t seed;        /* varies the hash per set, as Lua's own tables' seed does */
} id_set;

/* ===== Blocks ===== */

/* Resizes block p of osize bytes to nsize (p NULL: a new block; nsize 0: frees it) with L's
   allocator; NULL when memory runs out, p then unchanged. */
static void *resize_block(lua_State *L, void *p, size_t osize, size_t nsize)
{
    void *ud;
    lua_Alloc alloc = lua_getallocf(L, &ud);

    return alloc(ud, p, p != NULL ? osize : 0, nsize);
}

static int out_of_memory(lua_State *L)
{
    return luaL_error(L, "id_set: not enough memory");
}

/* ===== Keys and hashes ===== */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* The value of a lowercase hex digit, or -1. */
static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Packs s into out when it is a canonical UUID (36 characters, lowercase hex, hyphens at 8,
   13, 18 and 23); returns 1, or 0 for any other string. */
static int pack_uuid(const char *s, size_t len, unsigned char out[UUID_BYTES])
{
    size_t i, nibbles = 0;
    int v;

    if (len != UUID_CHARS)
        return 0;
    for (i = 0; i < UUID_CHARS; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
            continue;
        }
        if ((v = hex_digit((unsigned char)s[i])) < 0)
            return 0;
        if (nibbles % 2 == 0)
            out[nibbles / 2] = (unsigned char)(v << 4);
        else
            out[nibbles / 2] |= (unsigned char)v;
        nibbles++;
    }
    return 1;
}

static uint64_t hash_uuid(const id_set *s, const unsigned char *key)
{
    uint64_t a, b;

    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    return mix(mix(a ^ s->seed) ^ b);
}

/* FNV-1a over the bytes, then mixed (the table takes the low bits, the control byte the high). */
static uint64_t hash_bytes(const id_set *s, const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ s->seed;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return mix(h ^ len);
}

/* The offset and length that an "others" slot holds. */
static void other_at(const unsigned char *slot, size_t *offset, size_t *len)
{
    memcpy(offset, slot, sizeof *offset);
    memcpy(len, slot + sizeof *offset, sizeof *len);
}

/* The hash of the key in the slot of table t of set s (for rehashing). */
static uint64_t slot_hash(const id_set *s, const table *t, const unsigned char *slot)
{
    size_t offset, len;

    if (t == &s->uuids)
        return hash_uuid(s, slot);
    other_at(slot, &offset, &len);
    return hash_bytes(s, s->bytes + offset, len);
}

/* Whether the slot of table t holds key (UUID_BYTES packed bytes for uuids, len bytes else). */
static int slot_holds(const id_set *s, const table *t, const unsigned char *slot, const char *key,
                      size_t len)
{
    size_t offset, held;

    if (t == &s->uuids)
        return memcmp(slot, key, UUID_BYTES) == 0;
    other_at(slot, &offset, &held);
    return held == len && (len == 0 || memcmp(s->bytes + offset, key, len) == 0);
}

/* ===== Tables ===== */

static unsigned char control_byte(uint64_t h)
{
    return (unsigned char)(0x80 | (h >> 57));
}

/* The index of the slot of t that holds key (*found = 1), or of the empty slot where it goes
   (*found = 0). Requires a block (t->cap > 0), which always has an empty slot. */
static size_t find(const id_set *s, const table *t, uint64_t h, const char *key, size_t len, int *found)
{
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    unsigned char c = control_byte(h);

    for (;; i = (i + 1) & mask) {
        if (t->ctrl[i] == 0) {
            *found = 0;
            return i;
        }
        if (t->ctrl[i] == c && slot_holds(s, t, t->slots + i * SLOT, key, len)) {
            *found = 1;
            return i;
        }
    }
}

/* Makes room in t for one more key: a block twice the size,
   filled anew, when one more would make it more than 7/8 full. Returns whether it grew; raises
   (leaving t as it was) when memory runs out. */
static int reserve(lua_State *L, id_set *s, table *t)
{
    table grown;
    unsigned char *block;
    size_t i, j, mask;

    if (t->cap != 0 && t->count + 1 <= t->cap - t->cap / 8)
        return 0;
    if (t->cap > (size_t)-1 / (2 * (SLOT + 1)))
        return luaL_error(L, "id_set: too many ids");
    grown.cap = t->cap != 0 ? 2 * t->cap : FIRST_SLOTS;
    if ((block = resize_block(L, NULL, 0, grown.cap * (SLOT + 1))) == NULL)
        return out_of_memory(L);
    memset(block, 0, grown.cap);
    grown.ctrl = block;
    grown.slots = block + grown.cap;
    grown.count = t->count;
    mask = grown.cap - 1;
    for (i = 0; i < t->cap; i++) {
        if (t->ctrl[i] == 0)
            continue;
        j = (size_t)slot_hash(s, t, t->slots + i * SLOT) & mask;
        while (grown.ctrl[j] != 0)
            j = (j + 1) & mask;
        grown.ctrl[j] = t->ctrl[i];
        memcpy(grown.slots + j * SLOT, t->slots + i * SLOT, SLOT);
    }
    resize_block(L, t->ctrl, t->cap * (SLOT + 1), 0);
    *t = grown;
    return 1;
}

/* Makes room for len more bytes of other ids (doubling); raises when memory runs out. */
static void reserve_bytes(lua_State *L, id_set *s, size_t len)
{
    size_t cap;
    char *block;

    if (s->bytes_cap - s->bytes_len >= len)
        return;
    cap = s->bytes_cap != 0 ? s->bytes_cap : FIRST_BYTES;
    while (cap - s->bytes_len < len) {
        if (cap > (size_t)-1 / 2)
            luaL_error(L, "id_set: too many bytes of ids");
        cap *= 2;
    }
    if ((block = resize_block(L, s->bytes, s->bytes_cap, cap)) == NULL)
        out_of_memory(L);
    s->bytes = block;
    s->bytes_cap = cap;
}

/* Adds the key (packed UUID, or len bytes) to t unless it is there; returns whether
   it was added. */
static int add_key(lua_State *L, id_set *s, table *t, const char *key, size_t len)
{
    uint64_t h = t == &s->uuids ? hash_uuid(s, (const unsigned char *)key) : hash_bytes(s, key, len);
    size_t i = 0, offset;
    int found = 0;

    if (t->cap != 0) {
        i = find(s, t, h, key, len, &found);
        if (found)
            return 0;
    }
    if (t == &s->others)
        reserve_bytes(L, s, len);
    if (reserve(L, s, t)) /* always on the first key: then there was no block to look in */
        i = find(s, t, h, key, len, &found);
    if (t == &s->uuids) {
        memcpy(t->slots + i * SLOT, key, UUID_BYTES);
    } else {
        offset = s->bytes_len;
        if (len != 0)
            memcpy(s->bytes + offset, key, len);
        s->bytes_len += len;
        memcpy(t->slots + i * SLOT, &offset, sizeof offset);
        memcpy(t->slots + i * SLOT + sizeof offset, &len, sizeof len);
    }
    t->ctrl[i] = control_byte(h);
    t->count++;
    return 1;
}

/* ===== Lua-visible functions ===== */

/* set:add(id) -> true when the string id was not in the set (it is now), false when it was;
   raises when id is not a string (numbers included: ids are compared as strings) */
static int set_add(lua_State *L)
{
    id_set *s = luaL_checkudata(L, 1, ID_SET_MT);
    unsigned char packed[UUID_BYTES];
    const char *id;
    size_t len;

    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_argerror(L, 2, lua_pushfstring(L, "string expected, got %s", luaL_typename(L, 2)));
    id = lua_tolstring(L, 2, &len);
    if (pack_uuid(id, len, packed))
        lua_pushboolean(L, add_key(L, s, &s->uuids, (const char *)packed, UUID_BYTES));
    else
        lua_pushboolean(L, add_key(L, s, &s->others, id, len));
    return 1;
}

/* set:count() and #set -> how many ids the set holds */
static int set_count(lua_State *L)
{
    id_set *s = luaL_checkudata(L, 1, ID_SET_MT);

    compat_pushint64(L, (long long)(s->uuids.count + s->others.count));
    return 1;
}

/* set:bytes() -> the bytes of memory the set holds (outside collectgarbage("count")) */
static int set_bytes(lua_State *L)
{
    id_set *s = luaL_checkudata(L, 1, ID_SET_MT);

    compat_pushint64(L, (long long)((s->uuids.cap + s->others.cap) * (SLOT + 1) + s->bytes_cap));
    return 1;
}

static int set_gc(lua_State *L)
{
    id_set *s = luaL_checkudata(L, 1, ID_SET_MT);

    resize_block(L, s->uuids.ctrl, s->uuids.cap * (SLOT + 1), 0);
    resize_block(L, s->others.ctrl, s->others.cap * (SLOT + 1), 0);
    resize_block(L, s->bytes, s->bytes_cap, 0);
    memset(s, 0, sizeof *s);
    return 0;
}

/* Pushes the sets' metatable, made on first use and registered only once complete (so that a
   memory error halfway leaves no half-made metatable behind). */
static void push_metatable(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "add", set_add },
        { "count", set_count },
        { "bytes", set_bytes },
        { NULL, NULL }
    };

    luaL_getmetatable(L, ID_SET_MT);
    if (!lua_isnil(L, -1))
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 3);
    lua_createtable(L, 0, 2);
    compat_luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, set_count);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, set_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, ID_SET_MT);
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, ID_SET_MT);
}

/* core.id_set() -> a new, empty set of id strings (see set:add and set:count) */
int core_id_set(lua_State *L)
{
    id_set *s;

    push_metatable(L);
    s = lua_newuserdata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    s->seed = mix((uint64_t)(uintptr_t)s ^ ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)L);
    lua_pushvalue(L, -2);
    lua_setmetatable(L, -2);
    return 1;
}
