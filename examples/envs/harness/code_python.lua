-- harness/code_python.lua — what the code envs (code_algos.lua, code_strings.lua) share:
-- the Python literal of a value for prompts, the run_examples tool, the hidden-test
-- runner and the output comparison, and the reference agent and verifier built on them.
--
--   local py = require("harness.code_python")   -- at the top of an env file
--   env.tools = {run_examples = py.run_examples_tool()}
--   function env.solve(task, call) return py.solve(task, call) end
--   function env.verify(task, answer) return py.verify(task, answer, false) end
--
-- A task's state holds {fname, examples} (the visible examples as [args, expected] pairs),
-- its answer the reference Python code, and meta {fname, tests} (the hidden cases). With
-- expand_lcg, hidden inputs of the form {__lcg__ = {seed, n, lo, hi}} are expanded to
-- lists in the sandbox (a 64-bit LCG, value = lo + (x >> 33) % span), as the env's
-- generator expands them for the expected outputs.
--
-- Loaded by envgen's require (docs/envs.md: Lua text under the env file's folder, run in
-- the env's sandboxed state while the env file loads; the store keeps it bundled with the
-- env). It keeps no state: every value here is the same for every task.

local M = {}

-- Python literal of a JSON-able Lua value (strings, integers, booleans, lists).
function M.pylit(v)
  if type(v) == "boolean" then return v and "True" or "False" end
  if type(v) == "string" then return json.encode(v) end
  if type(v) == "table" then
    local t = {}
    for i, x in ipairs(v) do t[i] = M.pylit(x) end
    return "[" .. table.concat(t, ", ") .. "]"
  end
  return tostring(v)
end

-- The hidden tests' expected outputs never enter the sandbox: the solution runs on the
-- inputs alone and prints what it returns, one "@@<case>\t<json>" line per case, and the
-- outputs are compared here. (A test file judging itself in the sandbox could be fooled by
-- a solution that prints a fake summary or reads the expected values.)
local function runner_file(fname, expand_lcg)
  local t = {"import json, sys", "from solution import " .. fname .. " as _f", ""}
  if expand_lcg then
    t[#t + 1] = table.concat({"def _expand(v):", "    if isinstance(v, dict) and '__lcg__' in v:",
      "        x, n, lo, hi = v['__lcg__']", "        out = []", "        for _ in range(n):",
      "            x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF",
      "            out.append(lo + (x >> 33) % (hi - lo + 1))", "        return out",
      "    if isinstance(v, list):", "        return [_expand(x) for x in v]", "    return v", ""}, "\n")
  else
    t[#t + 1] = "def _expand(v):\n    return v\n"
  end
  t[#t + 1] = [[
_out = sys.stdout
for _i, _args in enumerate(json.load(open('inputs.json'))):
    try:
        _r = json.dumps(_f(*_expand(_args)))
    except BaseException:
        _r = '!'
    _out.write('@@%d\t%s\n' % (_i, _r))
    _out.flush()
]]
  return table.concat(t, "\n")
end

-- Equal as JSON values: numbers, strings, booleans, and lists element by element (a table
-- with other keys is not a list).
local function is_list(t)
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  if not is_list(a) or not is_list(b) or #a ~= #b then return false end
  for i = 1, #a do
    if not same(a[i], b[i]) then return false end
  end
  return true
end

-- Runs the solution on the hidden inputs; reward = the fraction of cases whose printed
-- output equals the expected one (a case printed twice counts as failed).
local function run_hidden(code, fname, tests, expand_lcg)
  local inputs = json.array({})
  for i, c in ipairs(tests) do inputs[i] = c[1] end
  local r = ef.exec{argv = {"python3", "runner.py"}, wall_ms = 10000, mem_mb = 512,
                    files = {["solution.py"] = code, ["runner.py"] = runner_file(fname, expand_lcg),
                             ["inputs.json"] = json.encode(inputs)}}
  local got, dup = {}, {}
  for i, v in (r.stdout or ""):gmatch("@@(%d+)\t([^\n]*)") do
    i = tonumber(i) + 1
    if got[i] then dup[i] = true end
    got[i] = v
  end
  local passed = 0
  for i, c in ipairs(tests) do
    if got[i] and not dup[i] and got[i] ~= "!" then
      local ok, v = pcall(json.decode, got[i])
      if ok and same(v, c[2]) then passed = passed + 1 end
    end
  end
  return passed / #tests, {passed = passed, failed = #tests - passed, status = r.status}
end

local function examples_file(fname, examples)
  return "import json\nfrom solution import " .. fname .. " as _f\nfor args, want in json.loads(" ..
    json.encode(json.encode(examples)) .. "):\n    got = json.loads(json.dumps(_f(*args)))\n" ..
    "    print(json.dumps({'args': args, 'got': got, 'expected': want, 'ok': got == want}))\n"
end

function M.extract_code(answer)
  if type(answer) ~= "string" then return nil end
  local best
  for block in answer:gmatch("```[%w]*\n(.-)```") do if not best or #block > #best then best = block end end
  return best or answer
end

-- The run_examples tool (a new table for each env that asks).
function M.run_examples_tool()
  return {
    description = "Run Python code defining the function against the visible examples (in the sandbox) and show " ..
                  "each result.",
    parameters = {type = "object", properties = {code = {type = "string"}}, required = {"code"}},
    run = function(state, args)
      local r = ef.exec{argv = {"python3", "examples.py"}, wall_ms = 5000, mem_mb = 256,
                        files = {["solution.py"] = args.code, ["examples.py"] = examples_file(state.fname, state.examples)}}
      return {status = r.status, stdout = (r.stdout or ""):sub(1, 4000), stderr = (r.stderr or ""):sub(-2000)}
    end,
  }
end

-- Reference agent: writes the implementation, tries it on the examples, submits it.
function M.solve(task, call)
  local code = task.answer
  call("run_examples", {code = code})  -- a tool error (no sandbox) is reported and ignored
  return "```python\n" .. code .. "```"
end

-- The verifier: the answer's code must define the function; reward = the fraction of the
-- hidden cases it gets right.
function M.verify(task, answer, expand_lcg)
  local code = M.extract_code(answer)
  local fname = task.meta.fname
  if not code or not code:find("def%s+" .. fname .. "%s*%(") then
    return 0, {reason = "no definition of " .. fname}
  end
  return run_hidden(code, fname, task.meta.tests, expand_lcg)
end

return M
