-- code_algos.lua — implement an algorithmic function in Python (code category).
--
-- Models: a coding task with hidden unit tests over integers and lists. Each task draws a
-- family and its parameters and keeps 12-30 hidden cases whose expected outputs come from
-- a Lua implementation of the same specification. Levels:
--   1 = repeated digit sum in base B, k-th smallest distinct value, sum of multiples of a
--       or b below n;
--   2 = merging intervals (touching intervals merged or not), counting staircase paths
--       with a given step set modulo M, counting inversions;
--   3 = longest strictly increasing subsequence, inversions and staircase counts on large
--       inputs (an O(n^2) or exponential solution times out), with edge cases.
-- Tools: run_examples{code} runs the code against the visible examples in the sandbox.
-- Verify: the answer is Python source (a ```python fence is taken if present) that must
-- define the function; it runs in the sandbox on the hidden inputs and its outputs are
-- compared outside it (the expected ones never enter it); reward = fraction of cases right.

local py = require("harness.code_python") -- pylit, the run_examples tool, solve, verify

local env = {name = "code_algos", version = 1, category = "code", levels = 3,
             description = "Write a Python algorithm that passes hidden unit tests"}

local function rand_list(rng, n, lo, hi)
  local t = json.array({})
  for i = 1, n do t[i] = rng:int(lo, hi) end
  return t
end

-- Large hidden inputs are stored compactly as {__lcg__ = {seed, n, lo, hi}} and expanded
-- identically here and in the Python test runner (64-bit LCG, value = lo + (x >> 33) % span).
local function big_list(rng, n, lo, hi) return {__lcg__ = json.array({rng:int(1, 1000000), n, lo, hi})} end
local function expand(v)
  if type(v) == "table" and v.__lcg__ then
    local seed, n, lo, hi = v.__lcg__[1], v.__lcg__[2], v.__lcg__[3], v.__lcg__[4]
    local x, out, span = seed, {}, hi - lo + 1
    for i = 1, n do
      x = x * 6364136223846793005 + 1442695040888963407
      out[i] = lo + (x >> 33) % span
    end
    return out
  end
  if type(v) == "table" then
    local out = {}
    for i, x in ipairs(v) do out[i] = expand(x) end
    return out
  end
  return v
end

local F = {}

F.digit_root = {
  fname = "digit_root", sig = "n",
  params = function(rng) return {b = rng:int(3, 16)} end,
  spec = function(p) return string.format("takes a non-negative integer `n` and repeatedly replaces it by the sum of " ..
    "its digits written in base %d until the value is below %d, then returns it.", p.b, p.b) end,
  lua = function(p, n)
    while n >= p.b do
      local s = 0
      while n > 0 do s = s + n % p.b; n = n // p.b end
      n = s
    end
    return n
  end,
  py = function(p) return string.format([[
def digit_root(n):
    while n >= %d:
        s = 0
        while n > 0:
            s += n %% %d
            n //= %d
        n = s
    return n
]], p.b, p.b, p.b) end,
  input = function(rng, p, big) return {big and rng:int(1000000000, 1000000000000000) or rng:int(0, 5000)} end,
}

F.kth_distinct = {
  fname = "kth_distinct", sig = "a, k",
  params = function(rng) return {largest = rng:bool()} end,
  spec = function(p) return string.format("returns the k-th %s DISTINCT value of the integer list `a` (k starts at 1), " ..
    "or -1 if `a` has fewer than k distinct values.", p.largest and "largest" or "smallest") end,
  lua = function(p, a, k)
    local seen, d = {}, {}
    for _, x in ipairs(a) do if not seen[x] then seen[x] = true; d[#d + 1] = x end end
    table.sort(d)
    if k > #d then return -1 end
    return p.largest and d[#d - k + 1] or d[k]
  end,
  py = function(p) return string.format([[
def kth_distinct(a, k):
    d = sorted(set(a)%s)
    return d[k - 1] if k <= len(d) else -1
]], p.largest and ", reverse=True" or "") end,
  input = function(rng, p, big)
    if big then return {big_list(rng, rng:int(1000, 20000), -500, 500), rng:int(1, 900)} end
    return {rand_list(rng, rng:int(0, 8), -20, 20), rng:int(1, 6)}
  end,
}

F.multiples = {
  fname = "sum_multiples", sig = "n",
  params = function(rng) local a = rng:int(2, 9); local b; repeat b = rng:int(2, 13) until b ~= a; return {a = a, b = b} end,
  spec = function(p) return string.format("returns the sum of all positive integers below `n` that are multiples of " ..
    "%d or %d (or both).", p.a, p.b) end,
  lua = function(p, n)
    local function tri(k, m) local c = (m - 1) // k; return k * c * (c + 1) // 2 end
    local a, b = p.a, p.b
    local x, y = a, b
    while y ~= 0 do x, y = y, x % y end
    local l = a // x * b
    if n <= 0 then return 0 end
    return tri(a, n) + tri(b, n) - tri(l, n)
  end,
  py = function(p) return string.format([[
from math import gcd

def sum_multiples(n):
    def tri(k):
        c = (n - 1) // k if n > 0 else 0
        return k * c * (c + 1) // 2
    a, b = %d, %d
    return tri(a) + tri(b) - tri(a * b // gcd(a, b))
]], p.a, p.b) end,
  input = function(rng, p, big) return {big and rng:int(1000000, 1000000000) or rng:int(0, 60)} end,
}

F.intervals = {
  fname = "merge_intervals", sig = "intervals",
  params = function(rng) return {touch = rng:bool()} end,
  spec = function(p) return "takes a list of [start, end] integer pairs (start <= end, in any order) and returns the " ..
    "list of merged intervals sorted by start, where overlapping intervals are merged" ..
    (p.touch and " and so are touching ones ([1, 3] and [3, 5] -> [1, 5]; [1, 3] and [4, 5] stay apart)."
              or " but merely touching ones are not ([1, 3] and [3, 5] overlap at 3 and merge; [1, 3] and [4, 5] stay apart; " ..
                 "intervals merge only if they share at least one point).") end,
  lua = function(p, iv)
    local t = {}
    for i, x in ipairs(iv) do t[i] = {x[1], x[2]} end
    table.sort(t, function(a, b) if a[1] ~= b[1] then return a[1] < b[1] end return a[2] < b[2] end)
    local out = json.array({})
    for _, x in ipairs(t) do
      local last = out[#out]
      if last and x[1] <= last[2] + (p.touch and 1 or 0) then
        if x[2] > last[2] then last[2] = x[2] end
      else out[#out + 1] = json.array({x[1], x[2]}) end
    end
    return out
  end,
  py = function(p) return string.format([[
def merge_intervals(intervals):
    out = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1] + %d:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out
]], p.touch and 1 or 0) end,
  input = function(rng, p, big)
    local n = big and rng:int(50, 500) or rng:int(0, 6)
    local t = json.array({})
    for i = 1, n do
      local s = rng:int(0, big and 5000 or 30)
      t[i] = json.array({s, s + rng:int(0, big and 40 or 6)})
    end
    return {t}
  end,
}

F.stairs = {
  fname = "count_paths", sig = "n",
  params = function(rng)
    local steps = rng:sample({1, 2, 3, 4, 5, 6, 7}, rng:int(2, 3))
    table.sort(steps)
    return {steps = steps, m = rng:choice({1000000007, 998244353, 1000003})}
  end,
  spec = function(p)
    local st = {}
    for i, x in ipairs(p.steps) do st[i] = tostring(x) end
    return string.format("returns the number of ordered ways to climb exactly `n` stairs (n >= 0) using steps of sizes " ..
      "{%s}, modulo %d (n = 0 has one way: no steps).", table.concat(st, ", "), p.m)
  end,
  lua = function(p, n)
    local w = {[0] = 1}
    for i = 1, n do
      local s = 0
      for _, k in ipairs(p.steps) do if i - k >= 0 then s = s + w[i - k] end end
      w[i] = s % p.m
    end
    return w[n]
  end,
  py = function(p)
    local st = {}
    for i, x in ipairs(p.steps) do st[i] = tostring(x) end
    return string.format([[
def count_paths(n):
    steps, m = [%s], %d
    w = [1] + [0] * n
    for i in range(1, n + 1):
        w[i] = sum(w[i - k] for k in steps if i - k >= 0) %% m
    return w[n]
]], table.concat(st, ", "), p.m)
  end,
  input = function(rng, p, big) return {big and rng:int(2000, 20000) or rng:int(0, 40)} end,
}

F.inversions = {
  fname = "count_inversions", sig = "a",
  params = function(rng) return {strict = rng:bool()} end,
  spec = function(p) return "returns the number of pairs of positions i < j in the integer list `a` with " ..
    (p.strict and "a[i] > a[j]" or "a[i] >= a[j]") .. "." end,
  lua = function(p, a)
    -- merge sort count
    local n = #a
    local t, tmp = {}, {}
    for i = 1, n do t[i] = a[i] end
    local count = 0
    local width = 1
    while width < n do
      for lo = 1, n, 2 * width do
        local mid, hi = math.min(lo + width, n + 1), math.min(lo + 2 * width, n + 1)
        local i, j, k = lo, mid, lo
        while i < mid and j < hi do
          local take_left
          if p.strict then take_left = t[i] <= t[j] else take_left = t[i] < t[j] end
          if take_left then tmp[k] = t[i]; i = i + 1
          else tmp[k] = t[j]; count = count + (mid - i); j = j + 1 end
          k = k + 1
        end
        while i < mid do tmp[k] = t[i]; i = i + 1; k = k + 1 end
        while j < hi do tmp[k] = t[j]; j = j + 1; k = k + 1 end
      end
      t, tmp = tmp, t
      width = width * 2
    end
    return count
  end,
  py = function(p) return string.format([[
def count_inversions(a):
    def sort(xs):
        if len(xs) <= 1:
            return xs, 0
        mid = len(xs) // 2
        left, cl = sort(xs[:mid])
        right, cr = sort(xs[mid:])
        out, i, j, c = [], 0, 0, cl + cr
        while i < len(left) and j < len(right):
            if left[i] %s right[j]:
                out.append(left[i]); i += 1
            else:
                out.append(right[j]); j += 1
                c += len(left) - i
        out.extend(left[i:]); out.extend(right[j:])
        return out, c
    return sort(list(a))[1]
]], p.strict and "<=" or "<") end,
  input = function(rng, p, big)
    if big then return {big_list(rng, rng:int(10000, 30000), 0, 100000)} end
    return {rand_list(rng, rng:int(0, 9), 0, 6)}
  end,
}

F.lis = {
  fname = "lis_length", sig = "a",
  params = function(rng) return {strict = rng:bool(0.7)} end,
  spec = function(p) return "returns the length of the longest " .. (p.strict and "strictly increasing" or "non-decreasing") ..
    " subsequence of the integer list `a` (0 for an empty list)." end,
  lua = function(p, a)
    local tails = {}
    for _, x in ipairs(a) do
      local lo, hi = 1, #tails + 1
      while lo < hi do
        local mid = (lo + hi) // 2
        local go_right
        if p.strict then go_right = tails[mid] < x else go_right = tails[mid] <= x end
        if go_right then lo = mid + 1 else hi = mid end
      end
      tails[lo] = x
    end
    return #tails
  end,
  py = function(p) return string.format([[
from bisect import %s

def lis_length(a):
    tails = []
    for x in a:
        i = %s(tails, x)
        if i == len(tails):
            tails.append(x)
        else:
            tails[i] = x
    return len(tails)
]], p.strict and "bisect_left" or "bisect_right", p.strict and "bisect_left" or "bisect_right") end,
  input = function(rng, p, big)
    if big then return {big_list(rng, rng:int(10000, 30000), 0, 1000000)} end
    return {rand_list(rng, rng:int(0, 10), 0, 9)}
  end,
}

local BY_LEVEL = {{"digit_root", "kth_distinct", "multiples"}, {"intervals", "stairs", "inversions"},
                  {"lis", "inversions", "stairs"}}

env.tools = {run_examples = py.run_examples_tool()}

function env.generate(rng, level)
  local fam_name = rng:choice(BY_LEVEL[level])
  local fam = F[fam_name]
  local p = fam.params(rng, level)
  local nvis, nhid = 3, ({12, 16, 25})[level]
  local cases, seen = {}, {}
  local tries = 0
  while #cases < nvis + nhid and tries < 500 do
    tries = tries + 1
    local big = #cases >= nvis + nhid - (level == 3 and 3 or 2)
    local args = fam.input(rng, p, big)
    local key = json.encode(args)
    if not seen[key] then
      seen[key] = true
      cases[#cases + 1] = {args, fam.lua(p, table.unpack(expand(args)))}
    end
  end
  if level == 3 and fam.sig == "a" then table.insert(cases, nvis + 1, {{json.array({})}, fam.lua(p, {})}) end
  local vis, hid = json.array({}), json.array({})
  for i, c in ipairs(cases) do
    local pair = json.array({json.array(c[1]), c[2]})
    if i <= nvis then vis[#vis + 1] = pair else hid[#hid + 1] = pair end
  end
  local ex = {}
  for i, c in ipairs(vis) do
    local a = {}
    for j, x in ipairs(c[1]) do a[j] = py.pylit(x) end
    ex[i] = string.format("    %s(%s) == %s", fam.fname, table.concat(a, ", "), py.pylit(c[2]))
  end
  local prompt = string.format("Write a Python function `%s(%s)` that %s\n\nExamples:\n%s\n\nAnswer with the complete " ..
    "Python code of the function (standard library only). It will be checked by hidden unit tests" ..
    (level >= 2 and ", some with large inputs, so use an efficient algorithm." or "."),
    fam.fname, fam.sig, fam.spec(p), table.concat(ex, "\n"))
  return {prompt = prompt, state = {fname = fam.fname, examples = vis},
          answer = fam.py(p), meta = {family = fam_name, fname = fam.fname, tests = hid}}
end

-- Reference agent: writes the implementation, tries it on the examples, submits it.
function env.solve(task, call) return py.solve(task, call) end

function env.verify(task, answer) return py.verify(task, answer, true) end

return env
