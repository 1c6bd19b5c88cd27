--- schema.markdown: a tracking-plan document in Markdown for people: a title, summary counts, an
-- index table linking to one section per event (sorted by name) with its description, status,
-- tags, owner, last seen, and its properties when opts.properties is given.
local core = require "posthog.event_definitions.core"
local util = require "posthog.event_definitions.schema.util"

local null = core.null
local byte, char, concat = string.byte, string.char, table.concat

-- s as an inline code span on one line.
local function code(s)
  s = s:gsub("\r\n?", " "):gsub("\n", " ")
  local longest = 0
  for run in s:gmatch("`+") do longest = math.max(longest, #run) end
  local fence = string.rep("`", longest + 1)
  if longest > 0 then s = " " .. s .. " " end
  return fence .. s .. fence
end

-- s made safe for a table cell: pipes escaped, line breaks as <br>.
local function cell(s)
  return (s:gsub("|", "\\|"):gsub("\r\n?", "<br>"):gsub("\n", "<br>"))
end

local function lower_ascii(s)
  return (s:gsub("[A-Z]", function(c) return char(byte(c) + 32) end))
end

-- A unique HTML anchor for each name, from its ASCII letters, digits, '-' and '_'.
local function anchors_of(list)
  local anchors, used = {}, {}
  for i, def in ipairs(list) do
    local base = "event-" .. lower_ascii(def.name):gsub("[^0-9a-z_-]+", "-"):gsub("^-+", ""):gsub("-+$", "")
    local anchor, n = base, 1
    while used[anchor] do
      n = n + 1
      anchor = base .. "-" .. n
    end
    used[anchor] = true
    anchors[i] = anchor
  end
  return anchors
end

local function status_of(def)
  local words = { def.verified == true and "verified" or "unverified" }
  if def.hidden == true then words[2] = "hidden" end
  return concat(words, ", ")
end

local function tags_text(tags)
  if type(tags) ~= "table" or #tags == 0 then return "none" end
  local out = {}
  for i, tag in ipairs(util.sorted(tags)) do out[i] = code(tag) end
  return concat(out, ", ")
end

local function owner_text(owner)
  if type(owner) == "table" then
    owner = (type(owner.email) == "string" and owner.email ~= "") and owner.email or owner.id
  end
  if owner == nil or owner == null then return "none" end
  return util.cell_text(owner)
end

local function description_of(def)
  local d = def.description
  if type(d) == "string" and d ~= "" then return d end
  return nil
end

--- The document (opts.title replaces "Tracking plan").
return function(defs, opts)
  opts = util.check_args("markdown", defs, opts)
  local list = util.sorted_defs(defs)
  local anchors = anchors_of(list)
  local verified, hidden, described, never = 0, 0, 0, 0
  for _, def in ipairs(list) do
    if def.verified == true then verified = verified + 1 end
    if def.hidden == true then hidden = hidden + 1 end
    if description_of(def) then described = described + 1 end
    if type(def.last_seen_at) ~= "string" then never = never + 1 end
  end
  local out = {
    "# " .. (opts.title or "Tracking plan"), "",
    string.format("%s: %d verified, %d hidden, %d with a description, %d never seen.",
      util.count(#list, "event"), verified, hidden, described, never), "",
  }
  local function add(line) out[#out + 1] = line end
  if #list > 0 then
    add("| Event | Description | Status | Tags |")
    add("|---|---|---|---|")
    for i, def in ipairs(list) do
      add("| [" .. cell(code(def.name)) .. "](#" .. anchors[i] .. ") | " .. cell(description_of(def) or "")
        .. " | " .. status_of(def) .. " | " .. cell(tags_text(def.tags)) .. " |")
    end
    add("")
  end
  for i, def in ipairs(list) do
    add('<a id="' .. anchors[i] .. '"></a>')
    add("")
    add("## " .. code(def.name))
    add("")
    add(description_of(def) or "*No description.*")
    add("")
    add("- **Status:** " .. status_of(def))
    add("- **Tags:** " .. tags_text(def.tags))
    add("- **Owner:** " .. owner_text(def.owner))
    add("- **Last seen:** " .. (type(def.last_seen_at) == "string" and def.last_seen_at or "never"))
    if type(def.id) == "string" then add("- **ID:** " .. code(def.id)) end
    add("")
    local props = util.properties_of(opts, "markdown", def.name)
    if props then
      add("### Properties of " .. code(def.name))
      add("")
      if #props == 0 then
        add("*No properties known.*")
      else
        add("| Property | Type | Required | Description |")
        add("|---|---|---|---|")
        for _, p in ipairs(props) do
          add("| " .. cell(code(p.name)) .. " | " .. cell(type(p.type) == "string" and p.type or "")
            .. " | " .. (p.required == true and "yes" or "no") .. " | "
            .. cell(type(p.description) == "string" and p.description or "") .. " |")
        end
      end
      add("")
    end
  end
  return concat(out, "\n")
end
