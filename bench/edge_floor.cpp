// bench/edge_floor.cpp: the floor of the edge's work on one capture body (issue 20), measured
// apart from the edge: the time to inflate it with libdeflate (into a buffer reused from body to
// body) plus the time for simdjson's On-Demand parser to parse it and read every event's name and
// its properties' byte range, and nothing else. For comparison, zlib's inflate of the same body
// and simdjson's DOM parse of the whole text. Prints one line per file, microseconds per body
// (medians of 7 rounds):
//   NAME bytes=N sent=N libdeflate=US zlib=US ondemand=US dom=US floor=US
// Usage: edge_floor FILE.body…   (gzip bodies are inflated first)
#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <simdjson.h>

using namespace simdjson;

namespace {

std::string slurp(const char *path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Microseconds per call of fn: the median of 7 rounds of n calls.
template <typename F> double per_call(int n, F fn)
{
    std::vector<double> times;
    fn();
    for (int r = 0; r < 7; r++) {
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < n; i++)
            fn();
        std::chrono::duration<double, std::micro> d = std::chrono::steady_clock::now() - t0;
        times.push_back(d.count() / n);
    }
    std::sort(times.begin(), times.end());
    return times[3];
}

size_t sink; // what the reads add up to, so that no read is optimised away

// The events of a capture body as the edge reads them: a {"batch": [...]} object, an array, or one
// event object. Reads each event's name and its properties' bytes.
bool read_events(ondemand::parser &parser, const char *text, size_t len, size_t capacity)
{
    ondemand::document doc;
    if (parser.iterate(padded_string_view(text, len, capacity)).get(doc))
        return false;
    // one field of an event: its name, or its properties' bytes
    auto field_of_event = [](std::string_view key, ondemand::value value) {
        if (key == "event") {
            std::string_view name;
            if (!value.get_string().get(name))
                sink += name.size();
        } else if (key == "properties") {
            std::string_view raw;
            ondemand::object props;
            if (value.get_object().get(props) || props.raw_json().get(raw))
                return false;
            sink += raw.size();
        }
        return true;
    };
    auto events = [&](ondemand::array items) {
        for (auto item : items) {
            ondemand::object obj;
            if (item.get_object().get(obj))
                return false;
            for (auto field : obj) {
                std::string_view key;
                if (field.unescaped_key().get(key) || !field_of_event(key, field.value()))
                    return false;
            }
        }
        return true;
    };
    ondemand::json_type type;
    if (doc.type().get(type))
        return false;
    if (type == ondemand::json_type::array)
        return events(doc.get_array());
    ondemand::object root;
    if (doc.get_object().get(root))
        return false;
    for (auto field : root) { // a batch's "batch", or the fields of one event
        std::string_view key;
        if (field.unescaped_key().get(key))
            return false;
        if (key == "batch" ? !events(field.value().get_array()) : !field_of_event(key, field.value()))
            return false;
    }
    return true;
}

} // namespace

int main(int argc, char **argv)
{
    libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    std::vector<char> out(1 << 20);
    ondemand::parser parser;
    dom::parser dom_parser;
    z_stream zs = {};
    inflateInit2(&zs, 31);

    for (int i = 1; i < argc; i++) {
        std::string sent = slurp(argv[i]), text;
        bool gz = sent.size() > 2 && (unsigned char)sent[0] == 0x1f && (unsigned char)sent[1] == 0x8b;
        double deflate_us = 0, zlib_us = 0;
        if (gz) {
            size_t got = 0;
            if (libdeflate_gzip_decompress(d, sent.data(), sent.size(), out.data(), out.size() - SIMDJSON_PADDING,
                                           &got) != LIBDEFLATE_SUCCESS) {
                std::fprintf(stderr, "edge_floor: %s: not a gzip body under 1 MB\n", argv[i]);
                return 1;
            }
            text.assign(out.data(), got);
            deflate_us = per_call(20000, [&] {
                libdeflate_gzip_decompress(d, sent.data(), sent.size(), out.data(), out.size() - SIMDJSON_PADDING, &got);
            });
            std::vector<char> zout(got + 1);
            zlib_us = per_call(20000, [&] {
                inflateReset(&zs);
                zs.next_in = (Bytef *)sent.data();
                zs.avail_in = (uInt)sent.size();
                zs.next_out = (Bytef *)zout.data();
                zs.avail_out = (uInt)zout.size();
                inflate(&zs, Z_FINISH);
            });
        } else {
            text = sent;
        }
        // the text inflated into the reused buffer, with simdjson's padding after it
        std::copy(text.begin(), text.end(), out.begin());
        if (!read_events(parser, out.data(), text.size(), out.size())) {
            std::fprintf(stderr, "edge_floor: %s: simdjson cannot read its events\n", argv[i]);
            return 1;
        }
        int n = text.size() > 4000 ? 20000 : 200000;
        double ondemand_us = per_call(n, [&] { read_events(parser, out.data(), text.size(), out.size()); });
        double dom_us = per_call(n, [&] {
            dom::element e;
            if (dom_parser.parse(out.data(), text.size(), false).get(e) == SUCCESS)
                sink++;
        });
        std::string name = argv[i];
        name = name.substr(name.find_last_of('/') + 1);
        name = name.substr(0, name.find('.'));
        std::printf("%s bytes=%zu sent=%zu libdeflate=%.2f zlib=%.2f ondemand=%.2f dom=%.2f floor=%.2f\n", name.c_str(),
                    text.size(), sent.size(), deflate_us, zlib_us, ondemand_us, dom_us, deflate_us + ondemand_us);
    }
    inflateEnd(&zs);
    libdeflate_free_decompressor(d);
    return sink == 0; // never: the bodies have events
}
