/*
 * shape.c - the records of shape.h: the event definition, the list page, UserBasic, the bulk
 * answers, the primary-properties answer, and the list parameters / bulk bodies.
 */
#include <stdio.h>
#include <string.h>

#include "codec/shape.h"

/* ===== The records ===== */

#define FIELD(n, t, ...) { .name = n, .len = sizeof(n) - 1, .type = t, __VA_ARGS__ }
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const enforcement_modes[] = { "allow", "reject", NULL };

/* The event definition (reference §6). `default_json` is what PostHog stores for a writable
   field that a create leaves out; `without_ee` what a deployment without the Enterprise package
   does with it (§20.4). */
static const shape_field definition_fields[] = {
    FIELD("id",                 SHAPE_STRING),
    FIELD("name",               SHAPE_STRING,  .writable = 1),
    FIELD("owner",              SHAPE_USER,    .writable = 1, .nullable = 1, .without_ee = EE_IGNORED),
    FIELD("description",        SHAPE_STRING,  .writable = 1, .nullable = 1, .default_json = "\"\"",
                                               .without_ee = EE_REFUSED),
    FIELD("tags",               SHAPE_STRING,  .writable = 1, .is_array = 1, .tags = 1, .default_json = "[]"),
    FIELD("created_at",         SHAPE_STRING),
    FIELD("updated_at",         SHAPE_STRING),
    FIELD("updated_by",         SHAPE_USER),
    FIELD("last_seen_at",       SHAPE_STRING),
    FIELD("verified",           SHAPE_BOOLEAN, .writable = 1, .default_json = "false",
                                               .without_ee = EE_REFUSED),
    FIELD("verified_at",        SHAPE_STRING),
    FIELD("verified_by",        SHAPE_USER),
    FIELD("hidden",             SHAPE_BOOLEAN, .writable = 1, .nullable = 1, .default_json = "false",
                                               .without_ee = EE_REFUSED),
    FIELD("enforcement_mode",   SHAPE_STRING,  .writable = 1, .choices = enforcement_modes,
                                               .default_json = "\"allow\""),
    FIELD("primary_property",   SHAPE_STRING,  .writable = 1, .nullable = 1),
    FIELD("is_action",          SHAPE_BOOLEAN),
    FIELD("post_to_slack",      SHAPE_BOOLEAN, .writable = 1, .default_json = "false"),
    FIELD("default_columns",    SHAPE_STRING,  .writable = 1, .is_array = 1, .default_json = "[]",
                                               .without_ee = EE_IGNORED),
    FIELD("media_preview_urls", SHAPE_STRING,  .is_array = 1),
    FIELD("last_updated_at",    SHAPE_STRING),
    FIELD("action_id",          SHAPE_INTEGER),
    FIELD("is_calculating",     SHAPE_BOOLEAN),
    FIELD("last_calculated_at", SHAPE_STRING),
    FIELD("created_by",         SHAPE_USER),
};

/* A list page: results is required (an answer without it is no page). */
static const shape_field page_fields[] = {
    FIELD("count",           SHAPE_INTEGER),
    FIELD("next",            SHAPE_STRING),
    FIELD("previous",        SHAPE_STRING),
    FIELD("results",         SHAPE_RECORD,  .is_array = 1, .record = &shape_definition, .required = 1,
                                            .missing = "expected a page with results"),
    FIELD("count_is_capped", SHAPE_BOOLEAN),
};

/* UserBasic: listed so that its keys come from the key cache; only the id is checked (an
   integer: it is what a write sends back as the owner). */
static const shape_field user_fields[] = {
    FIELD("id", SHAPE_INTEGER, .wrong = "a user's id is not an integer"),
    FIELD("uuid", SHAPE_ANY),       FIELD("distinct_id", SHAPE_ANY),
    FIELD("first_name", SHAPE_ANY), FIELD("last_name", SHAPE_ANY),  FIELD("email", SHAPE_ANY),
    FIELD("is_email_verified", SHAPE_ANY), FIELD("hedgehog_config", SHAPE_ANY),
    FIELD("role_at_organization", SHAPE_ANY),
};

/* The answer of bulk_update_tags / bulk_update_verified (reference §12): items with string ids. */
static const shape_field updated_item_fields[] = {
    FIELD("id", SHAPE_STRING, .required = 1, .wrong = "an item of updated has no id",
                              .missing = "an item of updated has no id"),
};
static const shape_field skipped_item_fields[] = {
    FIELD("id", SHAPE_STRING, .required = 1, .wrong = "an item of skipped has no id",
                              .missing = "an item of skipped has no id"),
};
static shape_record shape_updated_item = { updated_item_fields, COUNT(updated_item_fields), 4,
                                           "an item of updated has no id", 0, 0, { 0 } };
static shape_record shape_skipped_item = { skipped_item_fields, COUNT(skipped_item_fields), 4,
                                           "an item of skipped has no id", 0, 0, { 0 } };
static const shape_field bulk_fields[] = {
    FIELD("updated", SHAPE_RECORD, .is_array = 1, .record = &shape_updated_item,
                                   .wrong = "updated is not an array"),
    FIELD("skipped", SHAPE_RECORD, .is_array = 1, .record = &shape_skipped_item,
                                   .wrong = "skipped is not an array"),
};

/* The answer of primary_properties (reference §8.3): event name -> property name. */
static const shape_field property_name = FIELD("primary_properties", SHAPE_STRING,
    .wrong = "primary_properties must map event names to property names");
static const shape_field primary_properties_fields[] = {
    FIELD("primary_properties", SHAPE_MAP, .values = &property_name,
                                           .wrong = "primary_properties is not an object"),
};

/* The list endpoint's query parameters (lua-api.md) and the bulk bodies' arrays (ids, and
   tags, which is the definition's field). */
static const shape_field params_fields[] = {
    FIELD("ids",                 SHAPE_STRING,  .is_array = 1),
    FIELD("names",               SHAPE_STRING,  .is_array = 1, .query = QUERY_NO_COMMA),
    FIELD("ordering",            SHAPE_STRING,  .query = QUERY_REPEATED),
    FIELD("tags",                SHAPE_STRING,  .query = QUERY_JSON_ARRAY), /* array: the definition's */
    FIELD("excluded_properties", SHAPE_STRING,  .is_array = 1, .query = QUERY_JSON_ARRAY),
    FIELD("exclude_stale",       SHAPE_BOOLEAN, .query = QUERY_VALUE),
    FIELD("exclude_hidden",      SHAPE_BOOLEAN, .query = QUERY_VALUE),
    FIELD("verified",            SHAPE_BOOLEAN, .query = QUERY_VALUE),
    FIELD("search",              SHAPE_STRING,  .query = QUERY_VALUE),
    FIELD("event_type",          SHAPE_STRING,  .query = QUERY_VALUE),
    FIELD("limit",               SHAPE_INTEGER, .query = QUERY_VALUE, .min = 1),
    FIELD("offset",              SHAPE_INTEGER, .query = QUERY_VALUE, .min = 0),
};

shape_record shape_definition = { definition_fields, COUNT(definition_fields), 32, NULL, 0, 0, { 0 } };
shape_record shape_page = { page_fields, COUNT(page_fields), 8, NULL, 0, 0, { 0 } };
shape_record shape_user = { user_fields, COUNT(user_fields), 16, NULL, 0, 0, { 0 } };
shape_record shape_params = { params_fields, COUNT(params_fields), 0, NULL, 0, 0, { 0 } };
static shape_record shape_bulk = { bulk_fields, COUNT(bulk_fields), 2, NULL, 0, 0, { 0 } };
static shape_record shape_primary_properties = { primary_properties_fields,
                                                 COUNT(primary_properties_fields), 1, NULL, 0, 0, { 0 } };

static shape_record *const records[] = { &shape_definition, &shape_page, &shape_user, &shape_params,
                                         &shape_bulk, &shape_updated_item, &shape_skipped_item,
                                         &shape_primary_properties };

/* ===== Named shapes ===== */

static const char *const shape_names[] = { "definition", "page", "codegen", "none", "bulk",
                                           "primary_properties", "object" };

static const shape_field tops[] = {
    FIELD("definition", SHAPE_RECORD, .record = &shape_definition),
    FIELD("page", SHAPE_RECORD, .record = &shape_page),
    FIELD("codegen", SHAPE_OBJECT),
    FIELD("none", SHAPE_ANY),
    FIELD("bulk", SHAPE_RECORD, .record = &shape_bulk),
    FIELD("primary_properties", SHAPE_RECORD, .record = &shape_primary_properties),
    FIELD("object", SHAPE_OBJECT),
};

const shape_field *shape_top(shape_id id)
{
    return id == SHAPE_ID_ANY || id == SHAPE_ID_NONE ? NULL : &tops[id - 1];
}

shape_id shape_opt(lua_State *L, int arg, unsigned allowed)
{
    const char *name;
    int i;

    if (lua_isnoneornil(L, arg))
        return SHAPE_ID_ANY;
    name = luaL_checkstring(L, arg);
    for (i = 0; i < COUNT(shape_names); i++)
        if (strcmp(name, shape_names[i]) == 0 && (allowed & SHAPE_BIT(i + 1)))
            return (shape_id)(i + 1);
    return (shape_id)luaL_argerror(L, arg, lua_pushfstring(L, "unknown shape '%s'", name));
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
        rec->required = 0;
        for (i = 0; i < rec->nfields; i++) {
            unsigned s = slot_of(rec->fields[i].name, rec->fields[i].len);
            while (rec->slots[s] != 0)
                s = (s + 1) & (SHAPE_SLOTS - 1);
            rec->slots[s] = (unsigned char)(i + 1);
            if (rec->fields[i].required)
                rec->required |= 1ull << i;
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

int shape_is_array_name(const char *k, size_t len)
{
    const shape_field *f;
    int index;

    return ((f = shape_lookup(&shape_definition, k, len, &index)) != NULL && f->is_array) ||
           ((f = shape_lookup(&shape_params, k, len, &index)) != NULL && f->is_array);
}

/* ===== Descriptions ===== */

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

const char *shape_type_name(const shape_field *f)
{
    static const char *const names[] = { "any", "string", "boolean", "integer", "user", "object",
                                         "record", "map" };
    return names[f->type];
}
