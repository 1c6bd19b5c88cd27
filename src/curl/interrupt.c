/*
 * interrupt.c - SIGINT and SIGTERM caught outside nginx, so that a batch can stop starting
 * work, finish what is in flight and report (Lua's own interpreter can only raise "interrupted!"
 * from a hook, wherever the program happens to be). The handler does what is safe in a signal
 * handler and nothing more: it notes the first signal and writes a byte to a pipe that the
 * multi driver's poll (driver.c) and interrupt_nap watch, so that they wake up at once; a
 * further signal (or the first, in the "at once" mode) writes a line prepared beforehand (after
 * a line break on a terminal) and ends the process with 128 + the signal's number, as the shell
 * reports a death by signal.
 * Nothing here runs inside nginx: the Lua side (runtime.lua) never calls it there.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "curl/driver.h"

#define LINE_MAX_BYTES 512

static volatile sig_atomic_t caught_signal;  /* the first signal caught; 0 until then (it stays) */
static volatile sig_atomic_t exit_at_once;   /* the first signal ends the process */
static volatile sig_atomic_t current_line;   /* which of lines[] the handler writes */
static char lines[2][LINE_MAX_BYTES];
static volatile sig_atomic_t line_lengths[2];
static int wake[2] = { -1, -1 };             /* the pipe the handler writes a byte to */
static int installed;                        /* the handlers are in place */
static int trapped[2];                       /* which of SIGINT, SIGTERM we handle */
static struct sigaction saved[2];            /* their dispositions before */
static const int SIGNALS[2] = { SIGINT, SIGTERM };

static void on_signal(int sig)
{
    int saved_errno = errno;

    if (caught_signal != 0 || exit_at_once) {
        int which = current_line;
        struct termios terminal;
        if (line_lengths[which] > 0) {
            if (tcgetattr(STDERR_FILENO, &terminal) == 0) /* off a progress line, or ^C */
                (void)!write(STDERR_FILENO, "\n", 1);
            (void)!write(STDERR_FILENO, lines[which], (size_t)line_lengths[which]);
        }
        _exit(128 + sig);
    }
    caught_signal = sig;
    if (wake[1] >= 0)
        (void)!write(wake[1], "!", 1);
    errno = saved_errno;
}

/* The read end of the wake pipe, or -1 when nothing is trapped. */
int interrupt_fd(void)
{
    return installed ? wake[0] : -1;
}

/* Empties the wake pipe (its bytes only say "look at the flag"). */
void interrupt_drain(void)
{
    char sink[64];

    if (wake[0] >= 0)
        while (read(wake[0], sink, sizeof sink) > 0)
            ;
}

/* Opens the wake pipe once, both ends non-blocking and closed on exec; 0, or -1. */
static int open_wake_pipe(void)
{
    int i;

    if (wake[0] >= 0)
        return 0;
    if (pipe(wake) != 0)
        return -1;
    for (i = 0; i < 2; i++) {
        fcntl(wake[i], F_SETFL, fcntl(wake[i], F_GETFL) | O_NONBLOCK);
        fcntl(wake[i], F_SETFD, FD_CLOEXEC);
    }
    return 0;
}

/* libcurl.trap(at_once, line) -> true: SIGINT and SIGTERM are caught from now on (a signal the
   process ignored when this was first called, as a background job ignores SIGINT, stays
   ignored). Without at_once the first signal is noted (libcurl.caught) and a further one writes
   line to stderr and ends the process; with at_once the first one does. Called again, it
   changes the mode and the line. */
static int interrupt_trap(lua_State *L)
{
    int at_once = lua_toboolean(L, 1);
    size_t len;
    const char *line = luaL_checklstring(L, 2, &len);
    int next = !current_line, i;

    if (len > LINE_MAX_BYTES)
        len = LINE_MAX_BYTES;
    memcpy(lines[next], line, len);
    line_lengths[next] = (sig_atomic_t)len;
    current_line = next; /* the handler sees the old line or the new one, whole */
    exit_at_once = at_once;
    if (installed)
        goto done;
    if (open_wake_pipe() != 0)
        return luaL_error(L, "cannot catch signals: pipe: %s", strerror(errno));
    for (i = 0; i < 2; i++) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = on_signal;
        sigemptyset(&action.sa_mask);
        sigaddset(&action.sa_mask, SIGINT);
        sigaddset(&action.sa_mask, SIGTERM);
        action.sa_flags = SA_RESTART;
        sigaction(SIGNALS[i], NULL, &saved[i]);
        trapped[i] = saved[i].sa_handler != SIG_IGN;
        if (trapped[i])
            sigaction(SIGNALS[i], &action, NULL);
    }
    installed = 1;
done:
    lua_pushboolean(L, 1);
    return 1;
}

/* libcurl.untrap() -> nothing: the dispositions before libcurl.trap are back (what was caught
   stays noted) */
static int interrupt_untrap(lua_State *L)
{
    int i;

    (void)L;
    if (!installed)
        return 0;
    for (i = 0; i < 2; i++)
        if (trapped[i])
            sigaction(SIGNALS[i], &saved[i], NULL);
    installed = 0;
    exit_at_once = 0;
    return 0;
}

/* libcurl.caught() -> "SIGINT", "SIGTERM" or nil: the first signal caught since the process
   began (it stays caught) */
static int interrupt_caught(lua_State *L)
{
    int sig = caught_signal;

    if (sig == SIGINT)
        lua_pushliteral(L, "SIGINT");
    else if (sig == SIGTERM)
        lua_pushliteral(L, "SIGTERM");
    else
        lua_pushnil(L);
    return 1;
}

/* libcurl.nap(seconds) -> nothing: sleeps that long, or less when a signal is caught meanwhile
   (or was before) while trapped */
static int interrupt_nap(lua_State *L)
{
    double seconds = luaL_checknumber(L, 1), start = monotonic_now(), left;

    for (left = seconds; left > 0 && !(installed && caught_signal != 0);) {
        struct pollfd p = { interrupt_fd(), POLLIN, 0 };
        int ms = left > 86400 ? 86400000 : (int)(left * 1000) + 1;
        if (poll(&p, p.fd >= 0 ? 1 : 0, ms) > 0)
            interrupt_drain();
        left = seconds - (monotonic_now() - start);
    }
    return 0;
}

static const luaL_Reg interrupt_functions[] = {
    { "trap", interrupt_trap },
    { "untrap", interrupt_untrap },
    { "caught", interrupt_caught },
    { "nap", interrupt_nap },
    { NULL, NULL }
};

/* Adds trap, untrap, caught and nap to the module table on the top of the stack. */
void interrupt_register(lua_State *L)
{
    compat_luaL_setfuncs(L, interrupt_functions, 0);
}
