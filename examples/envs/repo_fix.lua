-- repo_fix.lua — fix a bug in a small Python repository (code category, SWE-smith-like).
--
-- Models: a code agent working on a git-repository-like package with tests. Each task
-- builds a Python package of 1-6 modules drawn from families (text processing, date and
-- interval arithmetic, a small ledger class, statistics/matrix helpers, parsers, and a
-- report module built on three of them) with its visible unittest files, then injects a
-- bug by a procedural mutation (comparison operator swapped, off-by-one, wrong constant,
-- wrong accumulator init, swapped arguments, and/or swapped, a branch of at most four
-- lines removed). The original and candidate mutants run in the sandbox at generation
-- time (ef.exec) on every test case: a mutant is kept only if some hidden cases fail on
-- it (fail-to-pass), others still pass (pass-to-pass), and its module still imports. The prompt is an issue report (symptom and reproduction),
-- never the location. Levels:
--   1 = one module; the bug is in the public function a failing visible test calls;
--   2 = two or three modules; the bug is in a private helper the failing test reaches
--       only through a public function;
--   3 = three or four modules; two bugs in two modules, each failing hidden tests alone;
--   4 = five or six modules; the bug is outside `report`, where its symptom shows; no
--       visible test fails, and the issue describes the symptom only and blames report.py.
-- State: {files = path -> content, base = the files as first given (for diff)}.
-- Tools: list_files{}, read_file{path, start?, end?} (numbered lines), edit_file{path, old,
-- new} (exact, unique replacement), write_file{path, content}, run_tests{path?} (the
-- repository's unittest files in the sandbox: counts and the failing output), diff{}
-- (unified diff against the original files).
-- Verify: final state only. The hidden cases (expressions; their expected outputs stay
-- in the task and are compared here, outside the sandbox, as code_algos does) run on the
-- final files; reward 1 if every case gives its expected output and no file the task gave
-- under tests/ was changed or removed, else 0 (no partial credit: a half-fixed repository
-- is still broken). The answer text is not scored. Hidden results are cached by a hash of
-- the files and cases, so the trivial answers' verifies (all on the initial state) run
-- the sandbox once; only results of runs that ended normally are cached.

local py = require("harness.code_python") -- pylit

local env = {name = "repo_fix", version = 1, category = "code", levels = 4,
             description = "Fix a bug in a small Python repository from an issue report; verified by hidden tests"}

local function fill(tpl, p)
  return (tpl:gsub("{{([%w_]+)}}", function(k)
    local v = p[k]
    if v == nil then error("template placeholder " .. k .. " has no value") end
    return tostring(v)
  end))
end

-- ---- module families ------------------------------------------------------------------

local M = {}

M.textproc = {deps = {}, src = [[
"""Text helpers: words, titles, wrapping and padding."""

SMALL = ({{small}})
ELLIPSIS = '{{ell}}'


def _words(s):
    out = []
    for part in s.split():
        w = part.strip('.,;:!?')
        if len(w) > 0:
            out.append(w)
    return out


def _cap(w):
    return w[:1].upper() + w[1:].lower()


def word_count(s):
    """Number of words in s (punctuation around words is ignored)."""
    return len(_words(s))


def title_case(s):
    """Words capitalised and joined by one space; SMALL words stay lower case except first."""
    out = []
    for i, w in enumerate(_words(s)):
        if i > 0 and w.lower() in SMALL:
            out.append(w.lower())
        else:
            out.append(_cap(w))
    return ' '.join(out)


def wrap(s, width):
    """Greedy word wrap: lines of at most width characters (a longer word gets its own line)."""
    lines = []
    cur = ''
    for w in _words(s):
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        elif cur:
            cur = cur + ' ' + w
        else:
            cur = w
    if cur:
        lines.append(cur)
    return lines


def truncate(s, n):
    """s if it has at most n characters, else its start plus ELLIPSIS, n characters in all."""
    if len(s) <= n:
        return s
    return s[:n - len(ELLIPSIS)] + ELLIPSIS


def pad(s, n, right=False):
    """s truncated to n characters and padded with spaces to exactly n (on the left if right)."""
    s = truncate(s, n)
    fill = ' ' * (n - len(s))
    if right:
        return fill + s
    return s + fill
]]}

M.stats = {deps = {}, src = [[
"""Small statistics and matrix helpers on lists of integers."""

DIGITS = {{digits}}


def _total(xs):
    total = 0
    for x in xs:
        total += x
    return total


def _dot(u, v):
    s = 0
    for i in range(len(u)):
        s += u[i] * v[i]
    return s


def mean(xs):
    """Arithmetic mean rounded to DIGITS decimals; 0 for an empty list."""
    if len(xs) == 0:
        return 0
    return round(_total(xs) / len(xs), DIGITS)


def median(xs):
    """Median (mean of the two middle values for an even count, rounded); 0 if empty."""
    ys = sorted(xs)
    n = len(ys)
    if n == 0:
        return 0
    mid = n // 2
    if n % 2 == 1:
        return ys[mid]
    return round((ys[mid - 1] + ys[mid]) / 2, DIGITS)


def moving_sum(xs, k):
    """Sums of every window of k consecutive values, in order."""
    out = []
    for i in range(len(xs) - k + 1):
        out.append(_total(xs[i:i + k]))
    return out


def transpose(m):
    """The transpose of a non-empty rectangular matrix (list of rows)."""
    return [[m[r][c] for r in range(len(m))] for c in range(len(m[0]))]


def matmul(a, b):
    """Matrix product a x b."""
    bt = transpose(b)
    return [[_dot(row, col) for col in bt] for row in a]


def argmax(xs):
    """Index of the first largest value of a non-empty list."""
    best = 0
    for i in range(1, len(xs)):
        if xs[i] > xs[best]:
            best = i
    return best
]]}

M.dates = {deps = {}, src = [[
"""Date arithmetic on [year, month, day] lists (years from 1900) and integer spans."""

DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def is_leap(y):
    """Gregorian leap year."""
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _month_days(y, m):
    if m == 2 and is_leap(y):
        return 29
    return DAYS_IN_MONTH[m - 1]


def _ordinal(d):
    days = 0
    for k in range(1900, d[0]):
        days += 366 if is_leap(k) else 365
    return days + day_of_year(d)


def day_of_year(d):
    """1 for January 1st."""
    y, m, day = d
    total = day
    for k in range(1, m):
        total += _month_days(y, k)
    return total


def days_between(a, b):
    """Days from date a to date b (negative if b is earlier)."""
    return _ordinal(b) - _ordinal(a)


def add_days(d, n):
    """The date n >= 0 days after d."""
    y, m, day = d
    for _ in range(n):
        day += 1
        if day > _month_days(y, m):
            day = 1
            m += 1
            if m > 12:
                m = 1
                y += 1
    return [y, m, day]


def merge(spans):
    """Half-open [start, end) spans merged where they overlap or touch, sorted."""
    out = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def covered(spans):
    """Total length covered by the half-open spans."""
    total = 0
    for s, e in merge(spans):
        total += e - s
    return total


def overlap(a, b):
    """Length of the intersection of two half-open spans."""
    lo = max(a[0], b[0])
    hi = min(a[1], b[1])
    return max(0, hi - lo)
]]}

M.ledger = {deps = {}, src = [[
"""A tiny ledger of named accounts with an overdraft limit."""

LIMIT = {{limit}}


def _check(amount):
    if amount <= 0:
        raise ValueError('amount must be positive')


class Ledger:
    def __init__(self, entries=()):
        self.balances = {}
        for name, amount in entries:
            self.deposit(name, amount)

    def balance(self, name):
        return self.balances.get(name, 0)

    def deposit(self, name, amount):
        _check(amount)
        self.balances[name] = self.balance(name) + amount

    def withdraw(self, name, amount):
        """Withdraw; the balance may go down to -LIMIT, no further (ValueError)."""
        _check(amount)
        if amount > self.balance(name) + LIMIT:
            raise ValueError('insufficient funds')
        self.balances[name] = self.balance(name) - amount

    def transfer(self, src, dst, amount):
        self.withdraw(src, amount)
        self.deposit(dst, amount)

    def richest(self, n):
        """The n account names with the largest balances (ties by name)."""
        names = sorted(self.balances, key=lambda k: (-self.balances[k], k))
        return names[:n]

    def total(self):
        total = 0
        for v in self.balances.values():
            total += v
        return total


def replay(ops):
    """Apply ['dep', name, x], ['wd', name, x], ['tr', src, dst, x]; failed ones are counted."""
    led = Ledger()
    failed = 0
    for op in ops:
        try:
            if op[0] == 'dep':
                led.deposit(op[1], op[2])
            elif op[0] == 'wd':
                led.withdraw(op[1], op[2])
            else:
                led.transfer(op[1], op[2], op[3])
        except ValueError:
            failed += 1
    return {'balances': dict(sorted(led.balances.items())), 'failed': failed}
]]}

M.parsers = {deps = {}, src = [[
"""Parsers for small text formats."""

SEP = '{{sep}}'
UNITS = {'d': 1440, 'h': 60, 'm': 1}


def _split(s, sep):
    parts = []
    for p in s.split(sep):
        p = p.strip()
        if p:
            parts.append(p)
    return parts


def parse_kv(s):
    """'a=1{{sep}} b = 2' -> {'a': '1', 'b': '2'} (later keys win)."""
    out = {}
    for item in _split(s, SEP):
        key, _, value = item.partition('=')
        out[key.strip()] = value.strip()
    return out


def parse_ints(s):
    """'3, 5,,12' -> [3, 5, 12]."""
    return [int(x) for x in _split(s, ',')]


def parse_duration(s):
    """'1d2h30m' -> minutes (1440 + 120 + 30); other characters are ignored."""
    total = 0
    num = ''
    for ch in s:
        if ch.isdigit():
            num += ch
        elif ch in UNITS and num:
            total += int(num) * UNITS[ch]
            num = ''
    return total


def parse_range(s):
    """'3-6' -> [3, 4, 5, 6]; '6-3' gives the same."""
    lo, _, hi = s.partition('-')
    a, b = int(lo), int(hi)
    if a > b:
        a, b = b, a
    return list(range(a, b + 1))
]]}

M.report = {deps = {"parsers", "stats", "textproc"}, src = [[
"""Reports built from the other modules."""

from {{pkg}} import parsers, stats, textproc

WIDTH = {{width}}


def spending_summary(text):
    """'12, 7, 30' -> count, mean and median of the amounts."""
    values = parsers.parse_ints(text)
    return {'n': len(values), 'mean': stats.mean(values), 'median': stats.median(values)}


def headline(s, width):
    """s in title case, wrapped to width."""
    return textproc.wrap(textproc.title_case(s), width)


def column(values, width=WIDTH):
    """The values right-aligned in a column of the given width."""
    return [textproc.pad(str(v), width, right=True) for v in values]
]]}

local PKGS = {"pkg", "toolkit", "utilkit", "corelib", "helpers", "minilib"}
local WORDS = {"the", "a", "of", "and", "river", "stone", "quick", "light", "garden", "north", "paper", "silver",
               "market", "winter", "on", "in", "to", "bright", "valley", "engine", "an", "old", "harbour", "lamp"}
local SMALLS = {"a", "an", "the", "of", "and", "in", "on", "to"}
local NAMES = {"ann", "bob", "cy", "dee", "eve", "fin"}

local function sentence(rng, n)
  local t = {}
  for i = 1, n do
    local w = rng:choice(WORDS)
    if rng:bool(0.25) then w = w:sub(1, 1):upper() .. w:sub(2) end
    if rng:bool(0.15) then w = w .. rng:choice({",", ".", "!", ";"}) end
    t[i] = w
  end
  return table.concat(t, rng:bool(0.8) and " " or "  ")
end
local function ints(rng, n, lo, hi)
  local t = json.array({})
  for i = 1, n do t[i] = rng:int(lo, hi) end
  return t
end
local function mat(rng, r, c)
  local m = json.array({})
  for i = 1, r do m[i] = ints(rng, c, -4, 6) end
  return m
end
local function month_days(y, m)
  if m == 2 and y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) then return 29 end
  return ({31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31})[m]
end
local function date(rng)
  local y = rng:bool(0.2) and rng:choice({1900, 2000, 1996, 2100, 2024}) or rng:int(1900, 2040)
  local m = rng:int(1, 12)
  return json.array({y, m, rng:bool(0.2) and month_days(y, m) or rng:int(1, month_days(y, m))})
end
local function span(rng)
  local s = rng:int(0, 30)
  return json.array({s, s + rng:int(0, 8)})
end
local function spans(rng, n)
  local t = json.array({})
  for i = 1, n do t[i] = span(rng) end
  return t
end
local lit = py.pylit

-- Each case: an expression over the imported modules and its entry function.
local CASES = {
  textproc = {
    word_count = function(rng) return "textproc.word_count(" .. lit(sentence(rng, rng:int(0, 7))) .. ")" end,
    title_case = function(rng) return "textproc.title_case(" .. lit(sentence(rng, rng:int(1, 7))) .. ")" end,
    wrap = function(rng) return "textproc.wrap(" .. lit(sentence(rng, rng:int(2, 10))) .. ", " .. rng:int(5, 18) .. ")" end,
    truncate = function(rng) return "textproc.truncate(" .. lit(sentence(rng, rng:int(1, 5))) .. ", " .. rng:int(4, 24) .. ")" end,
    pad = function(rng)
      return "textproc.pad(" .. lit(sentence(rng, rng:int(1, 3))) .. ", " .. rng:int(4, 16) .. (rng:bool() and ", right=True" or "") .. ")"
    end,
  },
  stats = {
    mean = function(rng) return "stats.mean(" .. lit(ints(rng, rng:int(0, 7), -5, 40)) .. ")" end,
    median = function(rng) return "stats.median(" .. lit(ints(rng, rng:int(0, 8), -5, 40)) .. ")" end,
    moving_sum = function(rng) return "stats.moving_sum(" .. lit(ints(rng, rng:int(1, 8), -5, 20)) .. ", " .. rng:int(1, 4) .. ")" end,
    transpose = function(rng) return "stats.transpose(" .. lit(mat(rng, rng:int(1, 3), rng:int(1, 3))) .. ")" end,
    matmul = function(rng)
      local r, k, c = rng:int(1, 3), rng:int(1, 3), rng:int(1, 3)
      return "stats.matmul(" .. lit(mat(rng, r, k)) .. ", " .. lit(mat(rng, k, c)) .. ")"
    end,
    argmax = function(rng) return "stats.argmax(" .. lit(ints(rng, rng:int(1, 7), 0, 9)) .. ")" end,
  },
  dates = {
    is_leap = function(rng) return "dates.is_leap(" .. rng:choice({1900, 2000, 2100, 2024, 2023, 1996, rng:int(1900, 2400)}) .. ")" end,
    day_of_year = function(rng) return "dates.day_of_year(" .. lit(date(rng)) .. ")" end,
    days_between = function(rng) return "dates.days_between(" .. lit(date(rng)) .. ", " .. lit(date(rng)) .. ")" end,
    add_days = function(rng) return "dates.add_days(" .. lit(date(rng)) .. ", " .. rng:int(0, 400) .. ")" end,
    covered = function(rng) return "dates.covered(" .. lit(spans(rng, rng:int(0, 5))) .. ")" end,
    overlap = function(rng) return "dates.overlap(" .. lit(span(rng)) .. ", " .. lit(span(rng)) .. ")" end,
  },
  ledger = {
    replay = function(rng)
      local ops = json.array({})
      local names = rng:sample(NAMES, rng:int(2, 4))
      for i = 1, rng:int(1, 8) do
        local k = rng:int(1, 3)
        local x = rng:int(-2, 60)
        if k == 1 then ops[i] = json.array({"dep", rng:choice(names), x})
        elseif k == 2 then ops[i] = json.array({"wd", rng:choice(names), x})
        else ops[i] = json.array({"tr", rng:choice(names), rng:choice(names), x}) end
      end
      return "ledger.replay(" .. lit(ops) .. ")"
    end,
    richest = function(rng)
      local e = json.array({})
      for i = 1, rng:int(1, 6) do e[i] = json.array({rng:choice(NAMES), rng:int(1, 30)}) end
      return "ledger.Ledger(" .. lit(e) .. ").richest(" .. rng:int(1, 4) .. ")"
    end,
    total = function(rng)
      local e = json.array({})
      for i = 1, rng:int(0, 6) do e[i] = json.array({rng:choice(NAMES), rng:int(1, 30)}) end
      return "ledger.Ledger(" .. lit(e) .. ").total()"
    end,
  },
  parsers = {
    parse_kv = function(rng, p)
      local t = {}
      for i = 1, rng:int(0, 5) do
        t[i] = rng:choice({"a", "b", "k", "mode", "x"}) .. (rng:bool() and " = " or "=") .. rng:choice({"1", "on", "", "zz", "7b"})
      end
      return "parsers.parse_kv(" .. lit(table.concat(t, p.sep .. (rng:bool() and " " or ""))) .. ")"
    end,
    parse_ints = function(rng)
      local t = {}
      for i = 1, rng:int(0, 6) do t[i] = (rng:bool(0.2) and "" or tostring(rng:int(-9, 99))) end
      return "parsers.parse_ints(" .. lit(table.concat(t, rng:bool() and ", " or ",")) .. ")"
    end,
    parse_duration = function(rng)
      local t = {}
      for _, u in ipairs({"d", "h", "m"}) do if rng:bool(0.6) then t[#t + 1] = rng:int(0, 40) .. u end end
      return "parsers.parse_duration(" .. lit(table.concat(t, rng:bool(0.3) and " " or "")) .. ")"
    end,
    parse_range = function(rng) return "parsers.parse_range(" .. lit(rng:int(0, 9) .. "-" .. rng:int(0, 9)) .. ")" end,
  },
  report = {
    spending_summary = function(rng)
      local t = {}
      for i = 1, rng:int(1, 6) do t[i] = tostring(rng:int(1, 90)) end
      return "report.spending_summary(" .. lit(table.concat(t, ", ")) .. ")"
    end,
    headline = function(rng) return "report.headline(" .. lit(sentence(rng, rng:int(2, 8))) .. ", " .. rng:int(8, 20) .. ")" end,
    column = function(rng) return "report.column(" .. lit(ints(rng, rng:int(1, 4), -99, 9999)) .. ", " .. rng:int(3, 8) .. ")" end,
  },
}
local ENTRIES = {} -- module -> sorted entry names
for mod, t in pairs(CASES) do
  local names = {}
  for k in pairs(t) do names[#names + 1] = k end
  table.sort(names)
  ENTRIES[mod] = names
end
local QUAL = {richest = "Ledger.richest", total = "Ledger.total"} -- entry -> function qualified in its module

-- ---- mutations ---------------------------------------------------------------------------

-- Positions of s inside quotes ('...' or "..."), as a set.
local function quoted(s)
  local q, inq = {}, nil
  for i = 1, #s do
    local c = s:sub(i, i)
    if inq then q[i] = true; if c == inq then inq = nil end
    elseif c == "'" or c == '"' then inq = c; q[i] = true end
  end
  return q
end

local CMP = {["<"] = "<=", ["<="] = "<", [">"] = ">=", [">="] = ">", ["=="] = "!=", ["!="] = "=="}

-- Candidate one-line mutations of a line: list of {new_line, kind}.
local function line_mutants(s)
  local out, q = {}, quoted(s)
  local function add(new, kind) if new ~= s then out[#out + 1] = {new, kind} end end
  local i = 1
  while i <= #s do
    if not q[i] then
      local two, one = s:sub(i, i + 1), s:sub(i, i)
      if CMP[two] then add(s:sub(1, i - 1) .. CMP[two] .. s:sub(i + 2), "comparison operator"); i = i + 1
      elseif (one == "<" or one == ">") and s:sub(i - 1, i - 1) ~= "-" then
        add(s:sub(1, i - 1) .. CMP[one] .. s:sub(i + 1), "comparison operator")
      end
    end
    i = i + 1
  end
  for a, b in s:gmatch("() [%+%-] 1()") do
    if not q[a] and not s:sub(b, b):match("[%w_.]") then add(s:sub(1, a - 1) .. s:sub(b), "off-by-one") end
  end
  for a, b in s:gmatch("()range%(()") do
    if not q[a] then
      local depth, j = 1, b
      while j <= #s and depth > 0 do
        local c = s:sub(j, j)
        if c == "(" then depth = depth + 1 elseif c == ")" then depth = depth - 1 end
        j = j + 1
      end
      if depth == 0 then add(s:sub(1, j - 2) .. " - 1" .. s:sub(j - 1), "off-by-one in a range") end
    end
  end
  for a, num, b in s:gmatch("()(%d+)()") do
    if not q[a] and not s:sub(a - 1, a - 1):match("[%w_.]") and not s:sub(b, b):match("[%w_.]") then
      local n = tonumber(num)
      local kind = s:match("^%s+[%w_]+ = %d+$") and "wrong accumulator init" or "wrong constant"
      add(s:sub(1, a - 1) .. (n + 1) .. s:sub(b), kind)
      if n > 0 then add(s:sub(1, a - 1) .. (n - 1) .. s:sub(b), kind) end
    end
  end
  for a, f, x, y, b in s:gmatch("()([%w_%.]+)%(([%w_%.%[%]]+), ([%w_%.%[%]%-]+)%)()") do
    if not q[a] and x ~= y and f ~= "range" then add(s:sub(1, a - 1) .. f .. "(" .. y .. ", " .. x .. ")" .. s:sub(b), "swapped arguments") end
  end
  for a, w, b in s:gmatch("() (%l+) ()") do
    if not q[a] and (w == "and" or w == "or") then add(s:sub(1, a) .. (w == "and" and "or" or "and") .. s:sub(b - 1), "and/or swapped") end
  end
  return out
end

local function indent(s) return #s:match("^( *)") end
local function split_lines(s)
  local t = {}
  for l in (s .. "\n"):gmatch("([^\n]*)\n") do t[#t + 1] = l end
  if t[#t] == "" then t[#t] = nil end
  return t
end

-- Every candidate mutation of a module's source: {fn, kind, i, j, repl} replaces lines i..j
-- (inside function fn, qualified in the module) by the lines repl.
local function mutations(src)
  local lines, out = split_lines(src), {}
  local fn, fn_ind, class
  local in_doc = false
  for i, l in ipairs(lines) do
    local ind = indent(l)
    local c = l:match("^class ([%w_]+)")
    if c then class = c; fn = nil
    elseif l:match("^def ") then class = nil end
    local d = l:match("^%s*def ([%w_]+)")
    if d then
      fn, fn_ind = (ind > 0 and class) and (class .. "." .. d) or d, ind
    elseif fn and l ~= "" and ind <= fn_ind then fn = nil end
    local doc = l:match('^%s*"""')
    if doc and not l:match('^%s*""".*"""') then in_doc = not in_doc end
    if fn and not d and not doc and not in_doc and l ~= "" then
      for _, m in ipairs(line_mutants(l)) do out[#out + 1] = {fn = fn, kind = m[2], i = i, j = i, repl = {m[1]}} end
      local cond = l:match("^%s*(if) .*:$") or l:match("^%s*(elif) .*:$")
      if cond then
        local k = i + 1
        while lines[k] and lines[k] ~= "" and indent(lines[k]) > ind do k = k + 1 end
        local nxt = lines[k] and (lines[k]:match("^%s*(%a+)") or "") or ""
        if k > i + 1 and k <= i + 5 and not (cond == "if" and indent(lines[k] or "") == ind and (nxt == "elif" or nxt == "else")) then
          out[#out + 1] = {fn = fn, kind = "branch removed", i = i, j = k - 1, repl = {}}
        end
      end
    end
  end
  return out, lines
end

local function count_plain(s, pat)
  local n, init = 0, 1
  while true do
    local a, b = s:find(pat, init, true)
    if not a then return n end
    n, init = n + 1, a + 1
  end
end

-- Applies a mutation; returns the new source and the fix (old text in the mutated file,
-- unique there, and the original text it must become).
local function apply(lines, m)
  local new = {}
  for k = 1, m.i - 1 do new[#new + 1] = lines[k] end
  for _, r in ipairs(m.repl) do new[#new + 1] = r end
  for k = m.j + 1, #lines do new[#new + 1] = lines[k] end
  local text = table.concat(new, "\n") .. "\n"
  local shift = #m.repl - (m.j - m.i + 1)
  for c = (#m.repl == 0 and 1 or 0), 6 do
    local oa, ob = math.max(1, m.i - c), math.min(#new, m.i + #m.repl - 1 + c)
    local o, w = {}, {}
    for k = oa, ob do o[#o + 1] = new[k] end
    for k = oa, ob - shift do w[#w + 1] = lines[k] end
    local old = table.concat(o, "\n")
    if old ~= "" and count_plain(text, old) == 1 then
      return text, {old = old, new = table.concat(w, "\n")}
    end
  end
  return nil
end

-- ---- sandbox runs ------------------------------------------------------------------------

-- Unpacks bundle.json's files (paths with folders; ef.exec takes plain names only).
local BOOT = [[
import json, os, sys
_b = json.load(open('bundle.json'))
os.remove('bundle.json')
for _p, _c in sorted(_b['files'].items()):
    _d = os.path.dirname(_p)
    if _d:
        os.makedirs(_d, exist_ok=True)
    with open(_p, 'w') as _f:
        _f.write(_c)
]]

-- Runs the unittest files (all of tests/, or one module) with the files at the top.
local TESTS = BOOT .. [[
sys.path.insert(0, os.getcwd())
import unittest
unittest.main(module=None, argv=['python3 -m unittest'] + _b['argv'])
]]

-- Evaluates each case expression on each variant folder (appended to sys.path, so the
-- repository's files cannot shadow this script's own imports) and prints one line per case:
-- "@@<variant>\t<case>\t<json>" ('!' when it raised). The expected outputs never enter.
local CASES_PY = BOOT .. [[
_out = sys.stdout
for _vi, _v in enumerate(_b['variants']):
    sys.path.append(os.path.abspath(_v))
    for _k in list(sys.modules):
        if _k == _b['pkg'] or _k.startswith(_b['pkg'] + '.'):
            del sys.modules[_k]
    _ns = {}
    try:
        exec('from %s import %s' % (_b['pkg'], ', '.join(_b['mods'])), _ns)
        _ok = True
    except BaseException:
        _ok = False
    for _i, _e in enumerate(_b['cases']):
        _r = '!'
        if _ok:
            try:
                _r = json.dumps(eval(_e, _ns), sort_keys=True)
            except BaseException:
                _r = '!'
        _out.write('@@%d\t%d\t%s\n' % (_vi, _i, _r))
        _out.flush()
    sys.path.remove(os.path.abspath(_v))
]]

-- outs[variant][case] = JSON text or '!'; a line printed twice makes that case '?' (failed).
local function run_cases(files, variants, pkg, mods, cases)
  local r = ef.exec{argv = {"python3", "cases.py"}, wall_ms = 20000, mem_mb = 512,
                    files = {["cases.py"] = CASES_PY, ["bundle.json"] = json.encode({files = files, variants = variants,
                             pkg = pkg, mods = mods, cases = cases})}}
  local outs = {}
  for v, i, val in (r.stdout or ""):gmatch("@@(%d+)\t(%d+)\t([^\n]*)") do
    v, i = tonumber(v) + 1, tonumber(i) + 1
    outs[v] = outs[v] or {}
    outs[v][i] = outs[v][i] == nil and val or "?"
  end
  return outs, r.status
end

-- Hidden-case results by a hash of (files, cases): identical states are not run again.
-- Only runs that ended normally are kept (a timeout is not taken as the state's result);
-- the table is emptied when it grows past 64 entries.
local cache, cache_n = {}, 0
local function hidden_outputs(files, pkg, mods, cases)
  local key = ef.verify.state_hash({files = files, pkg = pkg, mods = mods, cases = cases})
  local hit = cache[key]
  if hit then return hit end
  local prefixed = {}
  for p, c in pairs(files) do prefixed["repo/" .. p] = c end
  local outs, status = run_cases(prefixed, json.array({"repo"}), pkg, mods, cases)
  local res = {outs = outs[1] or {}, status = status}
  if status == "ok" then
    if cache_n >= 64 then cache, cache_n = {}, 0 end
    cache[key], cache_n = res, cache_n + 1
  end
  return res
end

-- JSON text -> Python literal (true/false/null outside strings).
local function pyval(j)
  local out, i, n = {}, 1, #j
  while i <= n do
    local c = j:sub(i, i)
    if c == '"' then
      local k = i + 1
      while k <= n and j:sub(k, k) ~= '"' do k = k + (j:sub(k, k) == "\\" and 2 or 1) end
      out[#out + 1] = j:sub(i, k); i = k + 1
    else
      local w = j:match("^%a+", i)
      if w then
        out[#out + 1] = ({["true"] = "True", ["false"] = "False", null = "None"})[w] or w; i = i + #w
      else out[#out + 1] = c; i = i + 1 end
    end
  end
  return table.concat(out)
end

-- ---- tools -------------------------------------------------------------------------------

local function sorted_paths(files)
  local t = {}
  for p in pairs(files) do t[#t + 1] = p end
  table.sort(t)
  return t
end
local function get_file(state, path)
  local c = state.files[path]
  if not c then error("no file '" .. path .. "' (files: " .. table.concat(sorted_paths(state.files), ", ") .. ")") end
  return c
end
local function numbered(lines, a, b)
  local t = {}
  for k = a, b do t[#t + 1] = string.format("%4d| %s", k, lines[k]) end
  return table.concat(t, "\n")
end
local function check_path(p)
  if #p == 0 or #p > 200 then error("path must have 1 to 200 characters") end
  if p:sub(1, 1) == "/" then error("path '" .. p .. "' must be relative to the repository root") end
  if not p:match("^[%w_%-%./]+$") then error("path '" .. p .. "' may use only letters, digits, '_', '-', '.' and '/'") end
  for part in (p .. "/"):gmatch("([^/]*)/") do
    if part == "" or part == "." or part == ".." then error("path '" .. p .. "' has an empty, '.' or '..' part") end
  end
end

local MAX_OUT = 6000
local function run_tests(state, args)
  local argv = json.array({"discover", "-s", "tests", "-t", ".", "-v"})
  if args.path then
    local p = args.path
    get_file(state, p)
    if not p:match("%.py$") then error("'" .. p .. "' is not a Python file") end
    argv = json.array({(p:gsub("%.py$", ""):gsub("/", ".")), "-v"})
  end
  local r = ef.exec{argv = {"python3", "run_tests.py"}, wall_ms = 20000, mem_mb = 512,
                    files = {["run_tests.py"] = TESTS, ["bundle.json"] = json.encode({files = state.files, argv = argv})}}
  local err = (r.stderr or ""):gsub("(Ran %d+ tests?) in [%d%.]+s", "%1")
  local passed, failed = 0, 0
  for st in err:gmatch(" %.%.%. (%u+)") do
    if st == "FAIL" or st == "ERROR" then failed = failed + 1 end
  end
  for _ in err:gmatch(" %.%.%. ok") do passed = passed + 1 end
  local detail = err:match("\n(======.*)$") or err:match("\n(%-%-%-%-%-.*)$") or err
  if #detail > MAX_OUT then detail = detail:sub(1, MAX_OUT) .. "\n... (output cut at " .. MAX_OUT .. " characters)" end
  local out = (r.stdout or "")
  if #out > 2000 then out = out:sub(1, 2000) .. "\n... (cut)" end
  return {status = r.status, passed = passed, failed = failed, output = detail, stdout = out}
end

-- Unified diff of two texts (LCS over the lines between the common head and tail).
local function udiff(path, a, b)
  local A, B = a and split_lines(a) or {}, b and split_lines(b) or {}
  local pre = 0
  while pre < #A and pre < #B and A[pre + 1] == B[pre + 1] do pre = pre + 1 end
  local suf = 0
  while suf < #A - pre and suf < #B - pre and A[#A - suf] == B[#B - suf] do suf = suf + 1 end
  local n, m = #A - pre - suf, #B - pre - suf
  local L = {}
  for i = n + 1, 1, -1 do
    L[i] = {}
    for j = m + 1, 1, -1 do
      if i > n or j > m then L[i][j] = 0
      elseif A[pre + i] == B[pre + j] then L[i][j] = L[i + 1][j + 1] + 1
      else L[i][j] = math.max(L[i + 1][j], L[i][j + 1]) end
    end
  end
  local ops = {} -- {tag, text, old line, new line}
  for k = 1, pre do ops[#ops + 1] = {" ", A[k], k, k} end
  local i, j = 1, 1
  while i <= n or j <= m do
    if i <= n and j <= m and A[pre + i] == B[pre + j] then
      ops[#ops + 1] = {" ", A[pre + i], pre + i, pre + j}; i, j = i + 1, j + 1
    elseif i <= n and (j > m or L[i + 1][j] >= L[i][j + 1]) then
      ops[#ops + 1] = {"-", A[pre + i], pre + i, pre + j}; i = i + 1
    else
      ops[#ops + 1] = {"+", B[pre + j], pre + i, pre + j}; j = j + 1
    end
  end
  for k = 1, suf do ops[#ops + 1] = {" ", A[#A - suf + k], #A - suf + k, #B - suf + k} end
  local out = {"--- " .. (a and "a/" .. path or "/dev/null"), "+++ " .. (b and "b/" .. path or "/dev/null")}
  local k = 1
  while k <= #ops do
    if ops[k][1] ~= " " then
      local s = math.max(1, k - 3)
      local e, last = k, k
      while e <= #ops and e - last <= 6 do
        if ops[e][1] ~= " " then last = e end
        e = e + 1
      end
      e = math.min(#ops, last + 3)
      local oc, nc = 0, 0
      for x = s, e do
        if ops[x][1] ~= "+" then oc = oc + 1 end
        if ops[x][1] ~= "-" then nc = nc + 1 end
      end
      local os_ = oc == 0 and ops[s][3] - 1 or ops[s][3]
      local ns_ = nc == 0 and ops[s][4] - 1 or ops[s][4]
      out[#out + 1] = string.format("@@ -%d,%d +%d,%d @@", os_, oc, ns_, nc)
      for x = s, e do out[#out + 1] = ops[x][1] .. ops[x][2] end
      k = e + 1
    else k = k + 1 end
  end
  return table.concat(out, "\n")
end

env.tools = {
  list_files = {
    description = "List the repository's files with their line counts.",
    parameters = {type = "object", properties = {}},
    run = function(state)
      local t = json.array({})
      for _, p in ipairs(sorted_paths(state.files)) do t[#t + 1] = {path = p, lines = #split_lines(state.files[p])} end
      return {files = t}
    end,
  },
  read_file = {
    description = "Read a file with line numbers, optionally only lines start..end (1-based, inclusive).",
    parameters = {type = "object", properties = {path = {type = "string"}, start = {type = "integer", minimum = 1},
                  ["end"] = {type = "integer", minimum = 1}}, required = {"path"}},
    run = function(state, args)
      local lines = split_lines(get_file(state, args.path))
      local a, b = args.start or 1, math.min(args["end"] or #lines, #lines)
      if #lines > 0 and a > #lines then error(args.path .. " has " .. #lines .. " lines; start " .. a .. " is past the end") end
      if b < a and #lines > 0 then error("end " .. b .. " is before start " .. a) end
      return {path = args.path, total_lines = #lines, text = numbered(lines, a, b)}
    end,
  },
  edit_file = {
    description = "Replace the exact text old (which must occur exactly once in the file, indentation included) " ..
                  "by new.",
    parameters = {type = "object", properties = {path = {type = "string"}, old = {type = "string"}, new = {type = "string"}},
                  required = {"path", "old", "new"}},
    run = function(state, args)
      local text = get_file(state, args.path)
      if args.old == "" then error("old must not be empty (write_file replaces a whole file)") end
      if args.old == args.new then error("old and new are the same: nothing would change") end
      local n = count_plain(text, args.old)
      if n == 0 then
        error("old text not found in " .. args.path .. " (it must match exactly, indentation included; read_file shows " ..
              "the current text)")
      end
      local a = text:find(args.old, 1, true)
      if n > 1 then
        local at, init = {}, 1
        while true do
          local x = text:find(args.old, init, true)
          if not x then break end
          local _, nl = text:sub(1, x):gsub("\n", "")
          at[#at + 1] = tostring(nl + 1)
          init = x + 1
        end
        error("old text occurs " .. n .. " times in " .. args.path .. " (at lines " .. table.concat(at, ", ") ..
              "); include more surrounding lines so that it is unique")
      end
      state.files[args.path] = text:sub(1, a - 1) .. args.new .. text:sub(a + #args.old)
      local _, first = text:sub(1, a):gsub("\n", "")
      local lines = split_lines(state.files[args.path])
      local _, nnew = args.new:gsub("\n", "")
      local s, e = math.max(1, first + 1 - 2), math.min(#lines, first + 1 + nnew + 2)
      return {path = args.path, replaced_at_line = first + 1, text = numbered(lines, s, e)}
    end,
  },
  write_file = {
    description = "Create a file or replace its whole content.",
    parameters = {type = "object", properties = {path = {type = "string"}, content = {type = "string"}},
                  required = {"path", "content"}},
    run = function(state, args)
      check_path(args.path)
      if #args.content > 100000 then error("content is over 100000 bytes") end
      local created = state.files[args.path] == nil
      if created and #sorted_paths(state.files) >= 64 then error("the repository already has 64 files") end
      state.files[args.path] = args.content
      return {path = args.path, created = created, lines = #split_lines(args.content)}
    end,
  },
  run_tests = {
    description = "Run the repository's unittest files in tests/ (or only the file at path) against the current " ..
                  "files; returns pass/fail counts and the failing output.",
    parameters = {type = "object", properties = {path = {type = "string"}}},
    run = run_tests,
  },
  diff = {
    description = "Unified diff of the current files against the original repository.",
    parameters = {type = "object", properties = {}},
    run = function(state)
      local paths, seen = {}, {}
      for _, t in ipairs({state.base, state.files}) do
        for p in pairs(t) do if not seen[p] then seen[p] = true; paths[#paths + 1] = p end end
      end
      table.sort(paths)
      local out = {}
      for _, p in ipairs(paths) do
        if state.base[p] ~= state.files[p] then out[#out + 1] = udiff(p, state.base[p], state.files[p]) end
      end
      return {diff = #out > 0 and table.concat(out, "\n") or "(no changes)"}
    end,
  },
}

-- ---- generate ----------------------------------------------------------------------------

local LEVEL = { -- modules, visible and hidden cases per module
  {n = {1, 1}, vis = 4, hid = 10},
  {n = {2, 3}, vis = 3, hid = 7},
  {n = {3, 4}, vis = 3, hid = 6},
  {n = {5, 6}, vis = 2, hid = 5},
}
local BASE = {"dates", "ledger", "parsers", "stats", "textproc"}

local function pick_modules(rng, level)
  local n = rng:int(LEVEL[level].n[1], LEVEL[level].n[2])
  if level == 4 or (level == 3 and n == 4 and rng:bool(0.7)) then
    local mods = {"report", "parsers", "stats", "textproc"}
    for _, x in ipairs(rng:sample({"dates", "ledger"}, n - 4)) do mods[#mods + 1] = x end
    table.sort(mods)
    return mods
  end
  local mods = rng:sample(BASE, n)
  table.sort(mods)
  return mods
end

local function test_file(pkg, mod, cases, outs, idx)
  local t = {"import json", "import unittest", "", "from " .. pkg .. " import " .. mod, "", "",
             "def _n(v):", "    return json.loads(json.dumps(v))", "", "",
             "class Test" .. mod:sub(1, 1):upper() .. mod:sub(2) .. "(unittest.TestCase):"}
  local count = {}
  for _, k in ipairs(idx) do
    local c = cases[k]
    count[c.entry] = (count[c.entry] or 0) + 1
    c.test = "test_" .. c.entry .. "_" .. count[c.entry]
    t[#t + 1] = "    def " .. c.test .. "(self):"
    t[#t + 1] = "        self.assertEqual(_n(" .. c.expr .. "), " .. pyval(outs[k]) .. ")"
    t[#t + 1] = ""
  end
  t[#t] = nil
  return table.concat(t, "\n") .. "\n"
end

local function fails(outs, k, want) return outs[k] ~= want end

local function try_generate(rng, level)
  local L = LEVEL[level]
  local pkg = rng:choice(PKGS)
  local mods = pick_modules(rng, level)
  local p = {pkg = pkg, digits = rng:int(1, 3), limit = rng:choice({0, 0, 10, 25, 50}), sep = rng:choice({";", "|", "&"}),
             ell = rng:choice({"...", "~", ".."}), width = rng:int(5, 9)}
  local sm = rng:sample(SMALLS, rng:int(3, 5))
  for i, w in ipairs(sm) do sm[i] = "'" .. w .. "'" end
  p.small = table.concat(sm, ", ")
  local srcs, cases = {}, {}
  for _, mod in ipairs(mods) do
    srcs[mod] = fill(M[mod].src, p)
    local entries = rng:shuffle({table.unpack(ENTRIES[mod])})
    local seen = {}
    for k = 1, L.vis + L.hid + 4 do
      local e = entries[(k - 1) % #entries + 1]
      local expr = CASES[mod][e](rng, p)
      if not seen[expr] then
        seen[expr] = true
        cases[#cases + 1] = {mod = mod, entry = e, expr = expr, fn = mod .. "." .. (QUAL[e] or e)}
      end
    end
  end
  -- candidate mutations over the functions this level's bug may be in
  local cands = {}
  for _, mod in ipairs(mods) do
    local ms, lines = mutations(srcs[mod])
    for _, m in ipairs(ms) do
      local private = m.fn:match("^_") ~= nil
      local ok = (level == 1 and not private) or (level == 2 and private) or level == 3 or (level == 4 and mod ~= "report")
      if ok then m.mod, m.lines = mod, lines; cands[#cands + 1] = m end
    end
  end
  rng:shuffle(cands)
  local singles = {}
  for _, m in ipairs(cands) do
    if #singles >= (level == 4 and 24 or 12) then break end
    local text, fix = apply(m.lines, m)
    if text then m.text, m.fix = text, fix; singles[#singles + 1] = m end
  end
  local variants = {{}} -- variant 1: the original; each other: {mutation, ...}
  for _, m in ipairs(singles) do variants[#variants + 1] = {m} end
  if level == 3 then
    for a = 1, math.min(#singles, 8) do
      for b = a + 1, math.min(#singles, 8) do
        if singles[a].mod ~= singles[b].mod then variants[#variants + 1] = {singles[a], singles[b], pair = {a + 1, b + 1}} end
      end
    end
  end
  local files, vnames, exprs = {}, json.array({}), json.array({})
  for vi, v in ipairs(variants) do
    local dir = "v" .. vi
    vnames[vi] = dir
    for _, mod in ipairs(mods) do files[dir .. "/" .. pkg .. "/" .. mod .. ".py"] = srcs[mod] end
    files[dir .. "/" .. pkg .. "/__init__.py"] = ""
    for _, m in ipairs(v) do files[dir .. "/" .. pkg .. "/" .. m.mod .. ".py"] = m.text end
  end
  for i, c in ipairs(cases) do exprs[i] = c.expr end
  local outs, status = run_cases(files, vnames, pkg, json.array(mods), exprs)
  if status ~= "ok" or not outs[1] then error("the generation run failed in the sandbox: " .. tostring(status)) end
  local orig = outs[1]
  -- keep the cases the original answers; the first vis per module are visible, the next hid hidden
  local vis, hid, per = {}, {}, {}
  for k, c in ipairs(cases) do
    if orig[k] and orig[k] ~= "!" and orig[k] ~= "?" then
      per[c.mod] = (per[c.mod] or 0) + 1
      if per[c.mod] <= L.vis then vis[#vis + 1] = k elseif per[c.mod] <= L.vis + L.hid then hid[#hid + 1] = k end
    end
  end
  local function judge(vo)
    local r = {vfail = {}, hfail = {}, hpass = 0}
    for _, k in ipairs(vis) do if fails(vo, k, orig[k]) then r.vfail[#r.vfail + 1] = k end end
    for _, k in ipairs(hid) do
      if fails(vo, k, orig[k]) then r.hfail[#r.hfail + 1] = k else r.hpass = r.hpass + 1 end
    end
    return r
  end
  local chosen, jc, issue_cases
  for vi = 2, #variants do
    local v, vo = variants[vi], outs[vi] or {}
    local j = judge(vo)
    local good = #j.hfail > 0 and j.hpass > 0
    for _, m in ipairs(v) do -- a mutated module that no longer imports is a syntax error, not a bug
      local alive = false
      for k, c in ipairs(cases) do if c.mod == m.mod and vo[k] and vo[k] ~= "!" and vo[k] ~= "?" then alive = true end end
      good = good and alive
    end
    if good and level == 1 then
      issue_cases = nil
      for _, k in ipairs(j.vfail) do if cases[k].fn == v[1].mod .. "." .. v[1].fn then issue_cases = {k}; break end end
      good = issue_cases ~= nil
    elseif good and level == 2 then
      good = #j.vfail > 0
      issue_cases = {j.vfail[1]}
    elseif good and level == 3 then
      good = v.pair ~= nil and #j.vfail > 0
      if good then
        issue_cases = {}
        for _, s in ipairs(v.pair) do
          local js = judge(outs[s] or {})
          local pick = js.vfail[1] or js.hfail[1]
          if #js.hfail == 0 or not pick then good = false; break end
          issue_cases[#issue_cases + 1] = pick
        end
        if good and issue_cases[1] == issue_cases[2] then good = false end
      end
    elseif good and level == 4 then
      good = #j.vfail == 0
      issue_cases = nil
      for _, k in ipairs(j.hfail) do if cases[k].mod == "report" then issue_cases = {k}; break end end
      good = good and issue_cases ~= nil
    end
    if good then chosen, jc = vi, j; break end
  end
  if not chosen then return nil end
  local v, vo = variants[chosen], outs[chosen]
  -- the repository as the agent gets it
  local repo = {[pkg .. "/__init__.py"] = "", ["tests/__init__.py"] = ""}
  for _, mod in ipairs(mods) do repo[pkg .. "/" .. mod .. ".py"] = srcs[mod] end
  for _, m in ipairs(v) do repo[pkg .. "/" .. m.mod .. ".py"] = m.text end
  for _, mod in ipairs(mods) do
    local idx = {}
    for _, k in ipairs(vis) do if cases[k].mod == mod then idx[#idx + 1] = k end end
    repo["tests/test_" .. mod .. ".py"] = test_file(pkg, mod, cases, orig, idx)
  end
  local hexprs, hexp, f2p = json.array({}), json.array({}), json.array({})
  local isf = {}
  for _, k in ipairs(jc.hfail) do isf[k] = true end
  for i, k in ipairs(hid) do hexprs[i], hexp[i], f2p[i] = cases[k].expr, orig[k], isf[k] == true end
  -- the issue report
  local modlist = {}
  for i, mod in ipairs(mods) do modlist[i] = "`" .. mod .. "`" end
  local function shown(k) return vo[k] == "!" and "an exception" or "`" .. pyval(vo[k]) .. "`" end
  local function single(k, outs_k)
    local got = outs_k[k] == "!" and "an exception" or "`" .. pyval(outs_k[k]) .. "`"
    return got
  end
  local title, body
  local c1 = cases[issue_cases[1]]
  local call = c1.expr:gsub("^" .. c1.mod .. "%.", "")
  if level == 1 then
    title = "`" .. c1.mod .. "." .. c1.entry .. "` returns a wrong result"
    body = string.format("`%s.%s` gives %s, but it should give `%s`.\n\nThe test suite shows it: `%s` in " ..
      "tests/test_%s.py fails.", c1.mod, call, shown(issue_cases[1]), pyval(orig[issue_cases[1]]), c1.test, c1.mod)
  elseif level == 2 then
    title = "Wrong output from `" .. c1.mod .. "." .. c1.entry .. "`"
    body = string.format("Since the last refactoring, `%s.%s` gives %s instead of `%s`. " ..
      "`python3 -m unittest` fails as well.", c1.mod, call, shown(issue_cases[1]), pyval(orig[issue_cases[1]]))
  elseif level == 3 then
    local c2 = cases[issue_cases[2]]
    title = "Two regressions"
    body = string.format("Two things broke at the same time:\n\n1. `%s` gives %s instead of `%s`.\n2. `%s` gives %s " ..
      "instead of `%s`.\n\nSome tests in tests/ fail too. Both need to work again.",
      c1.expr, single(issue_cases[1], outs[v.pair[1]]), pyval(orig[issue_cases[1]]),
      c2.expr, single(issue_cases[2], outs[v.pair[2]]), pyval(orig[issue_cases[2]]))
  else
    title = "report gives wrong numbers"
    body = string.format("Our tests all pass, but `%s` returns %s, and I would expect `%s`. " ..
      "I think something in report.py is off.", c1.expr, shown(issue_cases[1]), pyval(orig[issue_cases[1]]))
  end
  local prompt = string.format("Issue: %s\n\n%s\n\nThe repository is the Python package `%s` (modules %s) with its " ..
    "unittest files in tests/ (`from %s import <module>`). Use the tools to read and edit the files and to run the " ..
    "tests. Fix the bug in the package's code without changing the existing tests (new test files are fine): " ..
    "hidden tests are run on the final files. When done, answer with a short summary of the fix.",
    title, body, pkg, table.concat(modlist, ", "), pkg)
  local fixes, kinds = json.array({}), json.array({})
  for i, m in ipairs(v) do
    fixes[i] = {path = pkg .. "/" .. m.mod .. ".py", old = m.fix.old, new = m.fix.new, fn = m.mod .. "." .. m.fn}
    kinds[i] = m.kind
  end
  return {prompt = prompt, state = {files = repo, base = repo},
          meta = {level = level, pkg = pkg, mods = json.array(mods), cases = hexprs, expected = hexp, f2p = f2p,
                  fixes = fixes, kinds = kinds,
                  issue = {mod = c1.mod, entry = c1.entry, expr = c1.expr, expected = pyval(orig[issue_cases[1]])}}}
end

function env.generate(rng, level)
  for _ = 1, 8 do
    local t = try_generate(rng, level)
    if t then return t end
  end
  error("no mutant of eight drawn repositories fits level " .. level)
end

-- ---- solve and verify --------------------------------------------------------------------

-- Reference agent: looks at the repository (level 4: first writes the issue's example as a
-- test and sees it fail), reads each buggy file, undoes the mutation with edit_file, runs
-- the tests and answers with a summary.
function env.solve(task, call)
  local meta = task.meta
  call("list_files", {})
  if meta.level == 4 then
    local r = meta.issue
    call("write_file", {path = "tests/test_issue.py", content = "import json\nimport unittest\n\nfrom " .. meta.pkg ..
      " import " .. r.mod .. "\n\n\nclass TestIssue(unittest.TestCase):\n    def test_issue(self):\n" ..
      "        self.assertEqual(json.loads(json.dumps(" .. r.expr .. ")), " .. r.expected .. ")\n"})
    call("run_tests", {path = "tests/test_issue.py"})
  end
  local done = {}
  for _, fx in ipairs(meta.fixes) do
    call("read_file", {path = fx.path})
    call("edit_file", {path = fx.path, old = fx.old, new = fx.new})
    done[#done + 1] = "`" .. fx.fn .. "` in " .. fx.path
  end
  call("run_tests", {})
  call("diff", {})
  return "Fixed the bug in " .. table.concat(done, " and ") .. "; the tests pass."
end

function env.verify(task, answer, state)
  local files = type(state) == "table" and state.files
  if type(files) ~= "table" then return 0, {reason = "no files in the final state"} end
  for _, p in ipairs(sorted_paths(task.state.files)) do
    local c = task.state.files[p]
    if p:sub(1, 6) == "tests/" and files[p] ~= c then
      return 0, {reason = "the test file " .. p .. " was " .. (files[p] and "changed" or "removed")}
    end
  end
  local meta = task.meta
  local res = hidden_outputs(files, meta.pkg, meta.mods, meta.cases)
  local f2p, p2p, nf, np = 0, 0, 0, 0
  for i, want in ipairs(meta.expected) do
    local ok = res.outs[i] == want
    if meta.f2p[i] then nf = nf + 1; f2p = f2p + (ok and 1 or 0) else np = np + 1; p2p = p2p + (ok and 1 or 0) end
  end
  local info = {fail_to_pass = f2p .. "/" .. nf, pass_to_pass = p2p .. "/" .. np, status = res.status}
  if f2p == nf and p2p == np then return 1, info end
  return 0, info
end

return env
