/*
 * json_simd.cpp - json_simd (json_simd.h) over simdjson's DOM parser (C++17). No exception
 * leaves this file: simdjson reports by error codes, memory comes from new (std::nothrow),
 * and parse catches anything else as a refusal. The document is walked by a cursor whose
 * stack lives in the state, a batch of events per call of next, so no C++ frame is live while
 * the decoder calls Lua (json_parser.h).
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
   field (value_next: a key was handed out, and its value, pending, comes next). */
struct frame {
    bool is_object;
    bool value_next;
    dom::array::iterator item, items_end;
    dom::object::iterator field, fields_end;
    dom::element pending;
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
    return new (std::nothrow) state; /* the stack's frames are set as they open */
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

/* Writes the event of element e into *ev; a container opens a frame: then true. */
inline __attribute__((always_inline)) bool element_event(state *s, dom::element e, json_event *ev) noexcept
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
        return true;
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
        for (dom::object::iterator it = f->field; it != f->fields_end; ++it) {
            ev->n++;
            ev->nulls += it.value().is_null();
        }
        return true;
    }
    case dom::element_type::STRING: {
        std::string_view v = e.get_string().value_unsafe();
        ev->type = JSON_EVENT_STRING;
        ev->s = v.data();
        ev->len = v.size();
        return false;
    }
    case dom::element_type::INT64:
        ev->type = JSON_EVENT_INTEGER;
        ev->i = e.get_int64().value_unsafe();
        return false;
    case dom::element_type::UINT64:
        ev->type = JSON_EVENT_NUMBER;
        ev->v = static_cast<double>(e.get_uint64().value_unsafe());
        return false;
    case dom::element_type::DOUBLE:
        ev->type = JSON_EVENT_NUMBER;
        ev->v = e.get_double().value_unsafe();
        return false;
    case dom::element_type::BOOL:
        ev->type = JSON_EVENT_BOOLEAN;
        ev->i = e.get_bool().value_unsafe() ? 1 : 0;
        return false;
    default:
        ev->type = JSON_EVENT_NULL;
        return false;
    }
}

/* Writes the next events of the walk, at most max, into events: how many (0 after the last).
   The items of the innermost open container are handed out in one loop, until one opens a
   container of its own. */
size_t next(void *p, json_event *events, size_t max) noexcept
{
    state *s = static_cast<state *>(p);
    size_t n = 0;

    if (!s->started && max > 0) {
        s->started = true;
        element_event(s, s->root, &events[n++]);
    }
    while (n < max && s->depth > 0) {
        frame *f = &s->stack[s->depth - 1];
        bool opened = false;

        if (!f->is_object) {
            while (n < max && !opened && f->item != f->items_end) {
                dom::element item = *f->item;
                ++f->item;
                opened = element_event(s, item, &events[n++]);
            }
            if (n < max && !opened && f->item == f->items_end) {
                s->depth--;
                events[n++].type = JSON_EVENT_END_ARRAY;
            }
            continue;
        }
        while (n < max && !opened) {
            if (f->value_next) {
                f->value_next = false;
                opened = element_event(s, f->pending, &events[n++]);
                continue;
            }
            if (f->field == f->fields_end) {
                s->depth--;
                events[n++].type = JSON_EVENT_END_MAP;
                break;
            }
            std::string_view key = f->field.key();
            f->pending = f->field.value();
            ++f->field;
            f->value_next = true;
            events[n].type = JSON_EVENT_MAP_KEY;
            events[n].s = key.data();
            events[n++].len = key.size();
        }
    }
    return n;
}

} // namespace

const json_parser json_simd = { "simdjson", create, destroy, parse, next };
