# posthog-event-definitions — build, test and tooling.
# `make demo` and `make test` work on a bare Debian 12: both install what they lack (make deps).

LUAS        ?= 5.4 5.1 jit
BUILD       := build
CC          ?= cc
CFLAGS      ?= -O2 -g
WARN        := -Wall -Wextra -Wno-unused-parameter -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
PIC         := -fPIC -fvisibility=hidden
YAJL_CFLAGS  = $(shell pkg-config --cflags yajl 2>/dev/null)
YAJL_LIBS    = $(shell pkg-config --libs yajl 2>/dev/null || echo -lyajl)
CURL_CFLAGS  = $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS    = $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
SIMDJSON_CFLAGS = $(shell pkg-config --cflags simdjson 2>/dev/null || echo -DSIMDJSON_THREADS_ENABLED=1)
SIMDJSON_LIBS   = $(shell pkg-config --libs simdjson 2>/dev/null || echo -lsimdjson)
HIREDIS_CFLAGS = $(shell pkg-config --cflags hiredis 2>/dev/null)
HIREDIS_LIBS   = $(shell pkg-config --libs hiredis 2>/dev/null || echo -lhiredis)
HEADERS     := $(wildcard src/*.h src/*/*.h)
# The sans-IO core links yajl only; the libcurl driver links libcurl only. Both compile the
# buffer and the header normalisation (hidden symbols, so each .so has its own copy). The
# simdjson module (the decoder's faster parser, with its one C++ file) links simdjson only.
CORE_SOURCES := src/core.c src/clock.c src/file.c src/sha256.c $(wildcard src/mem/*.c src/codec/*.c src/http/*.c)
SIMD_SOURCES := $(wildcard src/simdjson/*.c)
SIMD_CXX     := src/simdjson/json_simd.cpp
CXXWARN      := -Wall -Wextra -std=c++17
CURL_SOURCES := $(wildcard src/curl/*.c) src/mem/buffer.c src/http/head.c
REDIS_SOURCES := $(wildcard src/redis/*.c)
# The edge (its own rock, posthog-event-definitions-edge): its Lua under edge/lua, its C module
# (the capture body scanner) under edge/src, linking yajl only. It compiles none of src/, and
# includes header-only parts of it (static inline: nothing exported): the text checks, compat.h.
EDGE_SOURCES := $(wildcard edge/src/*.c)
EDGE_HEADERS := $(wildcard edge/src/*.h) src/compat.h src/codec/utf8.h src/codec/json_escape.h
# Its optional faster scanner (rock posthog-event-definitions-edge-simdjson): one C++ file over
# simdjson's DOM parser and structural index, built without exceptions, and the C module that
# registers it.
EDGE_SIMD_SOURCES := $(wildcard edge/src/simdjson/*.c)
EDGE_SIMD_CXX     := edge/src/simdjson/scan_simd.cpp
EDGE_SIMD_CXXFLAGS := -fno-exceptions -fno-rtti -DSIMDJSON_EXCEPTIONS=0

lua_inc_5.4 := /usr/include/lua5.4
lua_inc_5.1 := /usr/include/lua5.1
lua_inc_jit := /usr/include/luajit-2.1
lua_bin_5.4 := lua5.4
lua_bin_5.1 := lua5.1
lua_bin_jit := luajit

DEB_PACKAGES := lua5.4 liblua5.4-dev lua5.1 liblua5.1-0-dev luajit2 libluajit2-5.1-dev lua-cjson \
  lua-busted luarocks libcurl4-openssl-dev libyajl-dev libsimdjson-dev g++ libhiredis-dev pkg-config nginx libnginx-mod-http-lua \
  lua-resty-core lua-check lua-ldoc lua-markdown lua-argparse lua-socket valgrind clang curl ca-certificates openssl \
  redis-server python3 libzstd1 libbrotli1 zstd brotli libdeflate0

core_so    = $(BUILD)/$(1)/posthog/event_definitions/core.so
libcurl_so = $(BUILD)/$(1)/posthog/event_definitions/transport/libcurl.so
hiredis_so = $(BUILD)/$(1)/posthog/event_definitions/hiredis.so
simd_so    = $(BUILD)/$(1)/posthog/event_definitions/simdjson.so
faults_so  = $(BUILD)/$(1)/alloc_faults.so
edge_so    = $(BUILD)/$(1)/posthog/event_definitions/edge/core.so
edge_simd_so = $(BUILD)/$(1)/posthog/event_definitions/edge/simdjson.so
MODULES := $(foreach v,$(LUAS),$(call core_so,$(v)) $(call libcurl_so,$(v)) $(call hiredis_so,$(v)) $(call simd_so,$(v)) \
  $(call faults_so,$(v)) $(call edge_so,$(v)) $(call edge_simd_so,$(v)))

.PHONY: all deps test test-installed demo edge-demo lint valgrind sanitize fuzz bench install check-install fake-server doc check-links clean
all: $(MODULES)

# -z nodelete: the modules stay mapped after lua_close (other states, collectors that run late).
define module_rules
$(call core_so,$(1)): $(CORE_SOURCES) $(HEADERS) Makefile
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(WARN) $$(PIC) -Isrc -I$$(lua_inc_$(1)) $$(YAJL_CFLAGS) -shared -Wl,-z,nodelete -o $$@ \
	  $$(CORE_SOURCES) $$(YAJL_LIBS)
$(BUILD)/$(1)/obj/json_simd.o: $(SIMD_CXX) $(HEADERS) Makefile
	@mkdir -p $$(dir $$@)
	$$(CXX) $$(CFLAGS) $$(CXXWARN) $$(PIC) -Isrc $$(SIMDJSON_CFLAGS) -c -o $$@ $(SIMD_CXX)
$(call simd_so,$(1)): $(SIMD_SOURCES) $(BUILD)/$(1)/obj/json_simd.o $(HEADERS) Makefile
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(WARN) $$(PIC) -Isrc -I$$(lua_inc_$(1)) -shared -Wl,-z,nodelete -o $$@ \
	  $(SIMD_SOURCES) $(BUILD)/$(1)/obj/json_simd.o $$(SIMDJSON_LIBS) -lstdc++
$(call libcurl_so,$(1)): $(CURL_SOURCES) $(HEADERS) Makefile
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(WARN) $$(PIC) -Isrc -I$$(lua_inc_$(1)) $$(CURL_CFLAGS) -shared -Wl,-z,nodelete -o $$@ \
	  $$(CURL_SOURCES) $$(CURL_LIBS)
$(call hiredis_so,$(1)): $(REDIS_SOURCES) src/compat.h Makefile
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(WARN) $$(PIC) -Isrc -I$$(lua_inc_$(1)) $$(HIREDIS_CFLAGS) -shared -Wl,-z,nodelete -o $$@ \
	  $$(REDIS_SOURCES) $$(HIREDIS_LIBS)
$(call edge_so,$(1)): $(EDGE_SOURCES) $(EDGE_HEADERS) Makefile
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(WARN) $$(PIC) -Iedge/src -Isrc -I$$(lua_inc_$(1)) $$(YAJL_CFLAGS) -shared -Wl,-z,nodelete -o $$@ \
	  $$(EDGE_SOURCES) $$(YAJL_LIBS)
$(BUILD)/$(1)/obj/edge_scan_simd.o: $(EDGE_SIMD_CXX) $(EDGE_HEADERS) Makefile
	@mkdir -p $$(dir $$@)
	$$(CXX) $$(CFLAGS) $$(CXXWARN) $$(EDGE_SIMD_CXXFLAGS) $$(PIC) -Iedge/src $$(SIMDJSON_CFLAGS) -c -o $$@ $(EDGE_SIMD_CXX)
$(call edge_simd_so,$(1)): $(EDGE_SIMD_SOURCES) $(BUILD)/$(1)/obj/edge_scan_simd.o $(EDGE_HEADERS) Makefile
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(WARN) $$(PIC) -Iedge/src -I$$(lua_inc_$(1)) -shared -Wl,-z,nodelete -o $$@ \
	  $(EDGE_SIMD_SOURCES) $(BUILD)/$(1)/obj/edge_scan_simd.o $$(SIMDJSON_LIBS) -lstdc++
# test only (spec/04-alloc_faults_spec.lua), never installed
$(call faults_so,$(1)): spec/support/alloc_faults.c src/compat.h Makefile
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(WARN) $$(PIC) -Isrc -I$$(lua_inc_$(1)) -shared -Wl,-z,nodelete -o $$@ $$<
endef
$(foreach v,$(LUAS),$(eval $(call module_rules,$(v))))

## deps: install the Debian packages that are missing (as root), or print the command to run.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "make deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "make deps: run as root: apt-get install $$missing" >&2; exit 1; fi

## test: every spec on Lua 5.4, 5.1 and LuaJIT against the fake server; last line "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory all
	@spec/run

## valgrind: the specs that do not depend on timing, on Lua 5.4, under valgrind memcheck.
valgrind: deps
	@$(MAKE) --no-print-directory all
	@LUAS=5.4 VALGRIND=1 spec/run --exclude-tags=timing

## sanitize: both C modules (and alloc_faults) built with clang's AddressSanitizer and
## UndefinedBehaviorSanitizer in build/asan/5.4, and every Lua 5.4 spec (the fault matrix
## included) run over them; any sanitizer report fails the run. The runtime is preloaded into
## the interpreter only: spec/support/preload_shield.c keeps it from nginx, shells and curl.
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
sanitize: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan LUAS=5.4 CC=clang CXX=clang++ CFLAGS="-O1 -g $(SANITIZE_FLAGS)" all
	@$(CC) -O2 -fPIC -shared -o $(BUILD)/asan/preload_shield.so spec/support/preload_shield.c
	@LUAS=5.4 SANITIZE=1 spec/run

## fuzz: libFuzzer harnesses over the core (clang -fsanitize=fuzzer,address,undefined): for each
## fuzz/<name>.lua, fuzz/harness.c runs that script's checks in a Lua 5.4 state with the core
## compiled in. Each runs FUZZ_SECONDS (default 10) from its seeds in fuzz/corpus/<name> with a
## dictionary (fuzz/*.dict); new inputs go to build/fuzz/corpus/<name>, a crash to
## build/fuzz/crash-<name>-*. Prints each harness's executions; any crash fails.
FUZZ_SECONDS  ?= 10
FUZZ_HARNESSES := decode response encode request retry_after tags parse_head edge_scan edge_simd
FUZZ_FLAGS    := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g
FUZZ_OBJECTS  := $(patsubst src/%.c,$(BUILD)/fuzz/obj/%.o,$(CORE_SOURCES) $(SIMD_SOURCES)) $(BUILD)/fuzz/obj/simdjson/json_simd.o \
  $(patsubst edge/src/%.c,$(BUILD)/fuzz/obj/edge/%.o,$(EDGE_SOURCES) $(EDGE_SIMD_SOURCES)) \
  $(patsubst edge/src/%.cpp,$(BUILD)/fuzz/obj/edge/%.o,$(EDGE_SIMD_CXX))
.SECONDARY: $(FUZZ_OBJECTS)
$(BUILD)/fuzz/obj/%.o: src/%.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) $(WARN) -Isrc -I$(lua_inc_5.4) $(YAJL_CFLAGS) -c -o $@ $<
$(BUILD)/fuzz/obj/edge/%.o: edge/src/%.c $(EDGE_HEADERS) Makefile
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) $(WARN) -Iedge/src -Isrc -I$(lua_inc_5.4) $(YAJL_CFLAGS) -c -o $@ $<
$(BUILD)/fuzz/obj/edge/%.o: edge/src/%.cpp $(EDGE_HEADERS) Makefile
	@mkdir -p $(dir $@)
	clang++ $(FUZZ_FLAGS) $(CXXWARN) $(EDGE_SIMD_CXXFLAGS) -Iedge/src $(SIMDJSON_CFLAGS) -c -o $@ $<
$(BUILD)/fuzz/obj/%.o: src/%.cpp $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	clang++ $(FUZZ_FLAGS) $(CXXWARN) -Isrc $(SIMDJSON_CFLAGS) -c -o $@ $<
$(BUILD)/fuzz/bin/%: fuzz/harness.c fuzz/%.lua $(FUZZ_OBJECTS) Makefile
	@mkdir -p $(dir $@)
	clang++ $(FUZZ_FLAGS) $(WARN) -Isrc -I$(lua_inc_5.4) $(YAJL_CFLAGS) -DFUZZ_SCRIPT='"fuzz/$*.lua"' -o $@ \
	  -x c fuzz/harness.c -x none $(FUZZ_OBJECTS) -llua5.4 $(YAJL_LIBS) $(SIMDJSON_LIBS) -lm
fuzz: deps $(foreach h,$(FUZZ_HARNESSES),$(BUILD)/fuzz/bin/$(h))
	@status=0; for h in $(FUZZ_HARNESSES); do \
	  case $$h in retry_after|parse_head) dict=fuzz/http.dict ;; tags) dict=fuzz/tags.dict ;; *) dict=fuzz/json.dict ;; esac; \
	  mkdir -p $(BUILD)/fuzz/corpus/$$h; log=$(BUILD)/fuzz/$$h.log; \
	  if $(BUILD)/fuzz/bin/$$h -max_total_time=$(FUZZ_SECONDS) -timeout=10 -dict=$$dict \
	       -artifact_prefix=$(BUILD)/fuzz/crash-$$h- $(BUILD)/fuzz/corpus/$$h fuzz/corpus/$$h >$$log 2>&1; then \
	    echo "fuzz: $$h: $$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' $$log) runs in $(FUZZ_SECONDS) s, no crash"; \
	  else tail -40 $$log; echo "fuzz: $$h: FAILED (log: $$log)"; status=1; fi; \
	done; exit $$status

## lint: luacheck over every Lua file of the project.
lint: deps
	luacheck -q .

## demo: start the fake server with sample data and run examples/demo.lua against it.
demo: deps
	@$(MAKE) --no-print-directory all
	@examples/run-demo

## edge-demo: the capture proxy of examples/nginx/edge.conf in front of a fake PostHog, sent what
## posthog-js and posthog-node send; shows what went on, what went to the quarantine, the metrics.
edge-demo: deps
	@$(MAKE) --no-print-directory all
	@examples/run-edge-demo

## bench: benchmarks against peers, side by side in one run (see BENCHMARKS.md). BENCH_PACKAGES:
## what only the benchmarks need (the listing's peers and wrk), installed as deps installs.
## The edge's floor (bench/edge_floor.cpp) links libdeflate, zlib and simdjson.
BENCH_PACKAGES := lua-curl wrk python3 libdeflate-dev zlib1g-dev
bench: deps
	@$(MAKE) --no-print-directory DEB_PACKAGES="$(BENCH_PACKAGES)" deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/edge_floor
	@bench/run
$(BUILD)/bench/edge_floor: bench/edge_floor.cpp Makefile
	@mkdir -p $(dir $@)
	$(CXX) -O2 $(CXXWARN) $(SIMDJSON_CFLAGS) -o $@ $< $(SIMDJSON_LIBS) -ldeflate -lz

## fake-server: the fake PostHog server with SEED sample definitions (default 200) on a free
## loopback port, in the foreground (Ctrl-C stops it); prints the export lines that point
## posthog-evdefs and the library at it.
SEED ?= 200
fake-server: deps
	@dir=$$(mktemp -d) && chmod 755 "$$dir" && url=$$(spec/fake/start --dir "$$dir") || exit 1; \
	stop() { spec/fake/stop "$$dir" >/dev/null 2>&1; rm -rf "$$dir"; }; \
	trap 'stop; exit 0' INT TERM; \
	curl -fsS -X POST -H 'content-type: application/json' -d '{"seed": $(SEED)}' "$$url/__fake/reset" \
	  >/dev/null || { stop; exit 1; }; \
	echo "# A fake PostHog at $$url with $(SEED) sample definitions in project 1. In another shell:"; \
	echo "export POSTHOG_HOST=$$url"; \
	echo "export POSTHOG_PERSONAL_API_KEY=phx_fake_all"; \
	echo "export POSTHOG_PROJECT_ID=1"; \
	echo "# then, e.g.: bin/posthog-evdefs list (Ctrl-C here stops the server)"; \
	while kill -0 "$$(cat "$$dir/nginx.pid")" 2>/dev/null; do sleep 1; done; stop

## doc: the HTML reference of the public modules (LDoc, config.ld) in build/doc; warnings fail.
DOC_SOURCES := lua/posthog/event_definitions/init.lua lua/posthog/event_definitions/schema/init.lua \
  lua/posthog/event_definitions/pacing_redis.lua edge/lua/posthog/event_definitions/edge.lua
doc: deps
	@rm -rf $(BUILD)/doc $(BUILD)/doc-src
	@for f in $(DOC_SOURCES); do mkdir -p $(BUILD)/doc-src/$$(dirname $$f); \
	  sed 's/^-\{8,\}$$//' $$f > $(BUILD)/doc-src/$$f; done
	@ldoc --fatalwarnings --testing . >$(BUILD)/doc-src/ldoc.log 2>&1; status=$$?; \
	if [ $$status -ne 0 ] || grep -qv '^reading configuration from\|^output written to' $(BUILD)/doc-src/ldoc.log; then \
	  cat $(BUILD)/doc-src/ldoc.log >&2; echo "make doc: LDoc reported problems (above)" >&2; exit 1; fi
	@echo "make doc: $(BUILD)/doc/index.html"

## install: install the rocks for Lua 5.1 and 5.4 with LuaRocks, offline, with no variables (the
## rockspecs find libcurl, yajl and simdjson themselves, Debian's multiarch directories
## included): the client, then its simdjson parser, the edge and its simdjson scanner. Lua 5.4 goes last, so the posthog-evdefs
## that stays installed is the Lua 5.4 one.
CLIENT_ROCK   := rockspec/posthog-event-definitions-scm-1.rockspec
SIMDJSON_ROCK := rockspec/posthog-event-definitions-simdjson-scm-1.rockspec
EDGE_ROCK     := rockspec/posthog-event-definitions-edge-scm-1.rockspec
EDGE_SIMDJSON_ROCK := rockspec/posthog-event-definitions-edge-simdjson-scm-1.rockspec
install: deps
	for v in 5.1 5.4; do for r in $(CLIENT_ROCK) $(SIMDJSON_ROCK) $(EDGE_ROCK) $(EDGE_SIMDJSON_ROCK); do \
	  luarocks --lua-version=$$v make --deps-mode=none $$r || exit 1; done; done

## test-installed: the Lua 5.4 specs against the rocks that a plain `luarocks make` installs into
## $(BUILD)/installed (the client, then its simdjson parser, the edge and its simdjson scanner,
## whose dependencies that tree satisfies), not against build/: LUA_PATH and LUA_CPATH point at that tree (and at the
## test-only alloc_faults module beside it), and the specs run its posthog-evdefs. nginx and the
## fake server still load build/jit.
INSTALLED := $(BUILD)/installed
INSTALL_LOG := $(INSTALLED)/install.log
test-installed: deps
	@$(MAKE) --no-print-directory all
	@rm -rf $(INSTALLED) && mkdir -p $(INSTALLED)/test && cp $(call faults_so,5.4) $(INSTALLED)/test/
	@env -u LUA_PATH -u LUA_CPATH luarocks --lua-version=5.4 make --tree $(INSTALLED) --deps-mode=none \
	  $(CLIENT_ROCK) >$(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@for rock in $(SIMDJSON_ROCK) $(EDGE_ROCK) $(EDGE_SIMDJSON_ROCK); do env -u LUA_PATH -u LUA_CPATH luarocks --lua-version=5.4 make \
	  --tree $(INSTALLED) --deps-mode=one $$rock >$(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }; done
	@LUAS=5.4 INSTALLED=$(INSTALLED) spec/run

## check-install: the rocks installed as users install them (plain luarocks make for 5.4 and 5.1,
## the client alone, as on a machine without simdjson, then its simdjson parser; lint; packed
## source rocks installed offline) into fresh trees, and run from there; every installed C module
## exports its luaopen_* function alone.
check-install: deps
	@rockspec/check-install

## check-links: the sans-IO core must not link libcurl nor libstdc++ (nginx workers load it), nor
## the driver yajl.
check-links: all
	@for v in $(LUAS); do \
	  if ldd $(call core_so,$$v) | grep -q 'libcurl\|libstdc\|libsimdjson'; then echo "check-links: $(call core_so,$$v) links libcurl or C++" >&2; exit 1; fi; \
	  if ldd $(call libcurl_so,$$v) | grep -q libyajl; then echo "check-links: $(call libcurl_so,$$v) links yajl" >&2; exit 1; fi; \
	done; echo "check-links: the core links no libcurl nor C++, the driver no yajl"

clean:
	rm -rf $(BUILD)
