/*
 * fields.c - core.fields: the definition's record of shape.c exported to Lua, so that the Lua
 * layer (schema, plan, snapshot) derives its lists from the one description.
 */
#include <string.h>

#include "codec/json.h"

/* ===== One field ===== */

static void set_boolean(lua_State *L, const char *key, int value)
{
    lua_pushboolean(L, value);
    lua_setfield(L, -2, key);
}

/* Pushes { name, type, writable, read_only, array, nullable, choices, default,
   without_enterprise } for f; without_enterprise ("refused" or "ignored") only for the writable
   fields that a deployment without the Enterprise package does not take. */
static int push_field(lua_State *L, const shape_field *f)
{
    int i;

    lua_createtable(L, 0, 9);
    lua_pushlstring(L, f->name, f->len);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, shape_type_name(f));
    lua_setfield(L, -2, "type");
    set_boolean(L, "writable", f->writable);
    set_boolean(L, "read_only", !f->writable);
    set_boolean(L, "array", f->is_array);
    set_boolean(L, "nullable", f->nullable);
    if (f->choices != NULL) {
        lua_newtable(L);
        for (i = 0; f->choices[i] != NULL; i++) {
            lua_pushstring(L, f->choices[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "choices");
    }
    if (f->without_ee != EE_NOT_NEEDED) {
        lua_pushstring(L, f->without_ee == EE_REFUSED ? "refused" : "ignored");
        lua_setfield(L, -2, "without_enterprise");
    }
    if (f->default_json != NULL) {
        if (!json_decode_push(L, f->default_json, strlen(f->default_json), SHAPE_ID_ANY, 0))
            return luaL_error(L, "fields: bad default of %s", f->name); /* a typo in shape.c */
        lua_setfield(L, -2, "default");
    }
    return 1;
}

/* ===== The array ===== */

/* Pushes core.fields: the definition's fields in declaration order (called once by luaopen, as
   a closure with the core's upvalues; defaults that are empty arrays carry core.array_mt). */
int core_push_fields(lua_State *L)
{
    int i;

    lua_createtable(L, shape_definition.nfields, 0);
    for (i = 0; i < shape_definition.nfields; i++) {
        push_field(L, &shape_definition.fields[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}
