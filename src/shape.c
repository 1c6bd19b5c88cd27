/*
 * shape.c - the records of shape.h: the event definition, the list page, UserBasic.
 */
#include <stdio.h>
#include <string.h>

#include "shape.h"

/* ===== The records ===== */

#define F(name, type, nullable, writable, is_array) \
    { name, sizeof(name) - 1, type, nullable, writable, is_array, NULL }

static const char *const enforcement_modes[] = { "allow", "reject", NULL };

/*                        name                  type              null write array */
static const shape_field definition_fields[] = {
    F("id",                 SHAPE_STRING,     0, 0, 0),
    F("name",               SHAPE_STRING,     0, 1, 0),
    F("owner",              SHAPE_USER,       1, 1, 0),
    F("description",        SHAPE_STRING,     1, 1, 0),
    F("tags",               SHAPE_STRING,     0, 1, 1),
    F("created_at",         SHAPE_STRING,     1, 0, 0),
    F("updated_at",         SHAPE_STRING,     0, 0, 0),
    F("updated_by",         SHAPE_USER,       1, 0, 0),
    F("last_seen_at",       SHAPE_STRING,     1, 0, 0),
    F("verified",           SHAPE_BOOLEAN,    0, 1, 0),
    F("verified_at",        SHAPE_STRING,     1, 0, 0),
    F("verified_by",        SHAPE_USER,       1, 0, 0),
    F("hidden",             SHAPE_BOOLEAN,    1, 1, 0),
    { "enforcement_mode", sizeof("enforcement_mode") - 1, SHAPE_STRING, 0, 1, 0, enforcement_modes },
    F("primary_property",   SHAPE_STRING,     1, 1, 0),
    F("is_action",          SHAPE_BOOLEAN,    0, 0, 0),
    F("post_to_slack",      SHAPE_BOOLEAN,    0, 1, 0),
    F("default_columns",    SHAPE_STRING,     0, 1, 1),
    F("media_preview_urls", SHAPE_STRING,     0, 0, 1),
    F("last_updated_at",    SHAPE_STRING,     1, 0, 0),
    F("action_id",          SHAPE_INTEGER,    1, 0, 0),
    F("is_calculating",     SHAPE_BOOLEAN,    1, 0, 0),
    F("last_calculated_at", SHAPE_STRING,     1, 0, 0),
    F("created_by",         SHAPE_USER,       1, 0, 0),
};

static const shape_field page_fields[] = {
    F("count",              SHAPE_INTEGER,    0, 0, 0),
    F("next",               SHAPE_STRING,     1, 0, 0),
    F("previous",           SHAPE_STRING,     1, 0, 0),
    F("results",            SHAPE_DEFINITION, 0, 0, 1),
    F("count_is_capped",    SHAPE_BOOLEAN,    0, 0, 0),
};

/* UserBasic: no checks, listed so that its keys come from the key cache. */
static const shape_field user_fields[] = {
    F("id",                   SHAPE_ANY, 0, 0, 0),
    F("uuid",                 SHAPE_ANY, 0, 0, 0),
    F("distinct_id",          SHAPE_ANY, 0, 0, 0),
    F("first_name",           SHAPE_ANY, 0, 0, 0),
    F("last_name",            SHAPE_ANY, 0, 0, 0),
    F("email",                SHAPE_ANY, 0, 0, 0),
    F("is_email_verified",    SHAPE_ANY, 0, 0, 0),
    F("hedgehog_config",      SHAPE_ANY, 0, 0, 0),
    F("role_at_organization", SHAPE_ANY, 0, 0, 0),
};

static const shape_field top_definition = F("definition", SHAPE_DEFINITION, 0, 0, 0);
static const shape_field top_page = F("page", SHAPE_PAGE, 0, 0, 0);
static const shape_field top_codegen = F("codegen", SHAPE_OBJECT, 0, 0, 0);

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

shape_record shape_definition = { definition_fields, COUNT(definition_fields), 32, 0, { 0 } };
shape_record shape_page = { page_fields, COUNT(page_fields), 8, 0, { 0 } };
shape_record shape_user = { user_fields, COUNT(user_fields), 16, 0, { 0 } };

static shape_record *const records[] = { &shape_definition, &shape_page, &shape_user };

const shape_field *shape_top(shape_id id)
{
    switch (id) {
    case SHAPE_ID_DEFINITION: return &top_definition;
    case SHAPE_ID_PAGE:       return &top_page;
    case SHAPE_ID_CODEGEN:    return &top_codegen;
    default:                  return NULL;
    }
}

/* ===== Lookup ===== */

static unsigned slot_of(const char *k, size_t len)
{
    const unsigned char *u = (const unsigned char *)k;
    return ((unsigned)len * 31u + u[0] * 7u + u[len - 1] * 3u + u[len / 2]) & (SHAPE_SLOTS - 1);
}

void shape_init(void)
{
    int r, i, base = 1;

    for (r = 0; r < COUNT(records); r++) {
        shape_record *rec = records[r];
        memset(rec->slots, 0, sizeof rec->slots);
        rec->key_base = base;
        for (i = 0; i < rec->nfields; i++) {
            unsigned s = slot_of(rec->fields[i].name, rec->fields[i].len);
            while (rec->slots[s] != 0)
                s = (s + 1) & (SHAPE_SLOTS - 1);
            rec->slots[s] = (unsigned char)(i + 1);
        }
        base += rec->nfields;
    }
}

void shape_push_key_cache(lua_State *L)
{
    int r, i;

    lua_newtable(L);
    for (r = 0; r < COUNT(records); r++) {
        const shape_record *rec = records[r];
        for (i = 0; i < rec->nfields; i++) {
            lua_pushlstring(L, rec->fields[i].name, rec->fields[i].len);
            lua_rawseti(L, -2, rec->key_base + i);
        }
    }
}

const shape_field *shape_lookup(const shape_record *r, const char *k, size_t len, int *index)
{
    unsigned s;

    if (len == 0)
        return NULL;
    for (s = slot_of(k, len); r->slots[s] != 0; s = (s + 1) & (SHAPE_SLOTS - 1)) {
        const shape_field *f = &r->fields[r->slots[s] - 1];
        if (f->len == len && memcmp(f->name, k, len) == 0) {
            *index = r->slots[s] - 1;
            return f;
        }
    }
    return NULL;
}

/* ===== Shape names and descriptions ===== */

shape_id shape_opt(lua_State *L, int arg, unsigned allowed)
{
    static const char *const names[] = { "definition", "page", "codegen", "none" };
    const char *name;
    int i;

    if (lua_isnoneornil(L, arg))
        return SHAPE_ID_ANY;
    name = luaL_checkstring(L, arg);
    for (i = 0; i < COUNT(names); i++)
        if (strcmp(name, names[i]) == 0 && (allowed & (1u << (i + 1))))
            return (shape_id)(i + 1);
    return (shape_id)luaL_argerror(L, arg, lua_pushfstring(L, "unknown shape '%s'", name));
}

void shape_describe_write(const shape_field *f, char *out, size_t size)
{
    const char *what;

    if (f->choices != NULL) {
        size_t n = 0;
        int i;
        out[0] = '\0';
        for (i = 0; f->choices[i] != NULL && n < size; i++)
            n += (size_t)snprintf(out + n, size - n, "%s\"%s\"", i == 0 ? "" : f->choices[i + 1] ? ", " : " or ",
                                  f->choices[i]);
        return;
    }
    if (f->is_array)
        what = "an array of strings";
    else if (f->type == SHAPE_BOOLEAN)
        what = "a boolean";
    else if (f->type == SHAPE_INTEGER)
        what = "an integer";
    else if (f->type == SHAPE_USER)
        what = "an integer user id";
    else
        what = "a string";
    snprintf(out, size, "%s%s", what, f->nullable ? " or null" : "");
}

const char *shape_describe_read(const shape_field *f)
{
    if (f->is_array)
        return f->type == SHAPE_STRING ? "array of strings" : "array of objects";
    switch (f->type) {
    case SHAPE_STRING:  return "string";
    case SHAPE_BOOLEAN: return "boolean";
    case SHAPE_INTEGER: return "integer";
    case SHAPE_USER:    return "user object or id";
    default:            return "object";
    }
}
