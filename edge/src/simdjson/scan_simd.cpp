/*
 * scan_simd.cpp - the edge's body scanner (scanner.h) over simdjson (C++17, built without
 * exceptions: simdjson reports by error codes, memory comes from malloc and new (std::nothrow)).
 *
 * simdjson's DOM parser validates the whole body as strictly as yajl does (UTF-8, every string's
 * escapes, numbers, literals, commas, colons, nothing after the root) at several bytes a cycle,
 * and leaves two things behind: its document (keys and strings unescaped) and its structural
 * index, the byte offset of every '{', '}', '[', ']', ',', ':' and of the first byte of every
 * string, number and literal, in order. The walk below reads the document where the edge needs
 * its meaning (the events, their names, tokens and properties' keys) and moves a cursor over the
 * structural index in step with it, so that each event's and each properties value's bytes come
 * from the index; values the edge does not read are skipped on the index alone, by counting
 * brackets. Whatever it does not accept, or does not take on (a body over MAX_LEN, more than
 * max_events events, a root that is neither an object nor an array), it refuses, and the yajl
 * scanner says why.
 */
#include <cstdlib>
#include <cstring>
#include <new>

#include <simdjson.h>

#include "scanner.h"

namespace dom = simdjson::dom;
using simdjson::SUCCESS;

namespace {

/* Bodies up to KEEP bytes: their buffers stay for the next scan (about 15 bytes a byte of body);
   longer ones, up to MAX_LEN, are released at the next scan; longer still: yajl, which streams. */
constexpr size_t KEEP = 128 * 1024;
constexpr size_t MAX_LEN = 1024 * 1024;

enum key_id { KEY_OTHER, KEY_EVENT, KEY_PROPERTIES, KEY_BATCH, KEY_TOKEN, KEY_DTOKEN, KEY_API_KEY };

struct state {
    dom::parser parser;
    char *buf = nullptr; /* the body, with simdjson's padding after it */
    size_t buf_size = 0;
    edge_event *events = nullptr;
    size_t events_size = 0, n = 0, max_events = 0;
    edge_event top; /* the root object */
    /* the structural index, and the cursor: the structural the walk stands on */
    const uint32_t *index = nullptr;
    uint32_t at = 0;
};

inline bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The 1-based position of the structural at i. */
inline size_t position(const state &s, uint32_t i)
{
    return (size_t)s.index[i] + 1;
}

/* Moves the cursor past the value it stands on: one structural for a string, number or literal;
   for an object or array, up to and past its closing bracket. */
inline void skip(state &s)
{
    unsigned depth = 0;
    do {
        char c = s.buf[s.index[s.at++]];
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
    } while (depth > 0);
}

/* The position of the last byte of the string, number or literal the cursor stands on: before
   the next structural, white space left out. */
inline size_t scalar_last(const state &s)
{
    const char *p = s.buf + s.index[s.at + 1];
    do
        p--;
    while (blank(*p));
    return (size_t)(p - s.buf) + 1;
}

key_id key_of(std::string_view k, bool root)
{
    switch (k.size()) {
    case 5:
        if (k == "event")
            return KEY_EVENT;
        if (k == "token")
            return KEY_TOKEN;
        return root && k == "batch" ? KEY_BATCH : KEY_OTHER;
    case 6:
        return k == "$token" ? KEY_DTOKEN : KEY_OTHER;
    case 7:
        return k == "api_key" ? KEY_API_KEY : KEY_OTHER;
    case 10:
        return k == "properties" ? KEY_PROPERTIES : KEY_OTHER;
    default:
        return KEY_OTHER;
    }
}

inline edge_text text_of(std::string_view v)
{
    return edge_text{ v.data(), v.size() };
}

/* Keeps v in slot when it is a string; `clear`: anything else empties the slot (the name; a
   token is kept). The cursor stays on v. */
inline void keep_string(dom::element v, edge_text &slot, bool clear)
{
    if (v.type() == dom::element_type::STRING)
        slot = text_of(v.get_string().value_unsafe());
    else if (clear)
        slot = edge_text{ nullptr, 0 };
}

/* The properties value v of event e (the last one counts): its bytes, kind, keys and token. */
void properties(state &s, dom::element v, edge_event &e)
{
    e.vfirst = position(s, s.at);
    e.pkeys = 0;
    e.ptoken = edge_text{ nullptr, 0 };
    switch (v.type()) {
    case dom::element_type::OBJECT: {
        dom::object o = v.get_object().value_unsafe();
        e.pkind = EDGE_PROPS_OBJECT;
        s.at++; /* '{' */
        for (dom::key_value_pair field : o) {
            s.at += 2; /* the key, ':' */
            e.pkeys++;
            if (field.key == "token")
                keep_string(field.value, e.ptoken, false);
            skip(s);
            s.at++; /* ',' or '}' */
        }
        if (e.pkeys == 0)
            s.at++; /* '}' */
        e.vlast = position(s, s.at - 1);
        return;
    }
    case dom::element_type::ARRAY:
        e.pkind = EDGE_PROPS_OTHER;
        skip(s);
        e.vlast = position(s, s.at - 1);
        return;
    default:
        e.pkind = v.is_null() ? EDGE_PROPS_NULL : EDGE_PROPS_OTHER;
        e.vlast = scalar_last(s);
        s.at++;
        return;
    }
}

/* One field of an event (the root object's too), the cursor on its value. */
inline void event_field(state &s, dom::element v, key_id key, edge_event &e)
{
    switch (key) {
    case KEY_EVENT:
        keep_string(v, e.name, true);
        break;
    case KEY_TOKEN:
        keep_string(v, e.token, false);
        break;
    case KEY_DTOKEN:
        keep_string(v, e.dtoken, false);
        break;
    case KEY_API_KEY:
        keep_string(v, e.api_key, false);
        break;
    case KEY_PROPERTIES:
        properties(s, v, e);
        return;
    default:
        break;
    }
    skip(s);
}

/* An item of the events array, the cursor on it: an object, recorded as the next event. */
bool item_event(state &s, dom::element v)
{
    dom::object o;
    if (v.get_object().get(o) != SUCCESS || s.n >= s.max_events)
        return false;
    if (s.n == s.events_size) {
        size_t size = s.events_size ? 2 * s.events_size : 64;
        void *grown = realloc(s.events, size * sizeof *s.events);
        if (grown == nullptr)
            return false;
        s.events = static_cast<edge_event *>(grown);
        s.events_size = size;
    }
    edge_event e = {};
    e.first = position(s, s.at++);
    for (dom::key_value_pair field : o) {
        s.at += 2; /* the key, ':' */
        e.ekeys++;
        event_field(s, field.value, key_of(field.key, false), e);
        s.at++; /* ',' or '}' */
    }
    if (e.ekeys == 0)
        s.at++; /* '}' */
    e.last = position(s, s.at - 1);
    s.events[s.n++] = e;
    return true;
}

/* The events array, the cursor on it. */
bool items(state &s, dom::array a)
{
    bool empty = true;
    s.at++; /* '[' */
    for (dom::element item : a) {
        empty = false;
        if (!item_event(s, item))
            return false;
        s.at++; /* ',' or ']' */
    }
    if (empty)
        s.at++; /* ']' */
    return true;
}

/* The root object: a batch ({"batch": [...], ...}) or one event. */
bool root_object(state &s, dom::object o, edge_scan_out *out)
{
    edge_event &top = s.top;
    bool batch_seen = false;
    top = edge_event{};
    top.first = position(s, s.at++);
    for (dom::key_value_pair field : o) {
        s.at += 2; /* the key, ':' */
        top.ekeys++;
        key_id key = key_of(field.key, true);
        if (key != KEY_BATCH) {
            event_field(s, field.value, key, top);
        } else {
            dom::array batch;
            if (batch_seen || field.value.get_array().get(batch) != SUCCESS || !items(s, batch))
                return false;
            batch_seen = true;
        }
        s.at++; /* ',' or '}' */
    }
    if (top.ekeys == 0)
        return false; /* {}: neither an event nor a batch */
    top.last = position(s, s.at - 1);
    out->api_key = top.api_key;
    out->token = top.token;
    out->form = batch_seen ? EDGE_FORM_BATCH : EDGE_FORM_SINGLE;
    if (!batch_seen) {
        out->events = &top;
        out->n = 1;
    }
    return true;
}

/* Copies the body into the state's buffer, with simdjson's padding after it, and makes room in
   the parser for it: both grow by steps of GROWTH bytes (bodies of about the same size do not
   make them grow again and again); a long body's buffers, kept from the last scan, are released
   first. */
bool take(state &s, const char *text, size_t len)
{
    constexpr size_t GROWTH = 16 * 1024;
    size_t capacity = (len / GROWTH + 1) * GROWTH;
    if (s.buf_size > KEEP + simdjson::SIMDJSON_PADDING && len <= KEEP) {
        free(s.buf);
        s.buf = nullptr;
        s.buf_size = 0;
        s.parser = dom::parser();
    }
    if (len + simdjson::SIMDJSON_PADDING > s.buf_size) {
        char *grown = static_cast<char *>(realloc(s.buf, capacity + simdjson::SIMDJSON_PADDING));
        if (grown == nullptr)
            return false;
        s.buf = grown;
        s.buf_size = capacity + simdjson::SIMDJSON_PADDING;
    }
    if (len > s.parser.capacity() && s.parser.allocate(capacity) != SUCCESS)
        return false;
    memcpy(s.buf, text, len);
    memset(s.buf + len, 0, simdjson::SIMDJSON_PADDING);
    return true;
}

int scan(void *p, const char *text, size_t len, size_t max_events, edge_scan_out *out) noexcept
{
    state &s = *static_cast<state *>(p);
    dom::element root;

    if (len > MAX_LEN || !take(s, text, len)
        || s.parser.parse(s.buf, len, false).get(root) != SUCCESS)
        return 0;
    s.index = s.parser.implementation->structural_indexes.get();
    s.at = 0;
    s.n = 0;
    s.max_events = max_events;
    *out = edge_scan_out{};
    if (root.type() == dom::element_type::OBJECT) {
        if (!root_object(s, root.get_object().value_unsafe(), out))
            return 0;
        if (out->form == EDGE_FORM_SINGLE)
            return 1;
    } else if (root.type() == dom::element_type::ARRAY) {
        if (!items(s, root.get_array().value_unsafe()))
            return 0;
        out->form = EDGE_FORM_ARRAY;
    } else {
        return 0;
    }
    out->events = s.events;
    out->n = s.n;
    return 1;
}

void *create(void)
{
    return new (std::nothrow) state;
}

void destroy(void *p)
{
    state *s = static_cast<state *>(p);
    if (s == nullptr)
        return;
    free(s->buf);
    free(s->events);
    delete s;
}

} // namespace

extern "C" const edge_scanner edge_simd_scanner = { "simdjson", create, destroy, scan };
