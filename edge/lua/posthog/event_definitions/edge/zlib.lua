--- gzip and deflate for the edge enforcement, through LuaJIT's FFI into Debian's zlib (libz.so.1,
-- which nginx itself links): inflate with a limit on the inflated size, and deflate in the same
-- wrapping the body came in. LuaJIT only (nginx runs LuaJIT).
local ffi = require "ffi"

ffi.cdef [[
typedef struct {
  const unsigned char *next_in; unsigned int avail_in; unsigned long total_in;
  unsigned char *next_out; unsigned int avail_out; unsigned long total_out;
  const char *msg; void *state;
  void *zalloc; void *zfree; void *opaque;
  int data_type; unsigned long adler; unsigned long reserved;
} phed_z_stream;
const char *zlibVersion(void);
int inflateInit2_(phed_z_stream *strm, int windowBits, const char *version, int stream_size);
int inflate(phed_z_stream *strm, int flush);
int inflateEnd(phed_z_stream *strm);
int inflateReset(phed_z_stream *strm);
int deflateInit2_(phed_z_stream *strm, int level, int method, int windowBits, int memLevel, int strategy,
                  const char *version, int stream_size);
int deflate(phed_z_stream *strm, int flush);
int deflateEnd(phed_z_stream *strm);
int deflateReset(phed_z_stream *strm);
unsigned long compressBound(unsigned long sourceLen);
]]

local z = ffi.load("libz.so.1")
local VERSION = z.zlibVersion()
local STREAM_SIZE = ffi.sizeof("phed_z_stream")
local Z_OK, Z_STREAM_END, Z_FINISH, Z_NO_FLUSH = 0, 1, 4, 0
local CHUNK = 65536

local zlib = {}

-- Window bits by wrapping: zlib's header, gzip's, none (raw deflate).
zlib.WBITS = { gzip = 31, zlib = 15, raw = -15 }

local out_buf = ffi.new("unsigned char[?]", CHUNK)

-- One inflate and one deflate stream per wrapping (and level) in each worker, reset between
-- bodies: initialising a stream allocates and clears a few hundred KB, which would cost more
-- than the work on a small body.
local inflaters, deflaters = {}, {}

local function inflater(wrapping)
  local strm = inflaters[wrapping]
  if strm then
    if z.inflateReset(strm) == Z_OK then return strm end
    inflaters[wrapping] = nil
  end
  strm = ffi.new("phed_z_stream")
  if z.inflateInit2_(strm, zlib.WBITS[wrapping], VERSION, STREAM_SIZE) ~= Z_OK then return nil end
  strm = ffi.gc(strm, z.inflateEnd)
  inflaters[wrapping] = strm
  return strm
end

--- Inflates `data` wrapped as `wrapping` ("gzip", "zlib" or "raw"); returns the text, or nil and
-- why (not that format, truncated, trailing bytes, or more than `limit` bytes inflated).
function zlib.inflate(data, wrapping, limit)
  local strm = inflater(wrapping)
  if not strm then return nil, "inflateInit2 failed" end
  strm.next_in, strm.avail_in = data, #data
  local parts, size = {}, 0
  local rc
  repeat
    strm.next_out, strm.avail_out = out_buf, CHUNK
    rc = z.inflate(strm, Z_NO_FLUSH)
    local got = CHUNK - strm.avail_out
    if got > 0 then
      size = size + got
      if size > limit then return nil, "inflates to more than " .. limit .. " bytes" end
      parts[#parts + 1] = ffi.string(out_buf, got)
    end
  until rc ~= Z_OK or (got == 0 and strm.avail_in == 0)
  local trailing = strm.avail_in
  strm.next_in = nil -- the stream outlives `data`
  if rc ~= Z_STREAM_END then return nil, "not a complete " .. wrapping .. " stream" end
  if trailing > 0 then return nil, "bytes after the " .. wrapping .. " stream" end
  return table.concat(parts)
end

--- Deflates `text` wrapped as `wrapping` ("gzip", "zlib" or "raw") at `level` (default 1, the
-- fastest: a re-compression on the hot path; posthog-js's own gzip is not much tighter).
function zlib.deflate(text, wrapping, level)
  level = level or 1
  local key = wrapping .. level
  local strm = deflaters[key]
  if not strm or z.deflateReset(strm) ~= Z_OK then
    strm = ffi.new("phed_z_stream")
    assert(z.deflateInit2_(strm, level, 8, zlib.WBITS[wrapping], 8, 0, VERSION, STREAM_SIZE) == Z_OK,
      "deflateInit2 failed")
    strm = ffi.gc(strm, z.deflateEnd)
    deflaters[key] = strm
  end
  local bound = tonumber(z.compressBound(#text)) + 64
  local buf = ffi.new("unsigned char[?]", bound)
  strm.next_in, strm.avail_in = text, #text
  strm.next_out, strm.avail_out = buf, bound
  local rc = z.deflate(strm, Z_FINISH)
  strm.next_in = nil
  assert(rc == Z_STREAM_END, "deflate did not finish")
  return ffi.string(buf, bound - strm.avail_out)
end

return zlib
