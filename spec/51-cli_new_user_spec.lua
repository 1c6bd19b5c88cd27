-- What a new user of posthog-evdefs ran into (issue 10), one `describe` per point, each run as a
-- real process (bin/posthog-evdefs with the interpreter running busted) against the fake
-- PostHog server, through a pseudo-terminal where the point is about terminals.
local helpers = require "helpers"
local core = require "posthog.event_definitions.core"
local evdefs = require "posthog.event_definitions"
local T = require "support.cli"

local run, run_tty, main, json, state = T.run, T.run_tty, T.main, T.json, T.state
local clear_log, writes, slurp, spit, quote = T.clear_log, T.writes, T.slurp, T.spit, T.quote

local ROOT = (function()
  local pipe = assert(io.popen("pwd"))
  local dir = pipe:read("*l")
  pipe:close()
  return dir
end)()

-- A snapshot of the project in a new directory, edited by `edit(doc)`; returns its path.
local function snapshot_file(edit, name)
  local dir = T.tmpdir()
  local file = dir .. "/" .. (name or "taxonomy.json")
  assert.are.equal(0, (run { "export", "snapshot", "--out", file }))
  local doc = json(slurp(file))
  if edit then edit(doc) end
  spit(file, core.encode(doc))
  return file
end

-- The snapshot edit of the plan specs: event_0002 described anew, event_0012 gone, one added.
local function edited(doc)
  local kept = {}
  for _, d in ipairs(doc.definitions) do
    if d.name == "event_0002" then d.description = "Changed" end
    if d.name ~= "event_0012" then kept[#kept + 1] = d end
  end
  kept[#kept + 1] = { name = "added_event", tags = setmetatable({ "x" }, core.array_mt) }
  doc.definitions = setmetatable(kept, core.array_mt)
end

describe("posthog-evdefs, as a new user met it", function()
  before_each(function()
    helpers.reset { seed = 12 }
  end)

  describe("destructive commands ask first (apply --delete-missing deleted at once, delete asked nothing)", function()
    it("change nothing without --yes and without a terminal, and exit 1", function()
      local before, by_name = state()
      local file = snapshot_file(edited)
      clear_log()
      for _, argv in ipairs {
        { "apply", file, "--delete-missing" }, { "delete", "event_0001" }, { "delete", by_name.event_0001.id },
        { "bulk", "delete", "--search", "event_000" }, { "bulk", "hide", "event_0002" },
      } do
        local status, _, err = run(argv)
        assert.are.equal(1, status, table.concat(argv, " "))
        assert.matches("^posthog%-evdefs: refusing to [^\n]+ without %-%-yes[^\n]*nothing was changed\n$", err)
      end
      assert.are.same({}, writes())
      assert.are.same(before, (state()))
    end)

    it("ask on a terminal: no answer or anything but yes changes nothing; yes goes on", function()
      local file = snapshot_file(edited)
      clear_log()
      local status, screen = run_tty({ "delete", "event_0001", "event_0003" }, nil, "no\n")
      assert.are.equal(1, status)
      assert.matches("This deletes from project 1:\n  event_0001  %x+%-", screen)
      assert.matches("Type yes to delete 2 definitions: ", screen)
      assert.matches("not confirmed; nothing was changed", screen)
      assert.are.equal(1, (run_tty { "delete", "event_0001" })) -- the terminal closes: no answer
      status, screen = run_tty({ "apply", file, "--delete-missing" }, nil, "nope\n")
      assert.are.equal(1, status)
      assert.matches("%- delete event_0012", screen)
      assert.matches("Type yes to apply this plan, which deletes 1 definition: ", screen)
      assert.are.same({}, writes())

      status, screen = run_tty({ "apply", file, "--delete-missing" }, nil, "yes\n")
      assert.are.equal(0, status, screen)
      status = run_tty({ "delete", "event_0001" }, nil, "yes\n")
      assert.are.equal(0, status)
      local _, now = state()
      assert.is_nil(now.event_0001)
      assert.is_nil(now.event_0012)
      assert.are.equal("Changed", now.event_0002.description)
    end)

    it("go on with --yes, and send nothing with --dry-run, asking nothing", function()
      local _, by_name = state()
      clear_log()
      assert.are.equal(0, (run { "delete", "event_0001", "--dry-run" }))
      assert.are.equal(0, (run { "bulk", "hide", "--search", "event_001", "--dry-run" }))
      assert.are.same({}, writes())
      assert.are.equal(0, (run { "delete", "event_0001", "--yes" }))
      assert.are.same({ "DELETE /api/projects/1/event_definitions/" .. by_name.event_0001.id .. "/" }, writes())
    end)
  end)

  describe("plan can be reviewed and gated in CI (it exited 0, showed new values only, had no summary)", function()
    it("prints each change with its old and new value and a summary line, also when piped", function()
      local file = snapshot_file(edited)
      local status, out = run { "plan", file, "--delete-missing" }
      assert.are.equal(0, status)
      local _, by_name = state()
      assert.are.equal(table.concat({
        "+ create added_event",
        '    tags: ["x"]',
        "~ update event_0002 (" .. by_name.event_0002.id .. ")",
        '    description: "Seeded event 2" → "Changed"',
        "- delete event_0012 (" .. by_name.event_0012.id .. ")",
        "",
        "Plan: 1 to create, 1 to update, 1 to delete.",
      }, "\n") .. "\n", out)
    end)

    it("exits 3 with --exit-code when there are changes, 0 when none, 1 on failure", function()
      local file = snapshot_file(edited)
      local status, out = run { "plan", file, "--exit-code" }
      assert.are.equal(3, status)
      assert.matches("\nPlan: 1 to create, 1 to update, 0 to delete.\n$", out)
      assert.are.equal(0, (run { "apply", file }))
      status, out = run { "plan", file, "--exit-code" }
      assert.are.equal(0, status)
      assert.are.equal("Plan: 0 to create, 0 to update, 0 to delete.\n", out)
      assert.are.equal(1, (run { "plan", "/nonexistent.json", "--exit-code" }))
    end)

    it("prints JSON only with --format json: the ops, updates with their old values", function()
      local file = snapshot_file(edited)
      local status, out = run { "--format", "json", "plan", file, "--exit-code" }
      assert.are.equal(3, status)
      local ops = json(out)
      assert.are.equal(2, #ops)
      assert.are.same({ description = "Changed" }, ops[2].fields)
      assert.are.same({ description = "Seeded event 2" }, ops[2].old)
    end)
  end)

  describe("definitions are named by REF, a UUID or the event name (get event_0043 wanted a UUID)", function()
    it("gets, updates, shows metrics of and deletes a definition by its name", function()
      local _, by_name = state()
      local status, out = run { "get", "event_0007" }
      assert.are.equal(0, status)
      assert.are.same(by_name.event_0007, json(out))
      status, out = run { "update", "event_0007", "--description", "By name" }
      assert.are.equal(0, status)
      assert.are.equal("By name", json(out).description)
      helpers.config { metrics_for_keys = true }
      status, out = run { "metrics", "event_0007" }
      assert.are.equal(0, status)
      assert.are.same({ query_usage_30_day = 7 }, json(out))
      status = run { "bulk", "tag", "add", "named", "--id", "event_0001", "--id", by_name.event_0002.id }
      assert.are.equal(0, status)
      assert.are.equal(0, (run { "delete", "event_0007", "--yes" }))
      local _, now = state()
      assert.is_nil(now.event_0007)
      assert.are.same({ "named" }, now.event_0001.tags)
    end)

    it("takes anything shaped like a UUID as an id, never as a name", function()
      local client = helpers.client()
      assert(client:create { name = T.UNKNOWN })
      client:close()
      clear_log()
      local status, _, err = run { "get", T.UNKNOWN }
      assert.are.equal(1, status)
      assert.matches("404", err)
      assert.are.same({ "GET /api/projects/1/event_definitions/" .. T.UNKNOWN .. "/" }, T.logged())
    end)
  end)

  describe("the flags users of gh and kubectl expect", function()
    it("--version prints the version", function()
      local status, out = run { "--version" }
      assert.are.equal(0, status)
      assert.are.equal("posthog-evdefs " .. evdefs.VERSION .. "\n", out)
    end)

    it("help [SUBCOMMAND…] prints what --help prints", function()
      for _, words in ipairs { {}, { "list" }, { "bulk", "tag" } } do
        local argv = { "help" }
        for i, w in ipairs(words) do argv[i + 1] = w end
        local status, out = run(argv)
        assert.are.equal(0, status)
        local with_flag = {}
        for i, w in ipairs(words) do with_flag[i] = w end
        with_flag[#with_flag + 1] = "--help"
        assert.are.equal(select(2, run(with_flag)), out)
      end
      assert.are.equal(2, (run { "help", "frobnicate" }))
    end)

    it("--quiet silences notices and progress, not errors", function()
      local file = T.tmpdir() .. "/taxonomy.json"
      local _, _, err = run { "export", "snapshot", "--out", file }
      assert.matches("^posthog%-evdefs: wrote 12 definitions to ", err)
      _, _, err = run { "--quiet", "export", "snapshot", "--out", file }
      assert.are.equal("", err)
      local _, screen = run_tty { "--quiet", "list", "--all", "--limit", "5", "--search", "event_000" }
      assert.is_nil(screen:find("reading definitions", 1, true))
      _, _, err = run { "--quiet", "get", "no_such_event" }
      assert.matches("no definition named", err)
    end)

    it("colours only a terminal, never with --no-color or NO_COLOR", function()
      local _, _, screen = run_tty { "list", "--limit", "2" }
      assert.truthy(screen:find("\27[1mNAME\27[0m", 1, true))
      _, _, screen = run_tty { "--no-color", "list", "--limit", "2" }
      assert.is_nil(screen:find("\27[", 1, true))
      _, _, screen = run_tty({ "list", "--limit", "2" }, { NO_COLOR = "1" })
      assert.is_nil(screen:find("\27[", 1, true))
      local _, out = run { "--format", "table", "list", "--limit", "2" }
      assert.is_nil(out:find("\27[", 1, true))
      assert.matches("^NAME ", out)
    end)

    it("prints completion scripts for bash (which loads and completes), zsh and fish", function()
      local dir = T.tmpdir()
      spit(dir .. "/posthog-evdefs", "#!/bin/sh\nexec " .. quote(T.LUA) .. " " .. quote(ROOT .. "/bin/posthog-evdefs")
        .. ' "$@"\n')
      assert(os.execute("chmod +x " .. dir .. "/posthog-evdefs"))
      local status, out, err = T.sh("PATH=" .. quote(dir) .. ":$PATH bash -c " .. quote(
        "source <(posthog-evdefs completion bash) && complete -p posthog-evdefs"
        .. " && COMP_WORDS=(posthog-evdefs bulk t) COMP_CWORD=2 && _posthog-evdefs && echo \"${COMPREPLY[@]}\""))
      assert.are.equal(0, status, err)
      assert.matches("complete .*posthog%-evdefs\ntag\n$", out)
      status, out = run { "completion", "zsh" }
      assert.are.equal(0, status)
      assert.matches("^#compdef posthog%-evdefs[^\n]*\n", out)
      status, out = run { "completion", "fish" }
      assert.are.equal(0, status)
      assert.matches("complete %-c posthog%-evdefs", out)
      assert.are.equal(2, (run { "completion", "tcsh" }))
    end)

    it("--yes matters on bulk tag and verify: on a terminal they ask unless given", function()
      clear_log()
      local status, screen = run_tty({ "bulk", "tag", "add", "t", "--search", "event_000" }, nil, "no\n")
      assert.are.equal(1, status)
      assert.matches("This would tag 9 definitions of project 1:\n  event_0001  %x+%-", screen)
      status, screen = run_tty({ "bulk", "verify", "event_0001" }, nil, "no\n")
      assert.are.equal(1, status)
      assert.matches("Type yes to verify the selected definitions: ", screen)
      assert.are.same({}, writes())
      status = run_tty { "bulk", "tag", "add", "t", "--search", "event_000", "--yes" }
      assert.are.equal(0, status)
      assert.are.same({ "POST /api/projects/1/event_definitions/bulk_update_tags/" }, writes())
    end)

    it("update --add-tag and --remove-tag change the tag set; --tag replaces it", function()
      local status, out = run { "update", "event_0012", "--add-tag", "Growth", "--remove-tag", "BILLING" }
      assert.are.equal(0, status)
      local tags = json(out).tags
      table.sort(tags)
      assert.are.same({ "core", "growth" }, tags)
      status, out = run { "update", "event_0012", "--tag", "only" }
      assert.are.equal(0, status)
      assert.are.same({ "only" }, json(out).tags)
      assert.are.equal(2, (run { "update", "event_0012", "--tag", "a", "--add-tag", "b" }))
    end)

    it("list filters by tag, verified, hidden and ordering, as the library does", function()
      local function names(argv)
        local status, out = run(argv)
        assert.are.equal(0, status, table.concat(argv, " "))
        local list = {}
        for i, d in ipairs(json(out)) do list[i] = d.name end
        table.sort(list)
        return list
      end
      assert.are.same({ "event_0004", "event_0008", "event_0012" }, names { "list", "--all", "--tag", "billing" })
      assert.are.same({ "event_0007" }, names { "list", "--verified" })
      assert.are.equal(11, #names { "list", "--no-verified" })
      local visible = names { "list", "--exclude-hidden" }
      assert.are.equal(11, #visible)
      for _, n in ipairs(visible) do assert.are_not.equal("event_0011", n) end
      local status, out = run { "list", "--ordering=-name", "--limit", "3" }
      assert.are.equal(0, status)
      local top = json(out)
      assert.are.same({ "event_0012", "event_0011", "event_0010" }, { top[1].name, top[2].name, top[3].name })
    end)

    it("--ca-file trusts a private CA and --insecure skips the check (a self-hosted PostHog)", function()
      local dir = T.tmpdir()
      assert(os.execute("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "
        .. dir .. "/key.pem -out " .. dir .. "/ca.pem -days 2 -subj /CN=127.0.0.1"
        .. " -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1"))
      local socket = require "socket"
      local probe = assert(socket.bind("127.0.0.1", 0))
      local _, port = probe:getsockname()
      probe:close()
      os.execute("openssl s_server -quiet -www -accept 127.0.0.1:" .. port .. " -cert " .. dir .. "/ca.pem -key "
        .. dir .. "/key.pem >/dev/null 2>&1 </dev/null & echo $! >" .. dir .. "/pid")
      local pid = slurp(dir .. "/pid"):match("%d+")
      finally(function() os.execute("kill " .. pid .. " 2>/dev/null; rm -rf " .. dir) end)
      local listening
      for _ = 1, 600 do -- until s_server accepts (a busy machine starts it late), at most a minute
        local c = socket.tcp()
        c:settimeout(1)
        listening = c:connect("127.0.0.1", port)
        c:close()
        if listening then break end
        socket.sleep(0.1)
      end
      assert.truthy(listening, "openssl s_server never listened on " .. port)
      local host = "https://127.0.0.1:" .. port
      local _, _, err = run { "--host", host, "list" }
      assert.matches("certificate", err)
      assert.matches("hint: [^\n]*%-%-ca%-file", err)
      -- trusted now: the TLS handshake passes and the (non-PostHog) server's page is what fails
      for _, argv in ipairs { { "--host", host, "--ca-file", dir .. "/ca.pem", "list" }, { "--host", host, "--insecure",
        "list" } } do
        _, _, err = run(argv)
        assert.is_nil(err:find("certificate", 1, true), err)
        assert.matches("decode", err)
      end
      _, _, err = run { "--ca-file", dir .. "/missing.pem", "list" }
      assert.matches('%(%-%-ca%-file "[^"]*missing%.pem"%)', err)
    end)
  end)

  describe("one CSV format, read back by plan (--format csv joined tags with ';')", function()
    it("--format csv of every definition is the CSV export, and plan reads it back", function()
      local dir = T.tmpdir()
      local _, listed = run { "--format", "csv", "list", "--all" }
      local _, exported = run { "export", "csv" }
      assert.are.equal(exported, listed)
      assert.truthy(listed:find('"[""billing"",""core""]"', 1, true))
      spit(dir .. "/taxonomy.csv", listed)
      local status, out = run { "plan", dir .. "/taxonomy.csv", "--exit-code" }
      assert.are.equal(0, status)
      assert.are.equal("Plan: 0 to create, 0 to update, 0 to delete.\n", out)
      spit(dir .. "/taxonomy.csv", (listed:gsub("Seeded event 5", "Edited in a spreadsheet")))
      status, out = run { "plan", dir .. "/taxonomy.csv", "--exit-code" }
      assert.are.equal(3, status)
      assert.matches('description: "Seeded event 5" → "Edited in a spreadsheet"', out)
      assert.are.equal(0, (run { "apply", dir .. "/taxonomy.csv" }))
      assert.are.equal("Edited in a spreadsheet", select(2, state()).event_0005.description)
    end)
  end)

  describe("reads of many pages show progress on a terminal (list --all and export showed none)", function()
    it("counts the definitions read on stderr when it is a terminal, and only then", function()
      helpers.reset { seed = 250 }
      local _, screen = run_tty { "list", "--all", "--search", "event_" }
      -- the pages after the first come concurrently (client:all): the count grows to 250
      assert.matches("reading definitions: 100\r[^\n]*reading definitions: 250\n", screen)
      local file = T.tmpdir() .. "/taxonomy.csv"
      _, screen = run_tty { "export", "csv", "--out", file }
      assert.matches("reading definitions: 250\n", screen)
      local status, out, err = run { "list", "--all" }
      assert.are.equal(0, status)
      assert.are.equal(250, #json(out))
      assert.are.equal("", err)
      local s, _, e = main({ "export", "snapshot" }, nil, { [2] = true })
      assert.are.equal(0, s)
      assert.matches("^\rreading definitions: 100\rreading definitions: [12][05]0\rreading definitions: 250\n$", e)
    end)

    it("never shows a list with a definition missing when one is deleted while it reads", function()
      helpers.reset { seed = 250 }
      -- after the first page, a definition ahead of the rest is deleted: the pages by offset shift
      helpers.control("POST", "ingest", { after = 1, project_id = 1, delete = { "event_0001" } })
      local status, screen = run_tty { "list", "--all", "--format", "json" }
      assert.are.equal(1, status)
      assert.matches("changed while paging", screen)
      assert.is_nil(screen:find('"event_0250"', 1, true)) -- no list was printed
    end)
  end)

  describe("errors a person can act on (a doubled prefix, a bad host not echoed, a bare 401)", function()
    it("print one prefix per line", function()
      for _, argv in ipairs { { "get", T.UNKNOWN }, { "create", "x", "--tag", " " }, { "update", "event_0001",
        "--description", "x" } } do
        local _, _, err = run(argv, { POSTHOG_PERSONAL_API_KEY = argv[1] == "update" and helpers.READ_KEY or nil })
        for line in err:gmatch("[^\n]+") do
          assert.matches("^posthog%-evdefs: ", line)
          assert.is_nil(line:find("posthog.event_definitions: ", 1, true), line)
        end
      end
    end)

    it("echo the offending value, never the key", function()
      local _, _, err = run { "--host", "ftp://example.com", "list" }
      assert.matches('%(%-%-host "ftp://example%.com"%)', err)
      _, _, err = run({ "list" }, { POSTHOG_HOST = "example.com" })
      assert.matches('%(POSTHOG_HOST "example%.com"%)', err)
      _, _, err = run { "--project-id", "abc", "list" }
      assert.matches('%(%-%-project%-id "abc"%)', err)
      _, _, err = run { "get", "event_9999" }
      assert.matches('no definition named "event_9999" in project 1', err)
      _, _, err = run({ "list" }, { POSTHOG_PERSONAL_API_KEY = "phx_secret_not_valid" })
      assert.is_nil(err:find("phx_secret_not_valid", 1, true))
    end)

    it("hint at the other region after a 401, and name the host that does not answer", function()
      local _, _, err = run({ "list" }, { POSTHOG_PERSONAL_API_KEY = "phx_not_a_real_key" })
      assert.matches("^posthog%-evdefs: 401 [^\n]+\nposthog%-evdefs: hint: [^\n]*https://us%.posthog%.com[^\n]*"
        .. "https://eu%.posthog%.com", err)
      local messages = require "posthog.event_definitions.cli.messages"
      local e401 = { status = 401, kind = "http" }
      assert.matches("%-%-host https://eu%.posthog%.com", messages.hint({ host = "https://us.posthog.com" }, e401))
      assert.matches("%-%-host https://us%.posthog%.com", messages.hint({ host = "https://eu.posthog.com" }, e401))
      _, _, err = run { "--host", "http://127.0.0.1:1", "list" }
      assert.matches("\nposthog%-evdefs: hint: nothing answered at http://127%.0%.0%.1:1", err)
    end)
  end)

  describe("metrics and scoped keys (a bare 403 for every scoped key)", function()
    it("says that PostHog refuses scoped keys on metrics", function()
      local status, out, err = run { "metrics", "event_0007" }
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches("^posthog%-evdefs: 403 [^\n]+\nposthog%-evdefs: hint: [^\n]*scopes", err)
      status, out = run({ "metrics", "event_0007" }, { POSTHOG_PERSONAL_API_KEY = helpers.LEGACY_KEY })
      assert.are.equal(0, status)
      assert.are.same({ query_usage_30_day = 7 }, json(out))
    end)
  end)

  describe("an offline way to try it (make fake-server printed only a URL and started empty)", function()
    it("make fake-server seeds SEED definitions and prints the three export lines", function()
      local dir = T.tmpdir()
      os.execute("setsid make -s fake-server SEED=7 >" .. dir .. "/out 2>" .. dir .. "/err </dev/null & echo $! >"
        .. dir .. "/pid")
      local pid = slurp(dir .. "/pid"):match("%d+")
      finally(function()
        os.execute("kill -TERM -" .. pid .. " 2>/dev/null; sleep 0.5; rm -rf " .. dir)
      end)
      local exports, printed
      for _ = 1, 100 do -- the background shell may not even have opened the file yet
        local f = io.open(dir .. "/out")
        printed = f and f:read("*a") or ""
        if f then f:close() end
        exports = {}
        for name, value in printed:gmatch("\nexport (POSTHOG_[%u_]+)=(%S+)") do exports[name] = value end
        if exports.POSTHOG_PROJECT_ID then break end
        os.execute("sleep 0.1")
      end
      assert.are.same({ "POSTHOG_HOST", "POSTHOG_PERSONAL_API_KEY", "POSTHOG_PROJECT_ID" }, (function()
        local keys = {}
        for k in pairs(exports) do keys[#keys + 1] = k end
        table.sort(keys)
        return keys
      end)(), printed)
      local status, out = run({ "list", "--all" }, exports)
      assert.are.equal(0, status)
      assert.are.equal(7, #json(out))
    end)
  end)
end)
