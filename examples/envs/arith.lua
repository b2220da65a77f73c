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

-- Exact rational evaluator over + - * / ( ) and integers, carrying each rational as two
-- values n, d (integers stay n, 1 without a gcd). One loop over the expression's bytes
-- (from one string.byte call) does what a recursive-descent parser would —
--   expr := term {(+|-) term}   term := atom {(*|/) atom}   atom := ( expr ) | - atom | digits
-- — applying each * and / as soon as its right atom is read and each + and - as soon as
-- its right term is complete, so values and errors come in the same order; an open
-- parenthesis saves the pending state in the frame lists below.
local byte, sub = string.byte, string.sub
local abs, min = math.abs, math.min
local function gcd(a, b) while b ~= 0 do a, b = b, a % b end return abs(a) end
local function rat(n, d)
  if d == 0 then error("division by zero") end
  if d < 0 then n, d = -n, -d end
  local g = gcd(n, d); if g > 1 then n, d = n // g, d // g end
  return n, d
end
-- Bytes are compared with literals (an integer immediate is the VM's cheapest compare):
-- 32 space, 40 (, 41 ), 42 *, 43 +, 45 -, 47 /.
local DIGIT_VALUE = {} -- byte -> digit value, for the bytes of "0".."9"
for b = 48, 57 do DIGIT_VALUE[b] = b - 48 end
-- the state saved at each open parenthesis (depth-indexed)
local F_EN, F_ED, F_ADD, F_TN, F_TD, F_MUL, F_NEG = {}, {}, {}, {}, {}, {}, {}
local function evaluate(s)
  if #s > 2000 then error("expression too long") end
  local bytes, dv = {byte(s, 1, -1)}, DIGIT_VALUE
  local p, depth = 1, 0
  local en, ed, addop = nil, 1, 0 -- the expression so far and the + or - after it
  local tn, td, mulop = nil, 1, 0 -- the term so far and the * or / after it
  local neg = false               -- an odd number of unary minuses before this atom
  while true do
    local b = bytes[p]
    while b == 32 do p = p + 1; b = bytes[p] end
    if b == 45 then neg = not neg; p = p + 1
    elseif b == 40 then
      depth = depth + 1
      F_EN[depth], F_ED[depth], F_ADD[depth], F_TN[depth], F_TD[depth], F_MUL[depth], F_NEG[depth] =
        en, ed, addop, tn, td, mulop, neg
      en, tn, neg = nil, nil, false
      p = p + 1
    else
      local start, v, x = p, 0, dv[b]
      while x do v = v * 10 + x; p = p + 1; x = dv[bytes[p]] end
      local len = p - start
      if len == 0 then error("unexpected '" .. sub(s, p, p) .. "' at " .. p) end
      if len > 15 then error("number too large") end
      local n, d = v, 1
      if neg then n, neg = -n, false end
      while true do -- the atom n/d into the term, then what follows it
        if not tn then tn, td = n, d
        elseif mulop == 42 then
          if td == 1 and d == 1 then tn = tn * n else tn, td = rat(tn * n, td * d) end
        else tn, td = rat(tn * d, td * n) end
        b = bytes[p]
        while b == 32 do p = p + 1; b = bytes[p] end
        if b == 42 or b == 47 then mulop = b; p = p + 1; break end
        -- the term is complete: into the expression
        if not en then en, ed = tn, td
        elseif addop == 43 then
          if ed == 1 and td == 1 then en = en + tn else en, ed = rat(en * td + tn * ed, ed * td) end
        else
          if ed == 1 and td == 1 then en = en - tn else en, ed = rat(en * td - tn * ed, ed * td) end
        end
        tn = nil
        if b == 43 or b == 45 then addop = b; p = p + 1; break end
        -- the expression is complete: the whole text, or a parenthesized atom
        if depth == 0 then
          if b then error("unexpected '" .. sub(s, p, p) .. "' at " .. p) end
          return en, ed
        end
        if b ~= 41 then error("expected ) at " .. p) end
        p = p + 1
        n, d = en, ed
        if F_NEG[depth] then n = -n end
        en, ed, addop, tn, td, mulop = F_EN[depth], F_ED[depth], F_ADD[depth], F_TN[depth], F_TD[depth], F_MUL[depth]
        depth = depth - 1
      end
    end
  end
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

-- Operators as small integers inside build (integer compares are the VM's cheapest).
local OPCODE, OPTEXT = {["+"] = 1, ["-"] = 2, ["*"] = 3, ["/"] = 4}, {"+", "-", "*", "/"}

-- Builds a random expression over n leaves; returns text, value (integer), precedence.
local function build(rng, n, lv)
  if n == 1 then
    local v = r_int(rng, 1, lv.maxv)
    if lv.neg and r_bool(rng, 0.15) then return "(-" .. v .. ")", -v, 3 end
    return tostring(v), v, 3
  end
  local nl = r_int(rng, 1, n - 1)
  local lt, lval, lp = build(rng, nl, lv)
  local op = OPCODE[r_choice(rng, lv.ops)]
  local rt, rval, rp
  if op == 4 then
    -- right side: a small divisor of lval (exact division), else fall back to *
    local divs, k = {}, 0
    local a = abs(lval)
    for d = 2, min(a, 60) do if a % d == 0 then k = k + 1; divs[k] = d end end
    if k == 0 then op = 3 else local d = r_choice(rng, divs); rt, rval, rp = tostring(d), d, 3 end
  end
  if not rt then rt, rval, rp = build(rng, n - nl, lv) end
  if op == 3 and abs(lval * rval) > 1e12 then op = 1 end
  local prec = op <= 2 and 1 or 2
  if lp < prec then lt = "(" .. lt .. ")" end
  if rp <= prec then rt = "(" .. rt .. ")" end  -- right operand of - or / needs parentheses at equal precedence
  local v
  if op == 1 then v = lval + rval elseif op == 2 then v = lval - rval
  elseif op == 3 then v = lval * rval else v = lval // rval end
  return lt .. " " .. OPTEXT[op] .. " " .. rt, v, prec
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
