-- wrk script of bench/edge: POSTs the file $BODY with the Content-Type $CTYPE.
-- luacheck: globals wrk
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CTYPE") or "application/json"
