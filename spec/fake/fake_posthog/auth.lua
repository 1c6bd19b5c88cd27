-- Users, personal API keys, authentication (§4), project resolution (§2) and scopes (§5).
local json = require "fake_posthog.json"
local http = require "fake_posthog.http"

local M = {}

local USERS = {
  [1] = { id = 1, uuid = "0188f2a6-1c1e-7000-8000-000000000001", distinct_id = "fake-user-1",
          first_name = "Fake", last_name = "Owner", email = "owner@example.com",
          is_email_verified = true, role_at_organization = "engineering" },
  [2] = { id = 2, uuid = "0188f2a6-1c1e-7000-8000-000000000002", distinct_id = "fake-user-2",
          first_name = "Second", last_name = "User", email = "second@example.com",
          is_email_verified = false, role_at_organization = "product" },
}

-- Seed keys. scopes = nil: legacy key (everything); projects = nil: every project.
local KEYS = {
  phx_fake_legacy   = { user = 1, current = 1 },
  phx_fake_all      = { user = 1, current = 1, scopes = { "*" } },
  phx_fake_read     = { user = 1, current = 1, scopes = { "event_definition:read" } },
  phx_fake_write    = { user = 1, current = 1, scopes = { "event_definition:write" } },
  phx_fake_taxonomy = { user = 1, current = 1, scopes = { "event_definition:read", "property_definition:read" } },
  phx_fake_none     = { user = 1, current = 1, scopes = {} },
  phx_fake_project2 = { user = 2, current = 2, scopes = { "*" }, projects = { [2] = true } },
}

M.PROJECTS = { [1] = true, [2] = true }

-- user_json(id) -> UserBasic JSON text of a known user, or "null".
local user_cache = {}
function M.user_json(id)
  local user = USERS[id]
  if not user then return "null" end
  local text = user_cache[id]
  if not text then
    text = '{"id":' .. user.id .. ',"uuid":' .. json.str(user.uuid) .. ',"distinct_id":' .. json.str(user.distinct_id)
      .. ',"first_name":' .. json.str(user.first_name) .. ',"last_name":' .. json.str(user.last_name)
      .. ',"email":' .. json.str(user.email) .. ',"is_email_verified":' .. json.bool(user.is_email_verified)
      .. ',"hedgehog_config":null,"role_at_organization":' .. json.str(user.role_at_organization) .. '}'
    user_cache[id] = text
  end
  return text
end

-- user_exists(id) -> bool.
function M.user_exists(id)
  return USERS[id] ~= nil
end

-- unauthorized(req, code, detail) -> 401 response with the WWW-Authenticate header of §4.2.
local function unauthorized(req, code, detail)
  local res = http.error(401, "authentication_error", code, detail, nil)
  res.headers["WWW-Authenticate"] =
    'Bearer resource_metadata="' .. req.origin .. '/.well-known/oauth-protected-resource"'
  return res
end

-- candidate(req) -> key text, source ("header" | "body" | "query string") | nil, nil | nil, nil, error response.
-- The order of posthog/auth.py: Authorization: Bearer, then the body's personal_api_key, then the query's.
local function candidate(req)
  local header = req.headers["authorization"]
  if type(header) == "table" then header = header[1] end
  if header then
    local token = header:match("^Bearer%s+(%S.+)$")
    if token then
      token = token:match("^%s*(.-)%s*$")
      if token:sub(1, 4) ~= "pha_" then return token, "header" end
    end
  end
  local data, err = req:data()
  if err then return nil, nil, err end
  if type(data) == "table" and type(data.personal_api_key) == "string" then
    return data.personal_api_key, "body"
  end
  local q = req.query.last.personal_api_key
  if q then return q, "query string" end
  return nil
end

-- sent_key(req) -> the key the request carries and its source, or nil (for the request log).
function M.sent_key(req)
  local token, source = candidate(req)
  return token, source
end

-- authenticate(req) -> key record (with .name) | nil, error response. Sets req.key/req.key_source.
function M.authenticate(req)
  local token, source, err = candidate(req)
  if err then return nil, err end
  if not token then
    return nil, unauthorized(req, "not_authenticated", "Authentication credentials were not provided.")
  end
  req.key, req.key_source = token, source
  local key = KEYS[token]
  if not key then
    return nil, unauthorized(req, "authentication_failed",
      "Personal API key found in request " .. (source == "header" and "Authorization header" or source)
        .. " is invalid.")
  end
  return key
end

-- project(segment, key) -> project id | nil, 404 response. segment is an integer or "@current".
function M.project(segment, key)
  local id
  if segment == "@current" then id = key.current else id = tonumber(segment:match("^%d+$")) end
  if not id or not M.PROJECTS[id] then
    return nil, http.error(404, "invalid_request", "not_found", "Project not found.", nil)
  end
  return id
end

-- authorize(key, scope, project_id) -> nil when allowed, else a 403 response (§5.2). scope is
-- "object:read" / "object:write", or false for an action that declares no scope.
function M.authorize(key, scope, project_id)
  local scopes = key.scopes
  if scopes == nil then return nil end
  local function deny(detail)
    return http.error(403, "authentication_error", "permission_denied", detail, nil)
  end
  if not scope then return deny("This action does not support personal API key access") end
  if key.projects and not key.projects[project_id] then
    return deny("API key does not have access to the requested project: ID " .. project_id .. ".")
  end
  local object, level = scope:match("^(.-):(%a+)$")
  for _, s in ipairs(scopes) do
    if s == "*" or s == scope or (level == "read" and s == object .. ":write") then return nil end
  end
  return deny("API key missing required scope '" .. scope .. "'")
end

return M
