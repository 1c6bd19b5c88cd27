--- Rewriting a capture body by byte ranges (edge_core.scan): events that pass keep their exact
-- bytes; a dropped event is cut out with its separator; a tagged event gets properties inserted
-- as the last keys of its properties object (one is made where it has none or it is null). A
-- rewritten body is scanned again and used only when it holds exactly the expected events.
-- Pure Lua (no ngx).
local edge_core = require "posthog.event_definitions.edge.core"

local sub, concat, byte, format = string.sub, table.concat, string.byte, string.format
local scan, FIELDS = edge_core.scan, edge_core.FIELDS

local rewrite = {}

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\" }

--- `s` (valid UTF-8) as a JSON string literal.
function rewrite.json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return ESCAPES[c] or format("\\u%04x", byte(c)) end) .. '"'
end

--- The bytes of the event at ev[base+1..] of text with `pairs` (JSON text `"k":v,…`) added to its
-- properties. A properties value that is neither an object, null nor absent is kept under
-- `$taxonomy_original_properties` of a new properties object when `keep_other` (an event for the
-- quarantine); else nil (a forwarded tag would have to replace what the sender wrote).
function rewrite.tagged(text, ev, base, pairs, keep_other)
  local first, last = ev[base + 1], ev[base + 2]
  local vfirst, vlast, pkind, pkeys, ekeys = ev[base + 4], ev[base + 5], ev[base + 6], ev[base + 7], ev[base + 8]
  if pkind == 1 then
    return sub(text, first, vlast - 1) .. (pkeys > 0 and "," or "") .. pairs .. sub(text, vlast, last)
  elseif pkind == 2 then
    return sub(text, first, vfirst - 1) .. "{" .. pairs .. "}" .. sub(text, vlast + 1, last)
  elseif pkind == 0 then
    return sub(text, first, last - 1) .. (ekeys > 0 and "," or "") .. '"properties":{' .. pairs .. "}"
      .. sub(text, last, last)
  elseif keep_other then
    return sub(text, first, vfirst - 1) .. "{" .. pairs .. ',"$taxonomy_original_properties":'
      .. sub(text, vfirst, vlast) .. "}" .. sub(text, vlast + 1, last)
  end
  return nil
end

--- The body `text` (scanned: form, ev, n) with event i replaced by pieces[i] (a string) or left
-- out (pieces[i] == false); pieces[i] == nil keeps its bytes. Returns the new text and the number
-- of events it holds, or nil when no event is left of a single-event body.
function rewrite.build(text, form, ev, n, pieces)
  local parts, kept, prev_last = {}, 0, nil
  parts[1] = sub(text, 1, ev[1] - 1)
  for i = 1, n do
    local base = (i - 1) * FIELDS
    local piece = pieces[i]
    if piece ~= false then
      if kept > 0 then parts[#parts + 1] = sub(text, prev_last + 1, ev[base + 1] - 1) end
      parts[#parts + 1] = piece or sub(text, ev[base + 1], ev[base + 2])
      kept = kept + 1
    end
    prev_last = ev[base + 2]
  end
  if kept == 0 and form == "single" then return nil, 0 end
  parts[#parts + 1] = sub(text, ev[(n - 1) * FIELDS + 2] + 1)
  return concat(parts), kept
end

--- Whether `body` scans as `form` holding exactly the event texts `expected` (in order).
function rewrite.holds(body, form, expected)
  local got_form, ev, n = scan(body)
  if got_form ~= form or n ~= #expected then return false end
  for i = 1, n do
    local base = (i - 1) * FIELDS
    if sub(body, ev[base + 1], ev[base + 2]) ~= expected[i] then return false end
  end
  return true
end

return rewrite
