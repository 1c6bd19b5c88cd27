# The build of the rock posthog-event-definitions-edge-simdjson (rockspec/posthog-event-
# definitions-edge-simdjson-*.rockspec): LuaRocks runs it with its own CC, CFLAGS, LIBFLAG and
# directories, and it compiles every time (per Lua: its headers are in the name of the
# directory). The C++ file is built without exceptions (scanner.h: it calls no Lua and throws
# nothing); -fvisibility=hidden keeps every symbol but luaopen_* inside the module.
OUT := build/rock-edge-simdjson/$(notdir $(LUA_INCDIR))

all:
	mkdir -p $(OUT)
	$(CXX) $(CFLAGS) -fvisibility=hidden -std=c++17 -fno-exceptions -fno-rtti -DSIMDJSON_EXCEPTIONS=0 \
	  -DSIMDJSON_THREADS_ENABLED=1 -Iedge/src -I$(SIMDJSON_INCDIR) -c -o $(OUT)/scan_simd.o edge/src/simdjson/scan_simd.cpp
	$(CC) $(CFLAGS) -fvisibility=hidden -Iedge/src -I$(LUA_INCDIR) -c -o $(OUT)/module.o edge/src/simdjson/module.c
	$(CC) $(LIBFLAG) -o $(OUT)/simdjson.so $(OUT)/module.o $(OUT)/scan_simd.o -L$(SIMDJSON_LIBDIR) -lsimdjson -lstdc++

install:
	mkdir -p $(INST_LIBDIR)/posthog/event_definitions/edge
	cp $(OUT)/simdjson.so $(INST_LIBDIR)/posthog/event_definitions/edge/simdjson.so

.PHONY: all install
