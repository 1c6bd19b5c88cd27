/*
 * json_simd.cpp - json_simd (json_simd.h) over simdjson's DOM parser (C++17). No exception
 * leaves this file: simdjson reports by error codes, memory comes from new (std::nothrow),
 * and parse catches anything else as a refusal. The document is walked by a cursor whose
 * stack lives in the state, one event per call of next, so no C++ frame is live while the
 * decoder calls Lua (json_parser.h).
 */
#include <new>

#include <simdjson.h>

#include "simdjson/json_simd.h"

namespace dom = simdjson::dom;

namespace {

/* The deepest document simdjson takes; deeper ones are refused (yajl reports them). Above
   the decoder's own limit (JSON_MAX_DEPTH, 100), which stops a replay at its 101st level. */
constexpr size_t MAX_DEPTH = 128;

/* An open container of the walk: an array with its next item, or an object with its next
   field (value_next: its key was handed out, its value comes next). */
struct frame {
    bool is_object;
    bool value_next;
    dom::array::iterator item, items_end;
    dom::object::iterator field, fields_end;
};

struct state {
    dom::parser parser;
    dom::element root;
    bool started = false;
    size_t depth = 0;
    frame stack[MAX_DEPTH + 1]; /* simdjson nests no deeper than MAX_DEPTH */
};

void *create(void)
{
    return new (std::nothrow) state();
}

void destroy(void *s)
{
    delete static_cast<state *>(s);
}

int parse(void *p, const char *text, size_t len, int *oom)
{
    state *s = static_cast<state *>(p);
    simdjson::error_code e;

    try {
        e = s->parser.allocate(len < 32 ? 32 : len, MAX_DEPTH);
        if (e == simdjson::SUCCESS)
            e = s->parser.parse(text, len).get(s->root);
    } catch (...) {
        e = simdjson::UNEXPECTED_ERROR; /* refused: yajl parses it */
    }
    *oom = e == simdjson::MEMALLOC;
    return e == simdjson::SUCCESS;
}

/* Writes the event of element e into *ev; a container opens a frame. */
void element_event(state *s, dom::element e, json_event *ev) noexcept
{
    frame *f;

    switch (e.type()) {
    case dom::element_type::ARRAY: {
        dom::array items = e.get_array().value_unsafe();
        f = &s->stack[s->depth++];
        f->is_object = false;
        f->item = items.begin();
        f->items_end = items.end();
        ev->type = JSON_EVENT_START_ARRAY;
        ev->n = items.size();
        return;
    }
    case dom::element_type::OBJECT: {
        dom::object fields = e.get_object().value_unsafe();
        f = &s->stack[s->depth++];
        f->is_object = true;
        f->value_next = false;
        f->field = fields.begin();
        f->fields_end = fields.end();
        ev->type = JSON_EVENT_START_MAP;
        ev->n = ev->nulls = 0;
        for (dom::key_value_pair field : fields) {
            ev->n++;
            ev->nulls += field.value.is_null();
        }
        return;
    }
    case dom::element_type::STRING: {
        std::string_view v = e.get_string().value_unsafe();
        ev->type = JSON_EVENT_STRING;
        ev->s = v.data();
        ev->len = v.size();
        return;
    }
    case dom::element_type::INT64:
        ev->type = JSON_EVENT_INTEGER;
        ev->i = e.get_int64().value_unsafe();
        return;
    case dom::element_type::UINT64:
        ev->type = JSON_EVENT_NUMBER;
        ev->v = static_cast<double>(e.get_uint64().value_unsafe());
        return;
    case dom::element_type::DOUBLE:
        ev->type = JSON_EVENT_NUMBER;
        ev->v = e.get_double().value_unsafe();
        return;
    case dom::element_type::BOOL:
        ev->type = JSON_EVENT_BOOLEAN;
        ev->i = e.get_bool().value_unsafe() ? 1 : 0;
        return;
    default:
        ev->type = JSON_EVENT_NULL;
        return;
    }
}

int next(void *p, json_event *ev) noexcept
{
    state *s = static_cast<state *>(p);
    frame *f;

    if (!s->started) {
        s->started = true;
        element_event(s, s->root, ev);
        return 1;
    }
    if (s->depth == 0)
        return 0;
    f = &s->stack[s->depth - 1];
    if (!f->is_object) {
        if (f->item == f->items_end) {
            s->depth--;
            ev->type = JSON_EVENT_END_ARRAY;
            return 1;
        }
        dom::element item = *f->item;
        ++f->item;
        element_event(s, item, ev);
        return 1;
    }
    if (f->value_next) {
        dom::element value = (*f->field).value;
        f->value_next = false;
        ++f->field;
        element_event(s, value, ev);
        return 1;
    }
    if (f->field == f->fields_end) {
        s->depth--;
        ev->type = JSON_EVENT_END_MAP;
        return 1;
    }
    std::string_view key = (*f->field).key;
    f->value_next = true;
    ev->type = JSON_EVENT_MAP_KEY;
    ev->s = key.data();
    ev->len = key.size();
    return 1;
}

} // namespace

const json_parser json_simd = { "simdjson", create, destroy, parse, next };
