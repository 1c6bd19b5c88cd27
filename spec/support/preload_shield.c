/*
 * preload_shield.c - test only (make sanitize): preloaded after the sanitizer runtime into the
 * Lua interpreter that runs the specs, it moves LD_PRELOAD to SANITIZE_PRELOAD as the process
 * starts, so that the programs the specs start (nginx, shells, curl, posthog-evdefs) run
 * without the runtime: curl, for one, deadlocks in setlocale at startup under it, which is what
 * hung an earlier attempt (spec/fake/start polls the fake with curl). spec/support/child.lua
 * puts it back for the Lua children that load the sanitized modules.
 */
#include <stdlib.h>

__attribute__((constructor)) static void shield(void)
{
    const char *preload = getenv("LD_PRELOAD");

    if (preload != NULL && setenv("SANITIZE_PRELOAD", preload, 1) == 0)
        unsetenv("LD_PRELOAD");
}
