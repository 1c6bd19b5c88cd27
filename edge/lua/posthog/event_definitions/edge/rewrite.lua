--- Rewriting a capture body by byte ranges (edge_core.scan): events that pass keep their exact
-- bytes; a dropped event is cut out with its separator; a tagged event gets properties inserted
-- as the last keys of its properties object (one is made where it has none or it is null). A
-- rewritten body is scanned again and used only when it holds exactly the expected events.
-- Pure Lua (no ngx).
local edge_core = require "posthog.event_definitions.edge.core"

local sub, format = string.sub, string.format
local scan, FIELDS, join, same = edge_core.scan, edge_core.FIELDS, edge_core.join, edge_core.same

local rewrite = {}

local CHECKED = {} -- the events of the body being checked, filled by each check's scan

-- What json_string writes for each character it escapes: the quote, the backslash, and the
-- control characters (%c) as \u00XX.
local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\" }
for b = 0, 255 do
  local c = string.char(b)
  if c:find("%c") then ESCAPES[c] = format("\\u%04x", b) end
end

--- `s` (valid UTF-8) as a JSON string literal.
function rewrite.json_string(s)
  return '"' .. s:gsub('[%c"\\]', ESCAPES) .. '"'
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
-- of events it holds, or nil when no event is left of a single-event body. The bytes kept are
-- copied once, in runs (edge_core.join), not as a string each.
function rewrite.build(text, form, ev, n, pieces)
  local parts, m, kept = {}, 0, 0
  local from, to = 1, ev[1] - 1 -- the run of text's bytes kept since the last piece or cut
  for i = 1, n do
    local base = (i - 1) * FIELDS
    local piece, first, last = pieces[i], ev[base + 1], ev[base + 2]
    if piece == false then -- cut out with the separator before it (after it, before any event kept)
      if from then parts[m + 1], parts[m + 2], m = from, to, m + 2 end
      if kept > 0 then from, to = last + 1, last else from = nil end
    else
      from = from or first -- the first event kept after a cut: no separator before it
      if piece then
        parts[m + 1], parts[m + 2], parts[m + 3], m = from, first - 1, piece, m + 3
        from, to = last + 1, last
      else
        to = last
      end
      kept = kept + 1
    end
  end
  if kept == 0 and form == "single" then return nil, 0 end
  parts[m + 1], parts[m + 2], m = from or ev[(n - 1) * FIELDS + 2] + 1, #text, m + 2
  return join(text, parts, m), kept
end

--- Whether `body` scans as `form` holding exactly the events `expected`, a flat list of m/3
-- (string, first, last) triples: each event's bytes, in order, where they are.
function rewrite.holds(body, form, expected, m)
  local got_form, ev, n = scan(body, nil, CHECKED)
  if got_form ~= form or 3 * n ~= m then return false end
  for i = 1, n do
    local base, e = (i - 1) * FIELDS, (i - 1) * 3
    local first, last = ev[base + 1], ev[base + 2]
    local at = expected[e + 2]
    if last - first ~= expected[e + 3] - at or not same(body, first, last, expected[e + 1], at) then return false end
  end
  return true
end

return rewrite
