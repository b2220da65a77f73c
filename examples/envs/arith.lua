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
-- reading bytes (no substrings) and carrying each rational as two values n, d.
local byte, sub = string.byte, string.sub
local function gcd(a, b) while b ~= 0 do a, b = b, a % b end return math.abs(a) end
local function rat(n, d)
  if d == 0 then error("division by zero") end
  if d < 0 then n, d = -n, -d end
  local g = gcd(n, d); if g > 1 then n, d = n // g, d // g end
  return n, d
end
local SPACE, LP, RP, PLUS, MINUS, STAR, SLASH = 32, 40, 41, 43, 45, 42, 47
-- The parser's text and position live in these two upvalues for the length of one
-- evaluate() (set at its start), so its functions are made once, not per call.
local S, POS = "", 1
local function skip()
  local b = byte(S, POS)
  while b == SPACE do POS = POS + 1; b = byte(S, POS) end
  return b
end
local expr
local function atom()
  local b = skip()
  if b == LP then
    POS = POS + 1; local n, d = expr()
    if skip() ~= RP then error("expected ) at " .. POS) end
    POS = POS + 1; return n, d
  elseif b == MINUS then POS = POS + 1; local n, d = atom(); return -n, d
  end
  local start, v = POS, 0
  while b and b >= 48 and b <= 57 do v = v * 10 + (b - 48); POS = POS + 1; b = byte(S, POS) end
  if POS == start then error("unexpected '" .. sub(S, POS, POS) .. "' at " .. POS) end
  if POS - start > 15 then error("number too large") end
  return v, 1
end
local function term()
  local n, d = atom()
  while true do
    local b = skip()
    if b == STAR then POS = POS + 1; local m, e = atom(); n, d = rat(n * m, d * e)
    elseif b == SLASH then POS = POS + 1; local m, e = atom(); n, d = rat(n * e, d * m)
    else return n, d end
  end
end
function expr()
  local n, d = term()
  while true do
    local b = skip()
    if b == PLUS then POS = POS + 1; local m, e = term(); n, d = rat(n * e + m * d, d * e)
    elseif b == MINUS then POS = POS + 1; local m, e = term(); n, d = rat(n * e - m * d, d * e)
    else return n, d end
  end
end
local function evaluate(s)
  if #s > 2000 then error("expression too long") end
  S, POS = s, 1
  local n, d = expr()
  if skip() then error("unexpected '" .. sub(S, POS, POS) .. "' at " .. POS) end
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

-- Builds a random expression over n leaves; returns text, value (integer), precedence.
local function build(rng, n, lv)
  if n == 1 then
    local v = rng:int(1, lv.maxv)
    if lv.neg and rng:bool(0.15) then return "(-" .. v .. ")", -v, 3 end
    return tostring(v), v, 3
  end
  local nl = rng:int(1, n - 1)
  local lt, lval, lp = build(rng, nl, lv)
  local op = rng:choice(lv.ops)
  local rt, rval, rp
  if op == "/" then
    -- right side: a small divisor of lval (exact division), else fall back to *
    local divs = {}
    local a = math.abs(lval)
    for d = 2, math.min(a, 60) do if a % d == 0 then divs[#divs + 1] = d end end
    if #divs == 0 then op = "*" else local d = rng:choice(divs); rt, rval, rp = tostring(d), d, 3 end
  end
  if not rt then rt, rval, rp = build(rng, n - nl, lv) end
  if op == "*" and math.abs(lval * rval) > 1e12 then op = "+" end
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
  while true do
    local n = rng:int(lv.terms[1], lv.terms[2])
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
