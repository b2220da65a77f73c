-- examples/envs/harness/harness.lua — a plain-lua5.4 stand-in for the envgen runtime.
--
-- It provides what /work/notes/lua_api.md promises an env (rng, json, ef.search, ef.exec,
-- ef.verify.*, call(), require of modules under the env's folder) closely enough to exercise every env in examples/envs/ before the C
-- runtime runs them: it loads an env, generates N tasks per level, round-trips each task
-- through JSON (as the store does), runs solve through call() (arguments checked against
-- the tool's JSON Schema, results round-tripped through JSON), checks verify gives 1, and
-- checks that trivial answers (empty, "0", the prompt echoed, another task's answer) give
-- less than 1. It reports counts and time per env.
--
--   lua5.4 examples/envs/harness/harness.lua [-n N] [-seed S] examples/envs/*.lua
--
-- Not part of the product: io/os are used here (temp files for ef.exec) and nowhere in envs.
-- The real check is `envforge gen examples/envs/*.lua -n 1000 --seed 1`; this harness is
-- stricter on one point (an unmarked empty table is an error, not a guess) and looser on
-- others (naive term-matching search instead of FTS5 BM25, FNV instead of SHA-256 for
-- state_hash, no sandbox), so an env should pass both.

------------------------------------------------------------------ rng (xoshiro256**)
local function splitmix(s)
  s = s + 0x9E3779B97F4A7C15
  local z = s
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return s, z ~ (z >> 31)
end
local function rotl(x, k) return (x << k) | (x >> (64 - k)) end
local Rng = {}
Rng.__index = Rng
function new_rng(seed)
  local r = setmetatable({}, Rng)
  local s = seed
  s, r[1] = splitmix(s); s, r[2] = splitmix(s); s, r[3] = splitmix(s); s, r[4] = splitmix(s)
  return r
end
function Rng:next()
  local s0, s1, s2, s3 = self[1], self[2], self[3], self[4]
  local result = rotl(s1 * 5, 7) * 9
  local t = s1 << 17
  s2 = s2 ~ s0; s3 = s3 ~ s1; s1 = s1 ~ s2; s0 = s0 ~ s3; s2 = s2 ~ t; s3 = rotl(s3, 45)
  self[1], self[2], self[3], self[4] = s0, s1, s2, s3
  return result
end
function Rng:int(lo, hi)
  assert(math.type(lo) == "integer" and math.type(hi) == "integer" and lo <= hi, "rng:int bad range")
  return lo + (self:next() >> 1) % (hi - lo + 1)
end
function Rng:float() return (self:next() >> 11) * (1.0 / 9007199254740992.0) end
function Rng:normal(mu, sigma)
  local u1 = self:float(); if u1 < 1e-300 then u1 = 1e-300 end
  local u2 = self:float()
  return mu + sigma * math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
end
function Rng:bool(p) return self:float() < (p or 0.5) end
function Rng:choice(list) assert(#list > 0, "rng:choice of empty list"); return list[self:int(1, #list)] end
function Rng:shuffle(list)
  for i = #list, 2, -1 do local j = self:int(1, i); list[i], list[j] = list[j], list[i] end
  return list
end
function Rng:sample(list, k)
  assert(k <= #list, "rng:sample k > #list")
  local idx = {}
  for i = 1, #list do idx[i] = i end
  local out = {}
  for i = 1, k do
    local j = self:int(i, #list); idx[i], idx[j] = idx[j], idx[i]
    out[i] = list[idx[i]]
  end
  return out
end

------------------------------------------------------------------ json
local ARR, OBJ = {__json = "array"}, {__json = "object"}
local NULL = setmetatable({}, {__json = "null", __tostring = function() return "null" end})
json = {null = NULL}
function json.array(t) return setmetatable(t or {}, ARR) end
function json.object(t) return setmetatable(t or {}, OBJ) end
local escapes = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
                 ['\r'] = '\\r', ['\t'] = '\\t'}
local function enc_str(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return escapes[c] or string.format("\\u%04x", c:byte()) end) .. '"'
end
local function encode(v, out, path, depth)
  if depth > 64 then error("json: nesting too deep at " .. path) end
  local tv = type(v)
  if v == NULL then out[#out + 1] = "null"
  elseif tv == "string" then
    if not utf8.len(v) then error("json: invalid UTF-8 at " .. path) end
    out[#out + 1] = enc_str(v)
  elseif tv == "number" then
    if math.type(v) == "integer" then out[#out + 1] = string.format("%d", v)
    else
      if v ~= v or v == math.huge or v == -math.huge then error("json: non-finite number at " .. path) end
      local s = string.format("%.15g", v)
      if tonumber(s) ~= v then s = string.format("%.16g", v) end
      if tonumber(s) ~= v then s = string.format("%.17g", v) end
      if not s:find("[%.eEn]") then s = s .. ".0" end
      out[#out + 1] = s
    end
  elseif tv == "boolean" then out[#out + 1] = tostring(v)
  elseif tv == "table" then
    local mt = getmetatable(v)
    local n = #v
    local isarr
    if mt == ARR then isarr = true
    elseif mt == OBJ then isarr = false
    elseif next(v) == nil then error("json: unmarked empty table at " .. path .. " (use json.array/json.object)")
    else
      local cnt = 0
      for _ in pairs(v) do cnt = cnt + 1 end
      isarr = (cnt == n)
    end
    if isarr then
      local cnt = 0
      for _ in pairs(v) do cnt = cnt + 1 end
      if cnt ~= n then error("json: array with holes or extra keys at " .. path) end
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out, path .. "[" .. i .. "]", depth + 1)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" then error("json: non-string key " .. tostring(k) .. " at " .. path) end
        keys[#keys + 1] = k
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = enc_str(k); out[#out + 1] = ":"
        encode(v[k], out, path .. "." .. k, depth + 1)
      end
      out[#out + 1] = "}"
    end
  else error("json: cannot encode " .. tv .. " at " .. path) end
end
function json.encode(v) local out = {}; encode(v, out, "$", 0); return table.concat(out) end
function json.decode(s)
  local pos = 1
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local val
  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = s:sub(pos, pos)
      if c == "" then error("json: unterminated string") end
      if c == '"' then pos = pos + 1; break end
      if c == "\\" then
        local e = s:sub(pos + 1, pos + 1)
        local map = {b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/"}
        if e == "u" then
          local cp = tonumber(s:sub(pos + 2, pos + 5), 16)
          pos = pos + 6
          if cp >= 0xD800 and cp <= 0xDBFF and s:sub(pos, pos + 1) == "\\u" then
            local lo = tonumber(s:sub(pos + 2, pos + 5), 16)
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00); pos = pos + 6
          end
          out[#out + 1] = utf8.char(cp)
        else out[#out + 1] = map[e] or error("json: bad escape"); pos = pos + 2 end
      else
        local j = s:find('["\\]', pos) or #s + 1
        out[#out + 1] = s:sub(pos, j - 1); pos = j
      end
    end
    return table.concat(out)
  end
  function val()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      pos = pos + 1; local t = json.object({}); ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
      while true do
        ws(); local k = str(); ws()
        assert(s:sub(pos, pos) == ":", "json: expected :"); pos = pos + 1
        t[k] = val(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "}" then return t end
        assert(d == ",", "json: expected , or }")
      end
    elseif c == "[" then
      pos = pos + 1; local t = json.array({}); ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
      while true do
        t[#t + 1] = val(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "]" then return t end
        assert(d == ",", "json: expected , or ]")
      end
    elseif c == '"' then return str()
    elseif s:sub(pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif s:sub(pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif s:sub(pos, pos + 3) == "null" then pos = pos + 4; return NULL
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" then error("json: unexpected '" .. c .. "' at " .. pos) end
      pos = pos + #num
      if num:find("[%.eE]") then return tonumber(num) + 0.0 end
      return math.tointeger(tonumber(num)) or tonumber(num)
    end
  end
  local v = val(); ws()
  if pos <= #s then error("json: trailing data") end
  return v
end
function roundtrip(v) return json.decode(json.encode(v)) end

------------------------------------------------------------------ ef
ef = {verify = {}}
local search_cache = setmetatable({}, {__mode = "k"})
function ef.search(docs, query, k)
  -- naive stand-in for FTS5 BM25: all query terms must occur (implicit AND); score = term
  -- counts in text + 3x in title.
  k = k or 5
  local terms = {}
  for w in query:lower():gmatch("[%w]+") do terms[#terms + 1] = w end
  local idx = search_cache[docs]
  if not idx then
    idx = {}
    for i, d in ipairs(docs) do idx[i] = {title = d.title:lower(), text = d.text:lower()} end
    search_cache[docs] = idx
  end
  local hits = {}
  if #terms == 0 then return json.array({}) end
  for i, d in ipairs(docs) do
    local score, all = 0, true
    for _, t in ipairs(terms) do
      local pat = "%f[%w]" .. t .. "%f[^%w]"
      local nt = select(2, idx[i].title:gsub(pat, ""))
      local nx = select(2, idx[i].text:gsub(pat, ""))
      if nt + nx == 0 then all = false; break end
      score = score + 3 * nt + nx
    end
    if all then hits[#hits + 1] = {i = i, score = score} end
  end
  table.sort(hits, function(a, b) if a.score ~= b.score then return a.score > b.score end return a.i < b.i end)
  local out = json.array({})
  for j = 1, math.min(k, #hits) do
    local d = docs[hits[j].i]
    out[j] = {id = d.id, title = d.title, snippet = d.text:sub(1, 160), score = -hits[j].score + 0.0}
  end
  return out
end

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
function ef.exec(spec)
  local dir = io.popen("mktemp -d"):read("l")
  for name, content in pairs(spec.files or {}) do
    local f = assert(io.open(dir .. "/" .. name, "wb")); f:write(content); f:close()
  end
  local argv = {}
  for i, a in ipairs(spec.argv) do argv[i] = sh_quote(a) end
  local secs = (spec.wall_ms or 10000) / 1000
  local cmd = string.format("cd %s && timeout %.3f %s <%s 2>%s/.stderr", sh_quote(dir), secs,
                            table.concat(argv, " "), spec.stdin and (dir .. "/.stdin") or "/dev/null", dir)
  if spec.stdin then local f = io.open(dir .. "/.stdin", "wb"); f:write(spec.stdin); f:close() end
  local p = io.popen(cmd)
  local out = p:read("a")
  local _, _, code = p:close()
  local f = io.open(dir .. "/.stderr"); local err = f:read("a"); f:close()
  os.execute("rm -rf " .. sh_quote(dir))
  local status = code == 0 and "ok" or (code == 124 and "timeout" or "nonzero-exit")
  return {status = status, exit_code = code, stdout = out, stderr = err}
end

local function norm_text(s, opts)
  s = tostring(s)
  if not (opts and opts.ws == false) then s = s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "") end
  if not (opts and opts.case) then s = s:lower() end
  return s
end
function ef.verify.exact(answer, expected, opts)
  if answer == nil or answer == NULL then return 0 end
  return norm_text(answer, opts) == norm_text(expected, opts) and 1 or 0
end
local function parse_num(a)
  if type(a) == "number" then return a end
  if type(a) ~= "string" then return nil end
  local b = a:match("\\boxed{([^}]*)}") or a
  b = b:gsub("[%s,$]", "")
  local p, q = b:match("^(-?%d+)/(%d+)$")
  if p then return tonumber(p) / tonumber(q) end
  return tonumber(b)
end
function ef.verify.numeric(answer, expected, opts)
  local a, e = parse_num(answer), parse_num(expected)
  if not a and opts and opts.extract and type(answer) == "string" then
    local last
    for n in answer:gmatch("-?%d[%d,]*%.?%d*") do last = n end
    a = last and parse_num((last:gsub("%.$", "")))
  end
  if not a or not e then return 0 end
  local rtol = (opts and opts.rtol) or 1e-6
  local atol = (opts and opts.atol) or 0
  return math.abs(a - e) <= atol + rtol * math.abs(e) and 1 or 0
end
function ef.verify.regex(answer, pattern) return tostring(answer):find(pattern) and 1 or 0 end
function ef.verify.json(answer, expected)
  local ok, v = pcall(function() return type(answer) == "string" and json.decode(answer) or answer end)
  if not ok then return 0 end
  return json.encode(v) == json.encode(expected) and 1 or 0
end
function ef.verify.state_hash(state)
  local s = json.encode(state)
  local h = 0xcbf29ce484222325
  for i = 1, #s do h = (h ~ s:byte(i)) * 0x100000001b3 end
  return string.format("%016x", h)
end
function ef.verify.unit_tests(spec)
  local r = ef.exec(spec)
  local passed = tonumber(r.stdout:match("(%d+) passed")) or 0
  local failed = tonumber(r.stdout:match("(%d+) failed")) or 0
  local total = passed + failed
  local reward = 0
  if total > 0 then reward = passed / total end
  if r.status ~= "ok" and reward == 1 then reward = 0 end
  return reward, {passed = passed, failed = failed, status = r.status}
end

------------------------------------------------------------------ schema check (subset)
local function check_schema(schema, v, path)
  local t = schema.type
  if t == "object" then
    if type(v) ~= "table" then return path .. ": expected object" end
    for _, req in ipairs(schema.required or {}) do
      if v[req] == nil then return path .. ": missing required '" .. req .. "'" end
    end
    for k, sub in pairs(v) do
      local ps = schema.properties and schema.properties[k]
      if not ps then
        if schema.additionalProperties == false then return path .. ": unexpected '" .. k .. "'" end
      else
        local e = check_schema(ps, sub, path .. "." .. k); if e then return e end
      end
    end
  elseif t == "array" then
    if type(v) ~= "table" then return path .. ": expected array" end
    for i, sub in ipairs(v) do
      if schema.items then local e = check_schema(schema.items, sub, path .. "[" .. i .. "]"); if e then return e end end
    end
  elseif t == "string" then
    if type(v) ~= "string" then return path .. ": expected string" end
    if schema.enum then
      local ok = false
      for _, e in ipairs(schema.enum) do if e == v then ok = true end end
      if not ok then return path .. ": not in enum" end
    end
  elseif t == "integer" then
    if math.type(v) ~= "integer" then return path .. ": expected integer" end
    if schema.minimum and v < schema.minimum then return path .. ": below minimum" end
    if schema.maximum and v > schema.maximum then return path .. ": above maximum" end
  elseif t == "number" then if type(v) ~= "number" then return path .. ": expected number" end
  elseif t == "boolean" then if type(v) ~= "boolean" then return path .. ": expected boolean" end
  elseif t ~= nil then return path .. ": unknown schema type " .. tostring(t) end
  return nil
end
local function check_schema_def(schema, where)
  assert(type(schema) == "table", where .. ": parameters not a table")
  assert(schema.type == "object", where .. ": parameters.type must be object")
  for k, p in pairs(schema.properties or {}) do
    assert(type(p) == "table" and type(p.type) == "string", where .. ": property " .. k .. " lacks a type")
    if p.type == "array" then assert(type(p.items) == "table", where .. ": array " .. k .. " lacks items") end
  end
  for _, r in ipairs(schema.required or {}) do
    assert(schema.properties and schema.properties[r], where .. ": required '" .. r .. "' not a property")
  end
end

------------------------------------------------------------------ driver
local args = {...}
local N, SEED, files, verbose = 50, 1, {}, false
local i = 1
while i <= #args do
  if args[i] == "-n" then N = tonumber(args[i + 1]); i = i + 2
  elseif args[i] == "-seed" then SEED = tonumber(args[i + 1]); i = i + 2
  elseif args[i] == "-v" then verbose = true; i = i + 1
  else files[#files + 1] = args[i]; i = i + 1 end
end

local function run_episode(env, task)
  local state = task.state ~= nil and roundtrip(task.state) or nil
  local calls = {}
  local function call(name, a)
    local tool = env.tools[name]
    if not tool then return nil, "unknown tool " .. tostring(name) end
    a = a or json.object({})
    if next(a) == nil and getmetatable(a) == nil then json.object(a) end
    local err = check_schema(tool.parameters, a, name)
    if err then error("solve passed bad arguments: " .. err) end
    calls[#calls + 1] = name
    local ok, res = pcall(tool.run, state, roundtrip(a))
    if not ok then return nil, tostring(res) end
    if res == nil then error("tool " .. name .. " returned nil") end
    return roundtrip(res)
  end
  local answer = env.solve(task, call)
  return answer, state, calls
end

local total_fail = 0
for _, file in ipairs(files) do
  -- require as envgen has it (docs/envs.md): Lua text under the env file's folder, no C
  -- modules (this stand-in does not check for links out of the folder)
  package.path = (file:match("^(.*)/[^/]*$") or ".") .. "/?.lua"
  package.cpath = ""
  local env = dofile(file)
  assert(type(env) == "table" and env.name and env.category and env.generate and env.solve and env.verify,
         file .. ": incomplete env table")
  local levels = env.levels or 1
  for tname, tool in pairs(env.tools or {}) do check_schema_def(tool.parameters, file .. ": tool " .. tname) end
  local t0 = os.clock()
  local ntasks, kept, fails, trivial_max, gen_time = 0, 0, {}, 0, 0
  local seen, dups = {}, 0
  local ncalls = 0
  local prev_answer = {}
  for level = 1, levels do
    for k = 1, N do
      ntasks = ntasks + 1
      local rng = new_rng(SEED * 1000003 + level * 7919 + k)
      local g0 = os.clock()
      local ok, task = pcall(env.generate, rng, level)
      if ok then ok, task = pcall(roundtrip, task) end
      gen_time = gen_time + os.clock() - g0
      local reason
      if not ok then reason = "generate: " .. tostring(task)
      else
        local h = json.encode(task)
        if seen[h] then dups = dups + 1 end
        seen[h] = true
        local ok2, answer, state, calls = pcall(run_episode, env, task)
        if not ok2 then reason = "solve: " .. tostring(answer)
        else
          ncalls = ncalls + #calls
          if #calls == 0 and env.tools and next(env.tools) then reason = "solve made no tool calls" end
          local ok3, r, info = pcall(env.verify, task, answer, state)
          local ok3s, rs = pcall(env.verify, task, answer ~= nil and tostring(answer) or "", state)
          if not ok3 then reason = "verify: " .. tostring(r)
          elseif r ~= 1 then reason = "solve reward " .. tostring(r) .. " " .. (info and json.encode(info) or "")
          elseif not ok3s or rs ~= 1 then reason = "solve reward (string form) " .. tostring(rs)
          else
            local trivial = {"", "0", task.prompt}
            if prev_answer[level] ~= nil then trivial[#trivial + 1] = prev_answer[level] end
            for ti, ta in ipairs(trivial) do
              local st = task.state ~= nil and roundtrip(task.state) or nil
              local ok4, tr = pcall(env.verify, task, ta, st)
              if not ok4 then reason = "verify(trivial " .. ti .. ") raised: " .. tostring(tr); break end
              if ti < 4 and tr > trivial_max then trivial_max = tr end
              if tr >= 1 and ti < 4 then reason = "trivial answer " .. ti .. " scored 1"; break end
              if tr >= 1 and ti == 4 and tostring(ta) ~= tostring(answer) then
                if verbose then io.stderr:write("other answer ", tostring(ta), " scored 1 on task with answer ", tostring(answer), "\n") end
                fails["other task's answer scored 1 (" .. level .. ")"] = (fails["other task's answer scored 1 (" .. level .. ")"] or 0) + 1
              end
            end
            prev_answer[level] = answer ~= nil and tostring(answer) or nil
          end
        end
      end
      if reason then
        reason = reason:gsub("\n.*", "")
        fails[reason] = (fails[reason] or 0) + 1
        if verbose then io.stderr:write(file, " L", level, " #", k, ": ", reason, " ", task and task.meta and json.encode(task.meta.family or "") or "", "\n") end
      else kept = kept + 1 end
    end
  end
  local dt = os.clock() - t0
  print(string.format("%-28s tasks=%d kept=%d dups=%d trivial_max=%.3f calls/task=%.1f gen %.0f tasks/s, all %.0f tasks/s",
    file:match("[^/]*$"), ntasks, kept, dups, trivial_max, ncalls / ntasks, ntasks / math.max(gen_time, 1e-9), ntasks / dt))
  for r, c in pairs(fails) do print("    " .. c .. "x " .. r); total_fail = total_fail + c end
end
os.exit(total_fail == 0 and 0 or 1)
