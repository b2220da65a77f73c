-- countdown.lua — the countdown numbers game (interpreter category), comparable with
-- reasoning-gym's countdown.
--
-- Models: reach a target number from given numbers with + - * / and parentheses, using
-- every given number exactly once (intermediate results may be fractions). Levels:
-- 1 = 3 numbers, target 10-100; 2 = 4 numbers, target 50-500; 3 = 5 numbers, target
-- 100-999; 4 = 6 numbers, target 100-999 with larger numbers.
-- Tools: calc{expression} evaluates an expression exactly and returns its value.
-- Verify: the answer must be an expression (an "= target" suffix and \boxed{} are
-- tolerated) whose numbers are exactly the given multiset and whose exact value is the
-- target; anything else scores 0.

local env = {name = "countdown", version = 1, category = "interpreter", levels = 4,
             description = "Reach a target from given numbers with + - * /"}

local LV = {
  {n = 3, lo = 1, hi = 20, tmin = 10, tmax = 100},
  {n = 4, lo = 1, hi = 50, tmin = 50, tmax = 500},
  {n = 5, lo = 1, hi = 100, tmin = 100, tmax = 999},
  {n = 6, lo = 1, hi = 100, tmin = 100, tmax = 999},
}

-- Exact rational evaluator: a tiny recursive-descent parser over + - * / ( ) and integers.
local function gcd(a, b) while b ~= 0 do a, b = b, a % b end return math.abs(a) end
local function rat(n, d)
  if d == 0 then error("division by zero") end
  if d < 0 then n, d = -n, -d end
  local g = gcd(n, d); if g > 1 then n, d = n // g, d // g end
  return {n, d}
end
local function evaluate(s)
  if #s > 2000 then error("expression too long") end
  local pos = 1
  local function skip() pos = s:find("[^ ]", pos) or #s + 1 end
  local expr
  local function atom()
    skip()
    local c = s:sub(pos, pos)
    if c == "(" then
      pos = pos + 1; local v = expr(); skip()
      if s:sub(pos, pos) ~= ")" then error("expected ) at " .. pos) end
      pos = pos + 1; return v
    elseif c == "-" then pos = pos + 1; local v = atom(); return {-v[1], v[2]}
    end
    local num = s:match("^%d+", pos)
    if not num then error("unexpected '" .. c .. "' at " .. pos) end
    if #num > 15 then error("number too large") end
    pos = pos + #num
    return {math.tointeger(tonumber(num)), 1}
  end
  local function term()
    local v = atom()
    while true do
      skip()
      local c = s:sub(pos, pos)
      if c == "*" then pos = pos + 1; local w = atom(); v = rat(v[1] * w[1], v[2] * w[2])
      elseif c == "/" then pos = pos + 1; local w = atom(); v = rat(v[1] * w[2], v[2] * w[1])
      else return v end
    end
  end
  function expr()
    local v = term()
    while true do
      skip()
      local c = s:sub(pos, pos)
      if c == "+" then pos = pos + 1; local w = term(); v = rat(v[1] * w[2] + w[1] * v[2], v[2] * w[2])
      elseif c == "-" then pos = pos + 1; local w = term(); v = rat(v[1] * w[2] - w[1] * v[2], v[2] * w[2])
      else return v end
    end
  end
  local v = expr(); skip()
  if pos <= #s then error("unexpected '" .. s:sub(pos, pos) .. "' at " .. pos) end
  return v
end
local function rat_str(v) if v[2] == 1 then return tostring(v[1]) end return v[1] .. "/" .. v[2] end

env.tools = {
  calc = {
    description = "Evaluate an arithmetic expression with integers, + - * / and parentheses, exactly.",
    parameters = {type = "object", properties = {expression = {type = "string"}}, required = {"expression"}},
    run = function(_, args) return {value = rat_str(evaluate(args.expression))} end,
  },
}

-- Random expression over the given numbers (all used once); integer intermediates only.
local function build(rng, nums, i, j)
  if i == j then return tostring(nums[i]), nums[i], 3 end
  local m = rng:int(i, j - 1)
  local lt, lv, lp = build(rng, nums, i, m)
  local rt, rv, rp = build(rng, nums, m + 1, j)
  local ops = {"+", "*"}
  if lv - rv > 0 then ops[#ops + 1] = "-"; ops[#ops + 1] = "-" end
  if rv > 1 and lv % rv == 0 then ops[#ops + 1] = "/"; ops[#ops + 1] = "/" end
  if lv * rv > 5000 then ops[2] = "+" end
  local op = rng:choice(ops)
  local prec = (op == "+" or op == "-") and 1 or 2
  if lp < prec then lt = "(" .. lt .. ")" end
  if rp < prec or (rp == prec and (op == "-" or op == "/")) then rt = "(" .. rt .. ")" end
  local v
  if op == "+" then v = lv + rv elseif op == "-" then v = lv - rv elseif op == "*" then v = lv * rv else v = lv // rv end
  return lt .. " " .. op .. " " .. rt, v, prec
end

function env.generate(rng, level)
  local lv = LV[level]
  while true do
    local nums = {}
    for k = 1, lv.n do nums[k] = rng:int(lv.lo, lv.hi) end
    local text, v = build(rng, nums, 1, #nums)
    if v >= lv.tmin and v <= lv.tmax then
      local shown = {}
      for k = 1, #nums do shown[k] = nums[k] end
      table.sort(shown)
      local list = table.concat(shown, ", ")
      return {prompt = string.format("Using all the numbers %s, create an expression that equals %d. " ..
                "You can use + - * / and parentheses, and each number exactly once. " ..
                "Answer with the expression only.", list, v),
              answer = text, meta = {numbers = shown, target = v}}
    end
  end
end

function env.solve(task, call)
  local r = call("calc", {expression = task.answer})
  assert(r.value == tostring(task.meta.target))
  return task.answer
end

function env.verify(task, answer)
  if type(answer) ~= "string" then answer = tostring(answer) end
  local s = answer:match("\\boxed{(.-)}") or answer
  s = s:gsub("=%s*%-?%d+%s*$", ""):gsub("^%s+", ""):gsub("%s+$", "")
  s = s:gsub("[×x]", "*"):gsub("÷", "/")
  if s == "" or s:find("[^%d%s%+%-%*/%(%)]") then return 0, {reason = "not an expression"} end
  local used = {}
  for d in s:gmatch("%d+") do used[#used + 1] = math.tointeger(tonumber(d)) end
  table.sort(used)
  local want = task.meta.numbers
  if #used ~= #want then return 0, {reason = "numbers not used exactly once"} end
  for k = 1, #want do if used[k] ~= want[k] then return 0, {reason = "numbers not used exactly once"} end end
  local ok, v = pcall(evaluate, s)
  if not ok then return 0, {reason = "does not evaluate"} end
  if v[2] == 1 and v[1] == task.meta.target then return 1 end
  return 0, {reason = "value " .. rat_str(v)}
end

return env
