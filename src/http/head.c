/*
 * head.c - the HTTP response head parser and header join of head.h.
 */
#include <string.h>

#include "http/head.h"

/* ===== Characters ===== */

/* Lua's %s: what the value of a header is trimmed of. */
static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* The next line of [*p, end) without its LF and a CR before it; advances *p past it. */
static const char *next_line(const char **p, const char *end, size_t *len)
{
    const char *line = *p, *lf = memchr(line, '\n', (size_t)(end - line));
    const char *stop = lf != NULL ? lf : end;

    *p = lf != NULL ? lf + 1 : end;
    if (stop > line && stop[-1] == '\r')
        stop--;
    *len = (size_t)(stop - line);
    return line;
}

/* Pushes [s, s + len) trimmed of white space. */
static void push_trimmed(lua_State *L, const char *s, size_t len)
{
    while (len > 0 && is_space(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_space(s[len - 1]))
        len--;
    lua_pushlstring(L, s, len);
}

/* ===== Joining ===== */

void head_push_name(lua_State *L, const char *name, size_t len)
{
    luaL_Buffer b;
    size_t i;

    luaL_buffinit(L, &b);
    for (i = 0; i < len; i++) {
        char c = name[i];
        luaL_addchar(&b, c >= 'A' && c <= 'Z' ? (char)(c + 32) : c);
    }
    luaL_pushresult(&b);
}

void head_join(lua_State *L, int t, const char *sep)
{
    t = compat_absindex(L, t);
    lua_pushvalue(L, -2);
    lua_rawget(L, t); /* name, value, old */
    if (lua_isnil(L, -1) || compat_rawlen(L, -1) == 0) {
        lua_pop(L, 1);
    } else if (compat_rawlen(L, -2) == 0) { /* an empty field line adds no element to the list */
        lua_replace(L, -2);
    } else {
        lua_insert(L, -2);
        lua_pushstring(L, sep);
        lua_insert(L, -2);
        lua_concat(L, 3); /* name, old .. sep .. value */
    }
    lua_rawset(L, t);
}

/* ===== Parsing ===== */

/* "HTTP/1." DIGIT SP 3DIGIT, then the end or SP and a reason phrase. */
static int status_line(const char *s, size_t len, int *status, int *minor)
{
    int i;

    if (len < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ')
        return 0;
    for (i = 9; i < 12; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    if (len > 12 && s[12] != ' ')
        return 0;
    *minor = s[7] - '0';
    *status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    return 1;
}

/* Adds one header line to the table at t (its name, lower-cased, left at the slot last for a
   continuation line); returns 0 for a malformed line. */
static int header_line(lua_State *L, int t, int last, const char *line, size_t len)
{
    size_t n;

    if (memchr(line, '\0', len) != NULL)
        return 0;
    if (line[0] == ' ' || line[0] == '\t') { /* obsolete folding: continues the last header */
        if (lua_isnil(L, last))
            return 0;
        push_trimmed(L, line, len);
        if (compat_rawlen(L, -1) == 0) {
            lua_pop(L, 1);
            return 1;
        }
        lua_pushvalue(L, last);
        lua_insert(L, -2);
        head_join(L, t, " ");
        return 1;
    }
    for (n = 0; n < len && line[n] != ':' && !is_space(line[n]); n++)
        ;
    if (n == 0 || n == len || line[n] != ':')
        return 0;
    head_push_name(L, line, n);
    lua_pushvalue(L, -1);
    lua_replace(L, last);
    push_trimmed(L, line + n + 1, len - n - 1);
    head_join(L, t, ", ");
    return 1;
}

int head_parse_push(lua_State *L, const char *text, size_t len, int *status, int *minor, const char **err)
{
    const char *p = text, *end = text + len, *line;
    int top = lua_gettop(L), t = top + 1, last = top + 2;
    size_t n;

    line = next_line(&p, end, &n);
    if (!status_line(line, n, status, minor)) {
        *err = "malformed status line";
        return 0;
    }
    luaL_checkstack(L, 8, "parse_head");
    lua_newtable(L);
    lua_pushnil(L); /* last: the name of the last header */
    while (p < end) {
        line = next_line(&p, end, &n);
        if (n == 0)
            break;
        if (!header_line(L, t, last, line, n)) {
            lua_settop(L, top);
            *err = "malformed header line";
            return 0;
        }
    }
    lua_settop(L, t);
    return 1;
}
