# posthog-event-definitions — build, test and tooling.
# `make demo` and `make test` work on a bare Debian 12: both install what they lack (make deps).

LUAS        ?= 5.4 5.1 jit
BUILD       := build
CC          ?= cc
CFLAGS      ?= -O2 -g
WARN        := -Wall -Wextra -Wno-unused-parameter -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
PIC         := -fPIC -fvisibility=hidden
DEP_CFLAGS   = $(shell pkg-config --cflags libcurl yajl 2>/dev/null)
DEP_LIBS     = $(shell pkg-config --libs libcurl yajl 2>/dev/null || echo -lcurl -lyajl)
SOURCES     := $(wildcard src/*.c)
HEADERS     := $(wildcard src/*.h)

lua_inc_5.4 := /usr/include/lua5.4
lua_inc_5.1 := /usr/include/lua5.1
lua_inc_jit := /usr/include/luajit-2.1
lua_bin_5.4 := lua5.4
lua_bin_5.1 := lua5.1
lua_bin_jit := luajit

DEB_PACKAGES := lua5.4 liblua5.4-dev lua5.1 liblua5.1-0-dev luajit2 libluajit2-5.1-dev lua-cjson \
  lua-busted luarocks libcurl4-openssl-dev libyajl-dev pkg-config nginx libnginx-mod-http-lua \
  lua-resty-core lua-check lua-ldoc lua-argparse lua-socket valgrind clang curl ca-certificates openssl

core_so = $(BUILD)/$(1)/posthog/event_definitions/core.so
CORES   := $(foreach v,$(LUAS),$(call core_so,$(v)))

.PHONY: all deps test demo lint valgrind bench install fake-server clean
all: $(CORES)

define core_rule
$(call core_so,$(1)): $(SOURCES) $(HEADERS) Makefile
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(WARN) $$(PIC) -I$$(lua_inc_$(1)) $$(DEP_CFLAGS) -shared -Wl,-z,nodelete -o $$@ $$(SOURCES) $$(DEP_LIBS)
endef
$(foreach v,$(LUAS),$(eval $(call core_rule,$(v))))

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

## lint: luacheck over every Lua file of the project.
lint: deps
	luacheck -q .

## demo: start the fake server with sample data and run examples/demo.lua against it.
demo: deps
	@$(MAKE) --no-print-directory all
	@examples/run-demo

## bench: benchmarks against peers, side by side in one run (see BENCHMARKS.md).
bench: deps
	@$(MAKE) --no-print-directory all
	@bench/run

## fake-server: run the fake PostHog server in the foreground on a free loopback port.
fake-server: deps
	@spec/fake/start --foreground

## install: install the rock for Lua 5.4 and 5.1 with LuaRocks, offline (Debian keeps curl.h and
## the libraries under the multiarch directories, which LuaRocks does not search by itself).
MULTIARCH    = $(shell $(CC) -print-multiarch)
ROCK_DIRS    = CURL_INCDIR=/usr/include/$(MULTIARCH) CURL_LIBDIR=/usr/lib/$(MULTIARCH) \
               YAJL_LIBDIR=/usr/lib/$(MULTIARCH)
install: deps
	luarocks --lua-version=5.4 make --deps-mode=none rockspec/posthog-event-definitions-scm-1.rockspec $(ROCK_DIRS)
	luarocks --lua-version=5.1 make --deps-mode=none rockspec/posthog-event-definitions-scm-1.rockspec $(ROCK_DIRS)

clean:
	rm -rf $(BUILD)
