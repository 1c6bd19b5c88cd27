/*
 * compat.h - shims over the differences between Lua 5.1/LuaJIT 2.1 and Lua 5.3/5.4.
 *
 * Every shim carries the private prefix compat_ so that it never clashes with a
 * function of the same purpose that LuaJIT or a newer Lua already declares.
 */
#ifndef PHED_COMPAT_H
#define PHED_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

/* ===== Lua 5.2+ API under private names ===== */

#if LUA_VERSION_NUM >= 502
#define compat_rawlen(L, i)           lua_rawlen((L), (i))
#define compat_absindex(L, i)         lua_absindex((L), (i))
#define compat_luaL_setfuncs(L, l, n) luaL_setfuncs((L), (l), (n))
#else
#define compat_rawlen(L, i)           lua_objlen((L), (i))
#define compat_absindex(L, i) \
    (((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)

/* Registers the functions of l into the table on the top of the stack below nup upvalues,
   each closure sharing those upvalues (pops the upvalues), as luaL_setfuncs does. */
static inline void compat_luaL_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
#endif

/* ===== Integers ===== */

/* Pushes a JSON integer: a lua_Integer on Lua 5.3+, a lua_Number before. */
static inline void compat_pushint64(lua_State *L, long long v)
{
#if LUA_VERSION_NUM >= 503
    lua_pushinteger(L, (lua_Integer)v);
#else
    lua_pushnumber(L, (lua_Number)v);
#endif
}

/* True when v is integral and within the int64 range (so it converts exactly). */
static inline int compat_integral(double v)
{
    return v >= -9223372036854775808.0 && v < 9223372036854775808.0 && (double)(long long)v == v;
}

/* Stores the number at idx in *out when it is an integer (Lua 5.3+ subtype) or a float with
   an integral value within int64; returns 1, or 0 for anything else (non-numbers included). */
static inline int compat_toint64(lua_State *L, int idx, long long *out)
{
    double v;
    if (lua_type(L, idx) != LUA_TNUMBER)
        return 0;
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx)) {
        *out = (long long)lua_tointeger(L, idx);
        return 1;
    }
#endif
    v = (double)lua_tonumber(L, idx);
    if (!compat_integral(v))
        return 0;
    *out = (long long)v;
    return 1;
}

/* True when the number at idx has Lua 5.3+'s integer subtype (always false before 5.3). */
#if LUA_VERSION_NUM >= 503
#define compat_isinteger(L, i) lua_isinteger((L), (i))
#else
#define compat_isinteger(L, i) 0
#endif

#endif
