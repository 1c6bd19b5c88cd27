/*
 * file.c - replacing a file whole or not at all, for what posthog-evdefs writes (--out, export,
 * codegen): the content goes to a new file in the target's directory, every write and the close
 * checked, synced to the disk, then renamed over the target (and the directory synced), so that
 * a full disk, a file size limit or a crash leaves the old target as it was. Lua alone can do
 * neither fsync nor a file created exclusively.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define PATH_LIMIT 4096

/* Writes all of s[0..len) to fd; 0, or -1 with errno set. */
static int write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Opens a new file next to path (dir/.base.tmp-<pid>-<n>), exclusively; its fd (name in tmp),
   or -1 with errno set. */
static int open_temporary(const char *path, char *tmp, size_t size)
{
    static unsigned counter;
    const char *slash = strrchr(path, '/');
    int dir_len = slash != NULL ? (int)(slash - path + 1) : 0;
    const char *base = path + dir_len;
    int attempt;

    for (attempt = 0; attempt < 100; attempt++) {
        unsigned tag = (unsigned)time(NULL) ^ (++counter * 2654435761u);
        int fd, n = snprintf(tmp, size, "%.*s.%s.tmp-%ld-%08x", dir_len, path, base, (long)getpid(), tag);
        if (n < 0 || (size_t)n >= size) {
            errno = ENAMETOOLONG;
            return -1;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* Syncs the directory of path (so that the rename survives a crash); errors are ignored, as some
   file systems cannot sync a directory. */
static void sync_directory(const char *path)
{
    char dir[PATH_LIMIT];
    const char *slash = strrchr(path, '/');
    int fd;

    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* core.replace_file(path, content) -> true, or nil and "<path>: <reason>": path holds content
   and nothing else (a new file keeps the mode the umask gives, a replaced one its old mode), or,
   on any failure, is left as it was and no temporary file remains. SIGXFSZ is ignored meanwhile,
   so that a file size limit is a failure to report (EFBIG), not the end of the process; SIGINT
   and SIGTERM wait until the file is whole or untouched. */
int core_replace_file(lua_State *L)
{
    size_t len;
    const char *path = luaL_checkstring(L, 1);
    const char *content = luaL_checklstring(L, 2, &len);
    char tmp[PATH_LIMIT];
    struct sigaction ignore, saved;
    struct stat old;
    int fd, failed = 0, saved_errno = 0;

    sigset_t held, before;

    sigemptyset(&held); /* a Ctrl-C meanwhile comes once the file is whole or untouched */
    sigaddset(&held, SIGINT);
    sigaddset(&held, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &held, &before);
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGXFSZ, &ignore, &saved);
    fd = open_temporary(path, tmp, sizeof tmp);
    if (fd < 0) {
        saved_errno = errno;
        sigaction(SIGXFSZ, &saved, NULL);
        pthread_sigmask(SIG_SETMASK, &before, NULL);
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(saved_errno));
        return 2;
    }
    if (stat(path, &old) == 0 && fchmod(fd, old.st_mode & 07777) != 0)
        failed = 1;
    if (!failed && (write_all(fd, content, len) != 0 || fsync(fd) != 0))
        failed = 1;
    if (failed)
        saved_errno = errno;
    if (close(fd) != 0 && !failed) {
        failed = 1;
        saved_errno = errno;
    }
    if (!failed && rename(tmp, path) != 0) {
        failed = 1;
        saved_errno = errno;
    }
    if (failed)
        unlink(tmp);
    else
        sync_directory(path);
    sigaction(SIGXFSZ, &saved, NULL);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    if (failed) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(saved_errno));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}
