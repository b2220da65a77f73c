-- arith.lua — basic arithmetic (interpreter category), comparable with reasoning-gym's
-- basic_arithmetic.
--
-- Models: evaluate an integer expression built from + - * / and parentheses, where every
-- division is exact. Levels: 1 = 2-3 terms of 1-2 digits with + -; 2 = 3-4 terms up to 2
-- digits with + - *; 3 = 4-6 terms up to 3 digits with + - * / and parentheses; 4 = 6-8
-- terms up to 4 digits, deeper nesting and negative numbers.
-- Tools: calc{expression} evaluates an arithmetic expression exactly (integers and
-- rationals) and returns the value as a string.
-- Verify: the final answer is compared numerically (ef.verify.numeric, atol 1e-9) with
-- the expression's value; answers 0 and 1 are never generated so constants fail.

local env = {name = "arith", version = 1, category = "interpreter", levels = 4,
             description = "Evaluate integer arithmetic expressions with exact division"}

local LV = {
  {terms = {2, 3}, digits = 2, ops = {"+", "-"}, neg = false},
  {terms = {3, 4}, digits = 2, ops = {"+", "-", "*"}, neg = false},
  {terms = {4, 6}, digits = 3, ops = {"+", "-", "*", "/"}, neg = false},
  {terms = {6, 8}, digits = 4, ops = {"+", "-", "*", "/"}, neg = true},
}
for _, lv in ipairs(LV) do lv.maxv = math.tointeger(10 ^ lv.digits - 1) end

-- Exact rational evaluator: a tiny recursive-descent parser over + - * / ( ) and integers,
-- reading the expression's bytes from a list made by one string.byte call, and carrying
-- each rational as two values n, d (integers stay n, 1 without a gcd).
local byte, sub = string.byte, string.sub
local abs, min = math.abs, math.min
local function gcd(a, b) while b ~= 0 do a, b = b, a % b end return abs(a) end
local function rat(n, d)
  if d == 0 then error("division by zero") end
  if d < 0 then n, d = -n, -d end
  local g = gcd(n, d); if g > 1 then n, d = n // g, d // g end
  return n, d
end
local SPACE, LP, RP, PLUS, MINUS, STAR, SLASH = 32, 40, 41, 43, 45, 42, 47
local DIGIT_VALUE = {} -- byte -> digit value, for the bytes of "0".."9"
for b = 48, 57 do DIGIT_VALUE[b] = b - 48 end
-- The parser's text and its bytes live in these upvalues for the length of one evaluate()
-- (set at its start), so its functions are made once, not per call; each function takes
-- the position to read from and returns its value and the position after it (spaces
-- after it skipped).
local S, B = "", {}
local expr
local function atom(p)
  local bytes = B
  local b = bytes[p]
  while b == SPACE do p = p + 1; b = bytes[p] end
  if b == LP then
    local n, d; n, d, p = expr(p + 1)
    if bytes[p] ~= RP then error("expected ) at " .. p) end
    p = p + 1; b = bytes[p]
    while b == SPACE do p = p + 1; b = bytes[p] end
    return n, d, p
  elseif b == MINUS then local n, d; n, d, p = atom(p + 1); return -n, d, p
  end
  local v, dv, start = 0, DIGIT_VALUE, p
  local x = dv[b]
  while x do v = v * 10 + x; p = p + 1; x = dv[bytes[p]] end
  if p == start then error("unexpected '" .. sub(S, p, p) .. "' at " .. p) end
  if p - start > 15 then error("number too large") end
  b = bytes[p]
  while b == SPACE do p = p + 1; b = bytes[p] end
  return v, 1, p
end
local function term(p)
  local n, d; n, d, p = atom(p)
  local bytes = B
  while true do
    local b = bytes[p]
    if b == STAR then
      local m, e; m, e, p = atom(p + 1)
      if d == 1 and e == 1 then n = n * m else n, d = rat(n * m, d * e) end
    elseif b == SLASH then local m, e; m, e, p = atom(p + 1); n, d = rat(n * e, d * m)
    else return n, d, p end
  end
end
function expr(p)
  local n, d; n, d, p = term(p)
  local bytes = B
  while true do
    local b = bytes[p]
    if b == PLUS then
      local m, e; m, e, p = term(p + 1)
      if d == 1 and e == 1 then n = n + m else n, d = rat(n * e + m * d, d * e) end
    elseif b == MINUS then
      local m, e; m, e, p = term(p + 1)
      if d == 1 and e == 1 then n = n - m else n, d = rat(n * e - m * d, d * e) end
    else return n, d, p end
  end
end
local function evaluate(s)
  if #s > 2000 then error("expression too long") end
  S, B = s, {byte(s, 1, -1)}
  local n, d, p = expr(1)
  if B[p] then error("unexpected '" .. sub(S, p, p) .. "' at " .. p) end
  return n, d
end
local function rat_str(n, d) if d == 1 then return tostring(n) end return n .. "/" .. d end

env.tools = {
  calc = {
    description = "Evaluate an arithmetic expression with integers, + - * / and parentheses, exactly.",
    parameters = {type = "object", properties = {expression = {type = "string", description = "e.g. (12 + 3) * 4 / 5"}},
                  required = {"expression"}},
    run = function(_, args) return {value = rat_str(evaluate(args.expression))} end,
  },
}

-- The rng's methods, looked up once per task (generate sets them; every rng shares them).
local tostring = tostring
local r_int, r_bool, r_choice

-- Builds a random expression over n leaves; returns text, value (integer), precedence.
local function build(rng, n, lv)
  if n == 1 then
    local v = r_int(rng, 1, lv.maxv)
    if lv.neg and r_bool(rng, 0.15) then return "(-" .. v .. ")", -v, 3 end
    return tostring(v), v, 3
  end
  local nl = r_int(rng, 1, n - 1)
  local lt, lval, lp = build(rng, nl, lv)
  local op = r_choice(rng, lv.ops)
  local rt, rval, rp
  if op == "/" then
    -- right side: a small divisor of lval (exact division), else fall back to *
    local divs, k = {}, 0
    local a = abs(lval)
    for d = 2, min(a, 60) do if a % d == 0 then k = k + 1; divs[k] = d end end
    if k == 0 then op = "*" else local d = r_choice(rng, divs); rt, rval, rp = tostring(d), d, 3 end
  end
  if not rt then rt, rval, rp = build(rng, n - nl, lv) end
  if op == "*" and abs(lval * rval) > 1e12 then op = "+" end
  local prec = (op == "+" or op == "-") and 1 or 2
  if lp < prec then lt = "(" .. lt .. ")" end
  if rp <= prec then rt = "(" .. rt .. ")" end  -- right operand of - or / needs parentheses at equal precedence
  local v
  if op == "+" then v = lval + rval elseif op == "-" then v = lval - rval
  elseif op == "*" then v = lval * rval else v = lval // rval end
  return lt .. " " .. op .. " " .. rt, v, prec
end

function env.generate(rng, level)
  local lv = LV[level]
  r_int, r_bool, r_choice = rng.int, rng.bool, rng.choice
  while true do
    local n = r_int(rng, lv.terms[1], lv.terms[2])
    local text, v = build(rng, n, lv)
    if v ~= 0 and v ~= 1 then
      return {prompt = "Calculate " .. text .. ". Give the result as an integer.",
              answer = tostring(v), meta = {expression = text}}
    end
  end
end

function env.solve(task, call)
  local r = call("calc", {expression = task.meta.expression})
  return r.value
end

local EXACT = {rtol = 0, atol = 1e-9}
function env.verify(task, answer)
  return ef.verify.numeric(answer, task.answer, EXACT)
end

return env
