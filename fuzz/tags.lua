--- fuzz/tags.lua: tag normalisation and the tag checks. Promises: core.normalize_tag never
-- raises, keeps valid UTF-8 valid and is idempotent; a tag the definition's encoder refuses is
-- exactly one that is not valid UTF-8, blank once normalised, or longer than 255 characters.
-- Input: the tag's bytes.
local core = require "posthog.event_definitions.core"
local lib = dofile("fuzz/lib.lua")
local check = lib.check

return function(tag)
  local n = core.normalize_tag(tag)
  check(core.normalize_tag(n) == n, "normalize_tag is idempotent")
  local valid = lib.utf8(tag)
  if valid then check(lib.utf8(n), "normalize_tag keeps UTF-8 valid") end
  local text, err = core.encode({ tags = { tag } }, "definition")
  local detail = err and err.detail
  if not valid then
    check(detail == "tags[1] is not valid UTF-8", "invalid UTF-8 refused: " .. tostring(detail))
  elseif n == "" then
    check(detail == "tags[1] is blank", "a blank tag refused: " .. tostring(detail))
  elseif utf8.len(n) > 255 then
    check(detail == "tags[1] is longer than 255 characters", "a long tag refused: " .. tostring(detail))
  else
    check(text ~= nil, "a fine tag is sent: " .. tostring(detail))
  end
  local _, berr = core.build_request({ method = "POST", base = "http://x", path = "/", key = "k",
    body = { ids = {}, action = "add", tags = { "ok", tag } } })
  check((berr and berr.detail) == (detail and detail:gsub("^tags%[1%]", "tags[2]")),
    "bulk bodies check tags as definitions do")
end
