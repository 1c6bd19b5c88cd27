# The build of the rock posthog-event-definitions-simdjson (rockspec/posthog-event-definitions-
# simdjson-*.rockspec): LuaRocks runs it with its own CC, CFLAGS, LIBFLAG and directories, and
# it compiles every time (per Lua: its headers are in the name of the directory), since nothing
# here knows what flags made an earlier build. -fvisibility=hidden keeps every symbol but
# luaopen_* inside the module: the C files hide their own with pragmas, but the functions that
# simdjson's header defines inline, and that the C++ compiler keeps out of line, only a flag can.
OUT := build/rock-simdjson/$(notdir $(LUA_INCDIR))

all:
	mkdir -p $(OUT)
	$(CXX) $(CFLAGS) -fvisibility=hidden -std=c++17 -DSIMDJSON_THREADS_ENABLED=1 -Isrc -I$(SIMDJSON_INCDIR) \
	  -c -o $(OUT)/json_simd.o src/simdjson/json_simd.cpp
	$(CC) $(CFLAGS) -fvisibility=hidden -Isrc -I$(LUA_INCDIR) -c -o $(OUT)/module.o src/simdjson/module.c
	$(CC) $(LIBFLAG) -o $(OUT)/simdjson.so $(OUT)/module.o $(OUT)/json_simd.o -L$(SIMDJSON_LIBDIR) -lsimdjson -lstdc++

install:
	mkdir -p $(INST_LIBDIR)/posthog/event_definitions
	cp $(OUT)/simdjson.so $(INST_LIBDIR)/posthog/event_definitions/simdjson.so

.PHONY: all install
