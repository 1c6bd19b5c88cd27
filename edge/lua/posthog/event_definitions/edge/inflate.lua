--- Bounded decompression (and re-compression) of capture bodies, through LuaJIT's FFI into
-- Debian's libraries: gzip, zlib and raw deflate in libdeflate (libdeflate.so.0: whole buffers,
-- two to three times zlib's speed), or in zlib (libz.so.1, which nginx itself links) where
-- libdeflate is not installed; zstd in libzstd.so.1, brotli in libbrotlidec.so.1 /
-- libbrotlienc.so.1. LuaJIT only (nginx runs LuaJIT).
--
-- Formats: "gzip" (one or more members; bytes after the last member that are not another
-- member are ignored, as PostHog's decoders ignore them), "zlib" (RFC 1950), "raw" (RFC 1951),
-- "zstd" (every frame), "br". Output never grows past `limit` + 1 bytes: the decoder writes into a
-- buffer that stops there, so a bomb costs at most `limit` bytes of work and memory. libdeflate
-- inflates into a buffer of KEEP bytes that the worker keeps from request to request, or, for a
-- body that inflates past it, into pages mapped for that body alone and unmapped at once.
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
int inflateReset2(phed_z_stream *strm, int windowBits);
int deflateInit2_(phed_z_stream *strm, int level, int method, int windowBits, int memLevel, int strategy,
                  const char *version, int stream_size);
int deflate(phed_z_stream *strm, int flush);
int deflateEnd(phed_z_stream *strm);
int deflateReset(phed_z_stream *strm);
unsigned long compressBound(unsigned long sourceLen);

typedef struct { const void *src; size_t size; size_t pos; } phed_zstd_in;
typedef struct { void *dst; size_t size; size_t pos; } phed_zstd_out;
void *ZSTD_createDCtx(void);
size_t ZSTD_freeDCtx(void *dctx);
size_t ZSTD_DCtx_reset(void *dctx, int reset);
size_t ZSTD_DCtx_setParameter(void *dctx, int param, int value);
size_t ZSTD_decompressStream(void *dctx, phed_zstd_out *output, phed_zstd_in *input);
unsigned ZSTD_isError(size_t code);
const char *ZSTD_getErrorName(size_t code);
size_t ZSTD_compressBound(size_t srcSize);
size_t ZSTD_compress(void *dst, size_t dstCapacity, const void *src, size_t srcSize, int level);

void *BrotliDecoderCreateInstance(void *alloc, void *free, void *opaque);
void BrotliDecoderDestroyInstance(void *state);
int BrotliDecoderDecompressStream(void *state, size_t *available_in, const uint8_t **next_in,
                                  size_t *available_out, uint8_t **next_out, size_t *total_out);
int BrotliDecoderGetErrorCode(const void *state);
const char *BrotliDecoderErrorString(int c);
size_t BrotliEncoderMaxCompressedSize(size_t input_size);
int BrotliEncoderCompress(int quality, int lgwin, int mode, size_t input_size, const uint8_t *input_buffer,
                          size_t *encoded_size, uint8_t *encoded_buffer);

struct libdeflate_decompressor; struct libdeflate_compressor;
struct libdeflate_decompressor *libdeflate_alloc_decompressor(void);
int libdeflate_gzip_decompress_ex(struct libdeflate_decompressor *d, const void *in, size_t in_nbytes, void *out,
                                  size_t out_nbytes_avail, size_t *actual_in_nbytes_ret, size_t *actual_out_nbytes_ret);
int libdeflate_zlib_decompress_ex(struct libdeflate_decompressor *d, const void *in, size_t in_nbytes, void *out,
                                  size_t out_nbytes_avail, size_t *actual_in_nbytes_ret, size_t *actual_out_nbytes_ret);
int libdeflate_deflate_decompress_ex(struct libdeflate_decompressor *d, const void *in, size_t in_nbytes,
                                     void *out, size_t out_nbytes_avail, size_t *actual_in_nbytes_ret,
                                     size_t *actual_out_nbytes_ret);
void libdeflate_free_decompressor(struct libdeflate_decompressor *d);
struct libdeflate_compressor *libdeflate_alloc_compressor(int compression_level);
size_t libdeflate_gzip_compress(struct libdeflate_compressor *c, const void *in, size_t in_nbytes, void *out,
                                size_t out_nbytes_avail);
size_t libdeflate_zlib_compress(struct libdeflate_compressor *c, const void *in, size_t in_nbytes, void *out,
                                size_t out_nbytes_avail);
size_t libdeflate_deflate_compress(struct libdeflate_compressor *c, const void *in, size_t in_nbytes, void *out,
                                   size_t out_nbytes_avail);
size_t libdeflate_gzip_compress_bound(struct libdeflate_compressor *c, size_t in_nbytes);
void libdeflate_free_compressor(struct libdeflate_compressor *c);

void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
int munmap(void *addr, size_t length);
]]

local inflate = {}

local z = ffi.load("libz.so.1")
local ZVERSION = z.zlibVersion()
local ZSTREAM_SIZE = ffi.sizeof("phed_z_stream")
local Z_OK, Z_STREAM_END, Z_BUF_ERROR, Z_FINISH, Z_NO_FLUSH = 0, 1, -5, 4, 0
local WBITS = { gzip = 31, zlib = 15, raw = -15 }

-- The optional libraries: nil when this host lacks them (those formats are then unreadable).
local function optional(name)
  local ok, lib = pcall(ffi.load, name)
  return ok and lib or nil
end
local deflate = optional("libdeflate.so.0")
local zstd = optional("libzstd.so.1")
local brotlidec = optional("libbrotlidec.so.1")
local brotlienc = optional("libbrotlienc.so.1")

-- zstd: the largest window a frame may ask for (2^23 = 8 MiB, what zstd's levels up to 19 and
-- Go's encoder use); a frame that asks for more is refused rather than allocated.
local ZSTD_D_WINDOWLOGMAX = 100
local ZSTD_WINDOWLOG_MAX = 23
local ZSTD_RESET_SESSION = 1
local BROTLI_SUCCESS, BROTLI_NEEDS_MORE_OUTPUT = 1, 3

--- Whether `format` can be read on this host (zstd and br need their libraries).
function inflate.available(format)
  if format == "zstd" then return zstd ~= nil end
  if format == "br" then return brotlidec ~= nil and brotlienc ~= nil end
  return WBITS[format] ~= nil
end

-- An output buffer that grows by doubling up to `cap` bytes: {buf, size, used}.
local function new_output(cap, hint)
  local size = math.min(cap, math.max(65536, hint))
  return { buf = ffi.new("uint8_t[?]", size), size = size, used = 0, cap = cap }
end

-- Makes room in `out` for more output; false when it is full at its cap.
local function grow(out)
  if out.used < out.size then return true end
  if out.size >= out.cap then return false end
  local size = math.min(out.cap, out.size * 2)
  local buf = ffi.new("uint8_t[?]", size)
  ffi.copy(buf, out.buf, out.used)
  out.buf, out.size = buf, size
  return true
end

-- One inflate stream per worker, reset between bodies (initialising one costs more than a small body).
local zinflater

local function zlib_decode(data, format, out)
  local strm = zinflater
  if not strm or z.inflateReset2(strm, WBITS[format]) ~= Z_OK then
    strm = ffi.new("phed_z_stream")
    if z.inflateInit2_(strm, WBITS[format], ZVERSION, ZSTREAM_SIZE) ~= Z_OK then return nil, "inflateInit2 failed" end
    zinflater = ffi.gc(strm, z.inflateEnd)
  end
  local input = ffi.cast("const unsigned char *", data)
  local n = #data
  strm.next_in, strm.avail_in = input, n
  while true do
    if not grow(out) then strm.next_in = nil; return nil, "too_large" end
    strm.next_out, strm.avail_out = out.buf + out.used, out.size - out.used
    local before = out.size - out.used
    local rc = z.inflate(strm, Z_NO_FLUSH)
    out.used = out.used + (before - strm.avail_out)
    if rc == Z_STREAM_END then
      local pos = n - strm.avail_in
      -- another gzip member follows: read it too; anything else after the stream is ignored
      if format ~= "gzip" or n - pos < 2 or data:byte(pos + 1) ~= 0x1f or data:byte(pos + 2) ~= 0x8b then break end
      z.inflateReset2(strm, WBITS.gzip)
      strm.next_in, strm.avail_in = input + pos, n - pos
    elseif rc == Z_BUF_ERROR and strm.avail_in == 0 then
      strm.next_in = nil
      return nil, "truncated " .. format .. " stream"
    elseif rc ~= Z_OK and rc ~= Z_BUF_ERROR then
      strm.next_in = nil
      return nil, "not a " .. format .. " stream"
    end
  end
  strm.next_in = nil -- the stream outlives `data`
  return true
end

local zstd_dctx

local function zstd_decode(data, out)
  local dctx = zstd_dctx
  if not dctx then
    dctx = zstd.ZSTD_createDCtx()
    if dctx == nil then return nil, "ZSTD_createDCtx failed" end
    zstd_dctx = ffi.gc(dctx, zstd.ZSTD_freeDCtx)
  end
  zstd.ZSTD_DCtx_reset(dctx, ZSTD_RESET_SESSION)
  zstd.ZSTD_DCtx_setParameter(dctx, ZSTD_D_WINDOWLOGMAX, ZSTD_WINDOWLOG_MAX)
  local input = ffi.new("phed_zstd_in", { data, #data, 0 })
  local output = ffi.new("phed_zstd_out")
  local last = 0
  while input.pos < input.size do
    if not grow(out) then return nil, "too_large" end
    output.dst, output.size, output.pos = out.buf + out.used, out.size - out.used, 0
    last = zstd.ZSTD_decompressStream(dctx, output, input)
    if zstd.ZSTD_isError(last) ~= 0 then return nil, "zstd: " .. ffi.string(zstd.ZSTD_getErrorName(last)) end
    out.used = out.used + tonumber(output.pos)
  end
  -- the input is consumed; flush what the decoder still holds
  while last ~= 0 do
    if not grow(out) then return nil, "too_large" end
    output.dst, output.size, output.pos = out.buf + out.used, out.size - out.used, 0
    last = zstd.ZSTD_decompressStream(dctx, output, input)
    if zstd.ZSTD_isError(last) ~= 0 then return nil, "zstd: " .. ffi.string(zstd.ZSTD_getErrorName(last)) end
    out.used = out.used + tonumber(output.pos)
    if output.pos == 0 and last ~= 0 then return nil, "truncated zstd frame" end
  end
  return true
end

local function brotli_decode(data, out)
  local state = brotlidec.BrotliDecoderCreateInstance(nil, nil, nil)
  if state == nil then return nil, "BrotliDecoderCreateInstance failed" end
  state = ffi.gc(state, brotlidec.BrotliDecoderDestroyInstance)
  local avail_in = ffi.new("size_t[1]", #data)
  local next_in = ffi.new("const uint8_t *[1]", ffi.cast("const uint8_t *", data))
  local avail_out = ffi.new("size_t[1]")
  local next_out = ffi.new("uint8_t *[1]")
  local ok, err = true, nil
  while true do
    if not grow(out) then ok, err = nil, "too_large"; break end
    avail_out[0], next_out[0] = out.size - out.used, out.buf + out.used
    local before = out.size - out.used
    local rc = brotlidec.BrotliDecoderDecompressStream(state, avail_in, next_in, avail_out, next_out, nil)
    out.used = out.used + (before - tonumber(avail_out[0]))
    if rc == BROTLI_SUCCESS then break end
    if rc ~= BROTLI_NEEDS_MORE_OUTPUT then
      ok, err = nil, rc == 2 and "truncated br stream"
        or "br: " .. ffi.string(brotlidec.BrotliDecoderErrorString(brotlidec.BrotliDecoderGetErrorCode(state)))
      break
    end
  end
  brotlidec.BrotliDecoderDestroyInstance(ffi.gc(state, nil))
  return ok, err
end

-- libdeflate: one decompressor and one compressor per worker, and the output buffer it keeps.
local KEEP = 256 * 1024
local LIBDEFLATE_SUCCESS, LIBDEFLATE_INSUFFICIENT_SPACE = 0, 3
local DECOMPRESS = deflate and { gzip = deflate.libdeflate_gzip_decompress_ex,
  zlib = deflate.libdeflate_zlib_decompress_ex, raw = deflate.libdeflate_deflate_decompress_ex }
local COMPRESS = deflate and { gzip = deflate.libdeflate_gzip_compress, zlib = deflate.libdeflate_zlib_compress,
  raw = deflate.libdeflate_deflate_compress }
local decompressor, compressor, kept
local in_used, out_used = ffi.new("size_t[1]"), ffi.new("size_t[1]")
local PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, MAP_FAILED = 3, 0x22, ffi.cast("void *", -1)

--- Which library inflates and deflates gzip, zlib and raw deflate here: "libdeflate" or "zlib".
inflate.deflate_library = deflate and "libdeflate" or "zlib"

-- `size` bytes of fresh pages for one body, unmapped by the caller (nil when none are left).
local function pages(size)
  local p = ffi.C.mmap(nil, size, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0)
  if p == MAP_FAILED then return nil end
  return ffi.cast("uint8_t *", p)
end

-- Inflates `data` into buf[0, size): the number of bytes, or nil and why ("too_large": it does not fit).
local function libdeflate_into(format, data, buf, size)
  local run, input = DECOMPRESS[format], ffi.cast("const uint8_t *", data)
  local n, pos, used = #data, 0, 0
  while true do
    local rc = run(decompressor, input + pos, n - pos, buf + used, size - used, in_used, out_used)
    if rc == LIBDEFLATE_INSUFFICIENT_SPACE then return nil, "too_large" end
    if rc ~= LIBDEFLATE_SUCCESS then return nil, "not a " .. format .. " stream, or a truncated one" end
    pos, used = pos + tonumber(in_used[0]), used + tonumber(out_used[0])
    -- another gzip member follows: read it too; anything else after the stream is ignored
    if format ~= "gzip" or n - pos < 2 or data:byte(pos + 1) ~= 0x1f or data:byte(pos + 2) ~= 0x8b then return used end
  end
end

-- The worker's libdeflate objects, made at their first use; false when memory runs out.
local function libdeflate_ready()
  if kept then return true end
  local d, c = deflate.libdeflate_alloc_decompressor(), deflate.libdeflate_alloc_compressor(1) -- 1: the fastest
  if d == nil or c == nil then
    if d ~= nil then deflate.libdeflate_free_decompressor(d) end
    if c ~= nil then deflate.libdeflate_free_compressor(c) end
    return false
  end
  decompressor = ffi.gc(d, deflate.libdeflate_free_decompressor)
  compressor = ffi.gc(c, deflate.libdeflate_free_compressor)
  kept = ffi.new("uint8_t[?]", KEEP)
  return true
end

-- libdeflate's decode: into the kept buffer, or into pages of `limit` bytes when it does not fit.
local function libdeflate_decode(format, data, limit)
  local used, err = libdeflate_into(format, data, kept, math.min(KEEP, limit))
  if used then return ffi.string(kept, used) end
  if err ~= "too_large" or limit <= KEEP then return nil, err end
  local big = pages(limit)
  if not big then return nil, "no memory for " .. limit .. " bytes" end
  used, err = libdeflate_into(format, data, big, limit)
  local text = used and ffi.string(big, used)
  ffi.C.munmap(big, limit)
  return text, err
end

local function libdeflate_encode(format, text)
  local bound = tonumber(deflate.libdeflate_gzip_compress_bound(compressor, #text)) -- the largest of the three
  local buf = bound <= KEEP and kept or pages(bound)
  assert(buf, "no memory to compress")
  local n = tonumber(COMPRESS[format](compressor, text, #text, buf, bound))
  local out = ffi.string(buf, n)
  if buf ~= kept then ffi.C.munmap(buf, bound) end
  assert(n > 0, "libdeflate could not compress")
  return out
end

--- Decompresses `data` of `format` ("gzip", "zlib", "raw", "zstd", "br") into at most `limit`
-- bytes. Returns the text, or nil and "too_large" when it would inflate past `limit`, or nil and
-- why it is not readable (not that format, truncated, the library missing).
function inflate.decode(format, data, limit)
  if not inflate.available(format) then return nil, "no library for " .. tostring(format) end
  if DECOMPRESS and DECOMPRESS[format] and libdeflate_ready() then return libdeflate_decode(format, data, limit) end
  local out = new_output(limit + 1, #data * 4)
  local ok, err
  if format == "zstd" then ok, err = zstd_decode(data, out)
  elseif format == "br" then ok, err = brotli_decode(data, out)
  else ok, err = zlib_decode(data, format, out) end
  if not ok then return nil, err end
  if out.used > limit then return nil, "too_large" end
  return ffi.string(out.buf, out.used)
end

local zdeflaters = {}

--- Compresses `text` as `format` (as decode names them), quickly (the request waits for it).
function inflate.encode(format, text)
  if COMPRESS and COMPRESS[format] and libdeflate_ready() then return libdeflate_encode(format, text) end
  if format == "zstd" then
    local bound = tonumber(zstd.ZSTD_compressBound(#text))
    local buf = ffi.new("uint8_t[?]", bound)
    local n = zstd.ZSTD_compress(buf, bound, text, #text, 3)
    assert(zstd.ZSTD_isError(n) == 0, "ZSTD_compress failed")
    return ffi.string(buf, n)
  end
  if format == "br" then
    local size = ffi.new("size_t[1]", tonumber(brotlienc.BrotliEncoderMaxCompressedSize(#text)) + 64)
    local buf = ffi.new("uint8_t[?]", size[0])
    -- quality 4: fast; lgwin 22 (brotli's default window); mode 1: text
    assert(brotlienc.BrotliEncoderCompress(4, 22, 1, #text, ffi.cast("const uint8_t *", text), size, buf) == 1,
      "BrotliEncoderCompress failed")
    return ffi.string(buf, size[0])
  end
  local strm = zdeflaters[format]
  if not strm or z.deflateReset(strm) ~= Z_OK then
    strm = ffi.new("phed_z_stream")
    -- level 1 (the fastest), deflate, the format's window bits, memLevel 8, default strategy
    assert(z.deflateInit2_(strm, 1, 8, WBITS[format], 8, 0, ZVERSION, ZSTREAM_SIZE) == Z_OK, "deflateInit2 failed")
    strm = ffi.gc(strm, z.deflateEnd)
    zdeflaters[format] = strm
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

return inflate
