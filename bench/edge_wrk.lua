-- wrk script of bench/edge: POSTs the bodies $BODY.body, $BODY.1.body … $BODY.$VARIANTS.body in
-- turn (no two requests in a row alike, as in real traffic) with the Content-Type $CTYPE.
-- luacheck: globals wrk request
local bodies = {}
for v = 0, tonumber(os.getenv("VARIANTS") or 0) do
  local f = assert(io.open(os.getenv("BODY") .. (v > 0 and "." .. v or "") .. ".body", "rb"))
  bodies[#bodies + 1] = f:read("*a")
  f:close()
end
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("CTYPE") or "application/json"
local n = 0

function request()
  n = n % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[n])
end
