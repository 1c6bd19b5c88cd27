/*
 * clock.c - the clock and the sleep of the blocking runtime (outside nginx): a monotonic time
 * for pacing windows and deadlines, and a sleep that does not busy-wait.
 */
#include <errno.h>
#include <time.h>

#include "core.h"

/* ===== Clock ===== */

/* core.monotonic() -> seconds (float) since an arbitrary fixed point; never goes back */
int core_monotonic(lua_State *L)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* core.sleep(seconds) blocks the calling thread for that long (negative or NaN: no wait) */
int core_sleep(lua_State *L)
{
    double seconds = luaL_checknumber(L, 1);
    struct timespec rest;

    if (!(seconds > 0))
        return 0;
    if (seconds > 86400.0)
        seconds = 86400.0;
    rest.tv_sec = (time_t)seconds;
    rest.tv_nsec = (long)((seconds - (double)rest.tv_sec) * 1e9);
    while (nanosleep(&rest, &rest) != 0 && errno == EINTR)
        ;
    return 0;
}
