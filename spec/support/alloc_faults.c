/*
 * alloc_faults.c - a test-only Lua module (built by the Makefile into build/<v>/alloc_faults.so,
 * never installed) that makes allocations of the Lua state fail on purpose. The C core takes
 * all its memory from the state's allocator (lua_getallocf), so this sees every allocation of
 * the core and of Lua itself.
 *
 *   faults.run(n, f, ...) -> ok, value_or_error, hit, count
 *
 * calls f(...) in protected mode with the state's allocator wrapped: the nth allocation that
 * grows memory and every later one fail (n = 0: none fails), frees and shrinks always succeed
 * (as Lua requires). The allocator is restored in C right after the call, before anything else
 * can allocate. ok and value_or_error are pcall's (one value), hit whether an allocation was made
 * to fail, count how many growing allocations were asked for.
 */
#include <lua.h>
#include <lauxlib.h>

static struct {
    lua_Alloc f;
    void *ud;
    long long count, fail_at;
    int hit;
} state;

static void *faulty(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    /* with ptr NULL, Lua 5.4 passes a type tag in osize: every such call allocates */
    if (nsize != 0 && (ptr == NULL || nsize > osize)) {
        state.count++;
        if (state.fail_at > 0 && state.count >= state.fail_at) {
            state.hit = 1;
            return NULL;
        }
    }
    return state.f(state.ud, ptr, osize, nsize);
}

static int run(lua_State *L)
{
    lua_Number n = luaL_checknumber(L, 1);
    int nargs = lua_gettop(L) - 2, status;
    void *ud;
    lua_Alloc f;

    luaL_checktype(L, 2, LUA_TFUNCTION);
    luaL_checkstack(L, 4, "alloc_faults.run");
    if ((f = lua_getallocf(L, &ud)) == faulty)
        return luaL_error(L, "alloc_faults.run: already running");
    state.f = f;
    state.ud = ud;
    state.count = 0;
    state.fail_at = (long long)n;
    state.hit = 0;
    lua_setallocf(L, faulty, NULL);
    status = lua_pcall(L, nargs, 1, 0);
    lua_setallocf(L, state.f, state.ud);
    lua_pushboolean(L, status == 0);
    lua_insert(L, -2);
    lua_pushboolean(L, state.hit);
    lua_pushnumber(L, (lua_Number)state.count);
    return 4;
}

__attribute__((visibility("default"))) int luaopen_alloc_faults(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, run);
    lua_setfield(L, -2, "run");
    return 1;
}
