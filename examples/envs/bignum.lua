-- bignum.lua — big-integer arithmetic far past 2^53 (interpreter category).
--
-- Models: exact arithmetic on integers of 20 to 150 digits, the kind of problem that
-- needs an interpreter (Python ints) rather than floating point. Levels: 1 = sum or
-- difference of two 20-30 digit numbers; 2 = product of two 18-35 digit numbers;
-- 3 = a*b - c*d + e with 20-40 digit numbers, or a power a^k; 4 = mixed expressions with
-- powers, a factorial n! and a remainder mod a small number.
-- Tools: calc{expression} evaluates an integer expression exactly (+ - * ^, n!, % by a
-- number below 10^7, parentheses) and returns the decimal string.
-- Verify: the answer's digits (after dropping \boxed{}, spaces, commas, underscores and
-- a leading +) must equal the expected decimal string exactly; a float rendering fails.

local env = {name = "bignum", version = 1, category = "interpreter", levels = 4,
             description = "Exact arithmetic on very large integers"}

-- Big integers: {neg=bool, [1..n] = base 1e7 limbs, little-endian}; zero is {neg=false, 0}.
local BASE, BD = 10000000, 7
local function trim(a)
  while #a > 1 and a[#a] == 0 do a[#a] = nil end
  if #a == 1 and a[1] == 0 then a.neg = false end
  return a
end
local function from_str(s)
  local neg = false
  if s:sub(1, 1) == "-" then neg = true; s = s:sub(2) end
  local a = {neg = neg}
  local i = #s
  while i >= 1 do
    local j = math.max(1, i - BD + 1)
    a[#a + 1] = math.tointeger(tonumber(s:sub(j, i)))
    i = j - 1
  end
  return trim(a)
end
local function from_int(n) return from_str(tostring(n)) end
local function to_str(a)
  local parts = {tostring(a[#a])}
  for i = #a - 1, 1, -1 do parts[#parts + 1] = string.format("%07d", a[i]) end
  return (a.neg and "-" or "") .. table.concat(parts)
end
local function cmp_abs(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  for i = #a, 1, -1 do if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end end
  return 0
end
local function add_abs(a, b)
  local r, carry = {neg = false}, 0
  for i = 1, math.max(#a, #b) do
    local s = (a[i] or 0) + (b[i] or 0) + carry
    if s >= BASE then r[i] = s - BASE; carry = 1 else r[i] = s; carry = 0 end
  end
  if carry > 0 then r[#r + 1] = carry end
  return r
end
local function sub_abs(a, b) -- |a| >= |b|
  local r, borrow = {neg = false}, 0
  for i = 1, #a do
    local s = a[i] - (b[i] or 0) - borrow
    if s < 0 then r[i] = s + BASE; borrow = 1 else r[i] = s; borrow = 0 end
  end
  return trim(r)
end
local function add(a, b)
  if a.neg == b.neg then local r = add_abs(a, b); r.neg = a.neg; return trim(r) end
  if cmp_abs(a, b) >= 0 then local r = sub_abs(a, b); r.neg = a.neg; return trim(r) end
  local r = sub_abs(b, a); r.neg = b.neg; return trim(r)
end
local function neg(a) local r = {neg = not a.neg}; for i = 1, #a do r[i] = a[i] end return trim(r) end
local function sub(a, b) return add(a, neg(b)) end
local function mul(a, b)
  local r = {neg = a.neg ~= b.neg}
  for i = 1, #a + #b do r[i] = 0 end
  for i = 1, #a do
    local ai, carry = a[i], 0
    if ai ~= 0 then
      for j = 1, #b do
        local t = r[i + j - 1] + ai * b[j] + carry
        carry = t // BASE; r[i + j - 1] = t % BASE
      end
      local k = i + #b
      while carry > 0 do
        local t = r[k] + carry; carry = t // BASE; r[k] = t % BASE; k = k + 1
      end
    end
  end
  return trim(r)
end
local function digits(a) return #to_str(a) end
local function pow(a, k)
  local r, base = from_int(1), a
  while k > 0 do
    if k % 2 == 1 then r = mul(r, base) end
    k = k // 2
    if k > 0 then base = mul(base, base) end
    if digits(r) > 4000 then error("result too large") end
  end
  return r
end
local function mod_small(a, m)
  local r = 0
  for i = #a, 1, -1 do r = (r * BASE + a[i]) % m end
  if a.neg and r ~= 0 then r = m - r end
  return r
end
local function small(a) -- value of a (must be < 2^31) as a Lua integer
  if #a > 2 then error("number too large here") end
  local v = (a[2] or 0) * BASE + a[1]
  return a.neg and -v or v
end
local function factorial(n)
  if n < 0 or n > 500 then error("factorial argument out of range") end
  local r = from_int(1)
  for i = 2, n do r = mul(r, from_int(i)) end
  return r
end

-- Expression evaluator: + - * ^ % ! and parentheses over big integers.
local function evaluate(s)
  if #s > 5000 then error("expression too long") end
  local pos = 1
  local function skip() pos = s:find("[^ ]", pos) or #s + 1 end
  local expr
  local function primary()
    skip()
    local c = s:sub(pos, pos)
    local v
    if c == "(" then
      pos = pos + 1; v = expr(); skip()
      if s:sub(pos, pos) ~= ")" then error("expected ) at " .. pos) end
      pos = pos + 1
    elseif c == "-" then pos = pos + 1; return neg(primary())
    else
      local num = s:match("^%d+", pos)
      if not num then error("unexpected '" .. c .. "' at " .. pos) end
      pos = pos + #num; v = from_str(num)
    end
    skip()
    while s:sub(pos, pos) == "!" do pos = pos + 1; v = factorial(small(v)); skip() end
    return v
  end
  local function power()
    local b = primary(); skip()
    if s:sub(pos, pos) == "^" or s:sub(pos, pos + 1) == "**" then
      pos = pos + (s:sub(pos, pos) == "^" and 1 or 2)
      local e = small(power())
      if e < 0 then error("negative exponent") end
      return pow(b, e)
    end
    return b
  end
  local function term()
    local v = power()
    while true do
      skip()
      local c = s:sub(pos, pos)
      if c == "*" and s:sub(pos + 1, pos + 1) ~= "*" then pos = pos + 1; v = mul(v, power())
      elseif c == "%" then
        pos = pos + 1
        local m = small(power())
        if m <= 0 or m >= BASE then error("% needs a modulus between 1 and 9999999") end
        v = from_int(mod_small(v, m))
      else return v end
    end
  end
  function expr()
    local v = term()
    while true do
      skip()
      local c = s:sub(pos, pos)
      if c == "+" then pos = pos + 1; v = add(v, term())
      elseif c == "-" then pos = pos + 1; v = sub(v, term())
      else return v end
    end
  end
  local v = expr(); skip()
  if pos <= #s then error("unexpected '" .. s:sub(pos, pos) .. "' at " .. pos) end
  return v
end

env.tools = {
  calc = {
    description = "Evaluate an integer expression exactly: + - * ^ (power), n! (factorial), " ..
                  "% (remainder by a number below 10^7) and parentheses. Returns the decimal digits.",
    parameters = {type = "object", properties = {expression = {type = "string"}}, required = {"expression"}},
    run = function(_, args) return {value = to_str(evaluate(args.expression))} end,
  },
}

local function rand_digits(rng, lo, hi)
  local n = rng:int(lo, hi)
  local t = {tostring(rng:int(1, 9))}
  for i = 2, n do t[i] = tostring(rng:int(0, 9)) end
  return table.concat(t)
end

function env.generate(rng, level)
  local e
  if level == 1 then
    e = rand_digits(rng, 20, 30) .. (rng:bool() and " + " or " - ") .. rand_digits(rng, 20, 30)
  elseif level == 2 then
    e = rand_digits(rng, 18, 35) .. " * " .. rand_digits(rng, 18, 35)
  elseif level == 3 then
    if rng:bool(0.6) then
      e = string.format("%s * %s - %s * %s + %s", rand_digits(rng, 20, 40), rand_digits(rng, 20, 40),
                        rand_digits(rng, 20, 40), rand_digits(rng, 20, 40), rand_digits(rng, 20, 40))
    else
      e = string.format("%s^%d", rand_digits(rng, 3, 6), rng:int(8, 20))
    end
  else
    local kind = rng:int(1, 3)
    if kind == 1 then
      e = string.format("%s^%d - %s^%d * %s", rand_digits(rng, 4, 9), rng:int(6, 14), rand_digits(rng, 3, 6),
                        rng:int(5, 12), rand_digits(rng, 10, 25))
    elseif kind == 2 then
      e = string.format("%d! - %s * %s", rng:int(25, 60), rand_digits(rng, 20, 40), rand_digits(rng, 20, 40))
    else
      e = string.format("(%s^%d + %s) %% %d", rand_digits(rng, 10, 20), rng:int(5, 15), rand_digits(rng, 20, 40),
                        rng:int(1000003, 9999991))
    end
  end
  local value = to_str(evaluate(e))
  return {prompt = "Compute exactly: " .. e .. "\n(^ is exponentiation, ! is factorial, % is the remainder.) " ..
                   "Give the full integer in decimal digits.",
          answer = value, meta = {expression = e}}
end

function env.solve(task, call)
  return call("calc", {expression = task.meta.expression}).value
end

local function normalize(a)
  if type(a) == "number" then
    if math.type(a) ~= "integer" then return nil end
    return tostring(a)
  end
  if type(a) ~= "string" then return nil end
  a = a:match("\\boxed{(.-)}") or a
  a = a:gsub("[%s,_]", ""):gsub("^%+", "")
  if not a:match("^%-?%d+$") then return nil end
  local sign, d = a:match("^(%-?)(%d+)$")
  d = d:gsub("^0+(%d)", "%1")
  if d == "0" then sign = "" end
  return sign .. d
end

function env.verify(task, answer)
  local a = normalize(answer)
  if not a then return 0, {reason = "not an integer in decimal digits"} end
  return a == task.answer and 1 or 0
end

return env
