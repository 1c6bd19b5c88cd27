/*
 * json_simd.cpp - json_simd (json_simd.h) over simdjson's DOM parser (C++17, no exceptions
 * used: every simdjson call returns its error code).
 */
#include <new>
#include <type_traits>

#include <simdjson.h>

#include "simdjson/json_simd.h"

namespace dom = simdjson::dom;

namespace {

struct state {
    dom::parser parser;
    dom::element root;
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
    simdjson::error_code e = s->parser.parse(text, len).get(s->root);

    *oom = e == simdjson::MEMALLOC;
    return e == simdjson::SUCCESS;
}

/* A Lua error raised by an event unwinds replay's frames with longjmp, which is defined only
   when they hold nothing with a destructor. */
static_assert(std::is_trivially_destructible<dom::element>::value &&
                  std::is_trivially_destructible<dom::key_value_pair>::value &&
                  std::is_trivially_destructible<dom::array>::value &&
                  std::is_trivially_destructible<dom::object>::value &&
                  std::is_trivially_destructible<dom::array::iterator>::value &&
                  std::is_trivially_destructible<dom::object::iterator>::value,
              "replay must unwind without destructors");

/* Depth is bounded by simdjson's (DEFAULT_MAX_DEPTH) and by the decoder's, which stops the
   replay at its own limit. */
int replay_element(dom::element e, const json_events *ev, void *ud)
{
    dom::array items;
    dom::object fields;
    size_t n, nulls;

    switch (e.type()) {
    case dom::element_type::ARRAY:
        items = e.get_array().value_unsafe();
        if (!ev->start_array(ud, items.size()))
            return 0;
        for (dom::element item : items)
            if (!replay_element(item, ev, ud))
                return 0;
        return ev->end_array(ud);
    case dom::element_type::OBJECT:
        fields = e.get_object().value_unsafe();
        n = nulls = 0;
        for (dom::key_value_pair field : fields) {
            n++;
            nulls += field.value.is_null();
        }
        if (!ev->start_map(ud, n, nulls))
            return 0;
        for (dom::key_value_pair field : fields)
            if (!ev->map_key(ud, field.key.data(), field.key.size()) || !replay_element(field.value, ev, ud))
                return 0;
        return ev->end_map(ud);
    case dom::element_type::STRING: {
        std::string_view s = e.get_string().value_unsafe();
        return ev->string(ud, s.data(), s.size());
    }
    case dom::element_type::INT64:
        return ev->integer(ud, e.get_int64().value_unsafe());
    case dom::element_type::UINT64:
        return ev->number(ud, static_cast<double>(e.get_uint64().value_unsafe()));
    case dom::element_type::DOUBLE:
        return ev->number(ud, e.get_double().value_unsafe());
    case dom::element_type::BOOL:
        return ev->boolean(ud, e.get_bool().value_unsafe() ? 1 : 0);
    default:
        return ev->null_value(ud);
    }
}

int replay(const void *s, const json_events *ev, void *ud)
{
    return replay_element(static_cast<const state *>(s)->root, ev, ud);
}

} // namespace

const json_parser json_simd = { create, destroy, parse, replay, 1 };
