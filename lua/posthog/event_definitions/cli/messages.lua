--- The diagnostics of posthog-evdefs on stderr: each one line starting "posthog-evdefs: " (the
-- library's own prefix dropped, never doubled), usage errors with the command's usage, notices
-- (silenced by --quiet), and a hint after an error whose likely cause is known: a key of the
-- other region (401), PostHog's refusal of scoped keys on metrics (403), a missing scope, a host
-- that does not answer, speaks plain HTTP to an https:// URL or whose certificate is not trusted,
-- a deployment without the Enterprise package. The key never appears: the library
-- scrubs it from its errors, and nothing here prints it.
local errors = require "posthog.event_definitions.errors"

local messages = {}

local PROGRAM = "posthog-evdefs"
local ISSUES = "https://github.com/posthog-event-definitions/posthog-event-definitions/issues"
local LIBRARY = "posthog.event_definitions: "

local US, EU = "https://us.posthog.com", "https://eu.posthog.com"

--- What a SIGINT or SIGTERM prints when it ends the program at once (runtime.hold_interrupts):
-- while nothing is being changed, and when it comes again during a batch. WRITING: while one
-- request that changes a definition is in flight.
messages.INTERRUPTED = {
  at_once = PROGRAM .. ": interrupted; nothing was changed in PostHog\n",
  again = PROGRAM .. ": interrupted again: stopped at once; requests in flight may have been applied "
    .. "(plan, or the command with --dry-run, shows what is left)\n",
}
messages.WRITING = { at_once = PROGRAM .. ": interrupted while the change was being sent; it may have been "
  .. "applied (get shows the definition)\n" }

-- `s` with the user info of every URL with a scheme in it shown as "***":
-- "http://user:secret@host" becomes "http://***@host". Nothing else changes, so an event name
-- such as "signup:done@web" is shown as it is. Brackets are never user info (RFC 3986), so a
-- syntax hint such as "redis://[:password@]host" stays as it is.
local function hide_url_userinfo(s)
  return (s:gsub("(%a[%w+.-]*://)[^%s/?#\"%[%]]*@", "%1***@"))
end

--- `s` with the user info of every URL in it shown as "***": "http://user:secret@host" becomes
-- "http://***@host", and so does a "user:secret@host" that lacks its scheme, at the start or
-- quoted ("\"user:secret@host\""). Brackets are never user info (RFC 3986), so a syntax hint
-- such as "redis://[:password@]host" stays as it is. For text that may hold a host as typed
-- (the host the library refused, a usage error's word), not for messages that name events.
function messages.hide_userinfo(s)
  s = hide_url_userinfo(s)
  s = s:gsub("^[^%s/?#\":%[%]]+:[^%s/?#\"%[%]]*@", "***@")
  return (s:gsub("\"[^%s/?#\":%[%]]+:[^%s/?#\"%[%]]*@", "\"***@"))
end
local hide_userinfo = messages.hide_userinfo

--- A message or an error table as one line without the library's own prefix, the user info
-- of any URL with a scheme in it shown as "***". The library never echoes a host (it refuses
-- one with user info without showing it); the program hides the host it echoes itself
-- (session.connect), so event names in messages are never altered.
function messages.diagnostic(message)
  message = hide_url_userinfo(tostring(message))
  if message:sub(1, #LIBRARY) == LIBRARY then return message:sub(#LIBRARY + 1) end
  return message
end
local diagnostic = messages.diagnostic

-- The region of a PostHog Cloud host, or nil.
local function region(host)
  local name = (host or ""):match("^https?://([^/:]+)")
  if name == "us.posthog.com" or name == "app.posthog.com" or name == "us.i.posthog.com" then return "US" end
  if name == "eu.posthog.com" or name == "eu.i.posthog.com" then return "EU" end
end

-- The hint for error `err` of a command run against `host`, or nil.
local function hint(ctx, err)
  if type(err) ~= "table" then return nil end
  local host = ctx.host or US
  local detail = type(err.detail) == "string" and err.detail or ""
  if err.status == 401 then
    local where = region(host)
    if where then
      local other, other_host = where == "US" and "EU" or "US", where == "US" and EU or US
      return string.format("PostHog %s refused the key; a key made in the %s region works only there: "
        .. "--host %s (or POSTHOG_HOST)", where, other, other_host)
    end
    return "the server at " .. host .. " refused the key: check POSTHOG_PERSONAL_API_KEY, and that the key "
      .. "was made on this PostHog (a key of " .. US .. " or " .. EU .. " works only there)"
  end
  if err.status == 403 and type(err.path) == "string" and err.path:find("/metrics/?$") then
    return "PostHog answers metrics only to the app and to old keys without scopes: it refuses every "
      .. "personal API key with scopes, even one with every scope (*)"
  end
  if err.status == 403 and detail:find("missing required scope", 1, true) then
    return "give the key the scopes event_definition:read and event_definition:write "
      .. "(PostHog: Settings → Personal API keys)"
  end
  if err.kind == "transport" and not err.status then
    if detail:find("resolve host", 1, true) then
      return "the host name of " .. host .. " does not resolve: check --host or POSTHOG_HOST"
    end
    if detail:find("wrong version number", 1, true) then
      return "the server at " .. host .. " speaks plain HTTP, not TLS: use http:// if it is meant to be "
        .. "plain (a local or test server), else check the port"
    end
    if detail:find("certificate", 1, true) or detail:find("SSL", 1, true) then
      return "the TLS certificate of " .. host .. " is not trusted: for a private CA give --ca-file FILE "
        .. "(--insecure skips the check)"
    end
    if detail:find("connect", 1, true) then
      return "nothing answered at " .. host .. ": check --host or POSTHOG_HOST (" .. US .. ", " .. EU
        .. " or your own instance), and that it is up"
    end
  end
  if detail:find("not supported by this deployment", 1, true) then
    return "this PostHog has no Enterprise package: it refuses description, verified and hidden; "
      .. "leave those fields out (plan and apply leave them out once the project has a definition)"
  end
end

--- Prints "posthog-evdefs: <message>" (text or an error table) on stderr, then a hint when the
-- cause is likely; returns 1.
function messages.fail(ctx, message)
  ctx.err(PROGRAM .. ": " .. diagnostic(message) .. "\n")
  local h = hint(ctx, message)
  if h then messages.print_hint(ctx, h) end
  return 1
end

--- Prints "posthog-evdefs: hint: <text>" on stderr.
function messages.print_hint(ctx, text)
  ctx.err(PROGRAM .. ": hint: " .. hide_url_userinfo(text) .. "\n")
end

--- Prints a notice on stderr unless --quiet.
function messages.note(ctx, message)
  if ctx.quiet then return end
  ctx.err(PROGRAM .. ": " .. hide_url_userinfo(message) .. "\n")
end

--- Prints a usage error with the usage of `command` (an argparse command); returns 2.
function messages.usage_error(ctx, message, command)
  ctx.err(PROGRAM .. ": " .. hide_userinfo(message) .. "\n" .. command:get_usage() .. "\n"
    .. "Run with --help for more.\n")
  return 2
end

--- Reports an unexpected error (a defect of the program, or of the library under it): one line
-- with the version and where to report it, then `traceback` (the --debug flag) when given; the
-- key scrubbed from both. A Lua interpreter's own "interrupted!" (a Ctrl-C that came before the
-- program could catch it) is one line "interrupted" instead, status 130. Returns the exit status.
function messages.internal_error(ctx, message, traceback)
  local key = ctx.getenv("POSTHOG_PERSONAL_API_KEY")
  local function clean(s) return errors.scrub(tostring(s), key ~= "" and key or nil) end
  local line = clean(message):gsub("%c", " ")
  if line:find("interrupted!$") then
    ctx.err(PROGRAM .. ": interrupted\n")
    return 130
  end
  local version = require("posthog.event_definitions").VERSION
  ctx.err(string.format("%s: internal error (posthog-evdefs %s): %s; please report it at %s%s\n", PROGRAM,
    version, line, ISSUES, traceback and "" or " (--debug shows the traceback)"))
  if traceback then ctx.err(clean(traceback) .. "\n") end
  return 1
end

messages.hint = hint

return messages
