-- code_strings.lua — implement a string-processing function in Python (code category).
--
-- Models: a coding task with hidden unit tests. Each task draws a function family and its
-- parameters (shift amount, run-length format, bracket set, word-length threshold, ...),
-- shows a specification with a few examples, and keeps 12-25 hidden test cases (inputs
-- generated here, expected outputs computed by a Lua implementation of the same spec).
-- Levels: 1 = letter shifting, every-k-th-letter capitalisation, most frequent letter;
-- 2 = run-length encoding (format variants), reversing long words, most frequent letter
-- with longer inputs; 3 = bracket balancing over a custom bracket set, run-length encoding
-- with omitted 1-counts, long-word reversal, with edge cases (empty strings, long inputs).
-- Tools: run_examples{code} runs the code against the visible examples in the sandbox
-- (ef.exec) and reports each result.
-- Verify: the answer is Python source (a ```python fence is taken if present) that must
-- define the function; it runs in the sandbox on the hidden inputs and its outputs are
-- compared outside it (the expected ones never enter it); reward = fraction of cases right.

local py = require("harness.code_python") -- pylit, the run_examples tool, solve, verify

local env = {name = "code_strings", version = 1, category = "code", levels = 3,
             description = "Write a Python string function that passes hidden unit tests"}

local LOWER, UPPER = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
local function is_letter(b) return (b >= 65 and b <= 90) or (b >= 97 and b <= 122) end

local function rand_text(rng, n, alphabet)
  local t = {}
  for i = 1, n do local k = rng:int(1, #alphabet); t[i] = alphabet:sub(k, k) end
  return table.concat(t)
end
local function rand_words(rng, nw, maxlen)
  local w = {}
  for i = 1, nw do w[i] = rand_text(rng, rng:int(1, maxlen), "abcdefghijklmnopqrstuvwxyzABCDEFG") end
  return table.concat(w, " ")
end

-- Families: params(rng) -> p; spec(p) -> text; fname; lua(p, args...) -> expected;
-- py(p) -> reference source; input(rng, p, level) -> args list.
local F = {}

F.shift = {
  fname = "shift_letters", sig = "s",
  params = function(rng) return {k = rng:int(1, 25)} end,
  spec = function(p) return string.format("returns `s` with every ASCII letter shifted %d positions forward in the " ..
    "alphabet, wrapping around from z to a (and Z to A) and keeping its case; other characters are unchanged.", p.k) end,
  lua = function(p, s)
    return (s:gsub("%a", function(c)
      local b = c:byte()
      if b >= 97 then return string.char((b - 97 + p.k) % 26 + 97) end
      return string.char((b - 65 + p.k) % 26 + 65)
    end))
  end,
  py = function(p) return string.format([[
def shift_letters(s):
    out = []
    for ch in s:
        if 'a' <= ch <= 'z':
            out.append(chr((ord(ch) - 97 + %d) %% 26 + 97))
        elif 'A' <= ch <= 'Z':
            out.append(chr((ord(ch) - 65 + %d) %% 26 + 65))
        else:
            out.append(ch)
    return ''.join(out)
]], p.k, p.k) end,
  input = function(rng, p, big) return {rand_text(rng, big and rng:int(50, 300) or rng:int(0, 16), "abcxyzABCXYZ mnoMNO!?,.019")} end,
}

F.kth_upper = {
  fname = "kth_upper", sig = "s",
  params = function(rng) return {k = rng:int(2, 4)} end,
  spec = function(p) return string.format("returns `s` with letters lower-cased except every %s letter " ..
    "(counting only ASCII letters, the first letter is number 1), which is upper-cased; non-letters are unchanged " ..
    "and do not count.", ({[2] = "2nd", [3] = "3rd", [4] = "4th"})[p.k]) end,
  lua = function(p, s)
    local n = 0
    return (s:gsub("%a", function(c)
      n = n + 1
      if n % p.k == 0 then return c:upper() end
      return c:lower()
    end))
  end,
  py = function(p) return string.format([[
def kth_upper(s):
    out, n = [], 0
    for ch in s:
        if ch.isascii() and ch.isalpha():
            n += 1
            out.append(ch.upper() if n %% %d == 0 else ch.lower())
        else:
            out.append(ch)
    return ''.join(out)
]], p.k) end,
  input = function(rng, p, big) return {rand_words(rng, big and rng:int(10, 60) or rng:int(0, 5), 8) .. (rng:bool(0.3) and " 42!" or "")} end,
}

F.most_frequent = {
  fname = "most_frequent", sig = "s",
  params = function(rng) return {tie = rng:choice({"smallest", "largest"})} end,
  spec = function(p) return string.format("returns the ASCII letter that occurs most often in `s`, ignoring case and " ..
    "returned in lower case; on a tie return the alphabetically %s of the tied letters; if `s` has no letters return " ..
    "the empty string.", p.tie) end,
  lua = function(p, s)
    local cnt = {}
    for c in s:lower():gmatch("%a") do cnt[c] = (cnt[c] or 0) + 1 end
    local best, bc = "", 0
    for i = 1, 26 do
      local c = LOWER:sub(i, i)
      local n = cnt[c] or 0
      if n > 0 and (n > bc or (n == bc and p.tie == "largest")) then best, bc = c, n end
    end
    return best
  end,
  py = function(p) return string.format([[
def most_frequent(s):
    counts = {}
    for ch in s.lower():
        if 'a' <= ch <= 'z':
            counts[ch] = counts.get(ch, 0) + 1
    if not counts:
        return ''
    top = max(counts.values())
    tied = sorted(c for c, n in counts.items() if n == top)
    return tied[%s]
]], p.tie == "smallest" and "0" or "-1") end,
  input = function(rng, p, big) return {rand_text(rng, big and rng:int(40, 400) or rng:int(0, 14), "aabbcdeABE 1-")} end,
}

F.rle = {
  fname = "rle", sig = "s",
  params = function(rng, level) return {before = rng:bool(), omit = level == 3 and rng:bool(0.7) or false} end,
  spec = function(p) return "returns the run-length encoding of `s`: each maximal run of equal characters becomes " ..
    (p.before and "the run length followed by the character" or "the character followed by the run length") ..
    (p.omit and ", except that runs of length 1 are written as the bare character" or "") ..
    " (e.g. \"aaab\" -> \"" .. (p.before and (p.omit and "3ab" or "3a1b") or (p.omit and "a3b" or "a3b1")) .. "\"). " ..
    "The empty string encodes to the empty string." end,
  lua = function(p, s)
    local out, i = {}, 1
    while i <= #s do
      local c = s:sub(i, i)
      local j = i
      while j + 1 <= #s and s:sub(j + 1, j + 1) == c do j = j + 1 end
      local n = j - i + 1
      local num = (p.omit and n == 1) and "" or tostring(n)
      out[#out + 1] = p.before and (num .. c) or (c .. num)
      i = j + 1
    end
    return table.concat(out)
  end,
  py = function(p) return string.format([[
def rle(s):
    out = []
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        n = j - i + 1
        num = '' if (%s and n == 1) else str(n)
        out.append(%s)
        i = j + 1
    return ''.join(out)
]], p.omit and "True" or "False", p.before and "num + s[i]" or "s[i] + num") end,
  input = function(rng, p, big)
    local t = {}
    for i = 1, big and rng:int(20, 120) or rng:int(0, 6) do t[i] = string.rep(rand_text(rng, 1, "abcxyz"), rng:int(1, big and 15 or 4)) end
    return {table.concat(t)}
  end,
}

F.reverse_long = {
  fname = "reverse_long_words", sig = "s",
  params = function(rng) return {l = rng:int(3, 6)} end,
  spec = function(p) return string.format("returns `s` (words separated by single spaces) with every word of at least %d " ..
    "characters reversed; shorter words and the word order are unchanged.", p.l) end,
  lua = function(p, s)
    if s == "" then return "" end
    local out = {}
    for w in (s .. " "):gmatch("(.-) ") do out[#out + 1] = #w >= p.l and w:reverse() or w end
    return table.concat(out, " ")
  end,
  py = function(p) return string.format([[
def reverse_long_words(s):
    return ' '.join(w[::-1] if len(w) >= %d else w for w in s.split(' '))
]], p.l) end,
  input = function(rng, p, big) return {rand_words(rng, big and rng:int(10, 80) or rng:int(1, 6), 9)} end,
}

local PAIRS = {{"(", ")"}, {"[", "]"}, {"{", "}"}, {"<", ">"}}
F.balanced = {
  fname = "is_balanced", sig = "s",
  params = function(rng)
    local ps = rng:shuffle({1, 2, 3, 4})
    local n = rng:int(2, 3)
    local p = {open = "", close = "", noise = "ab"}
    for i = 1, 4 do
      local pr = PAIRS[ps[i]]
      if i <= n then p.open = p.open .. pr[1]; p.close = p.close .. pr[2]
      else p.noise = p.noise .. pr[1] .. pr[2] end  -- brackets outside the set appear as ignored noise
    end
    return p
  end,
  spec = function(p)
    local pairs_ = {}
    for i = 1, #p.open do pairs_[i] = p.open:sub(i, i) .. p.close:sub(i, i) end
    return "returns True if the brackets in `s` are balanced and properly nested, else False. Only these pairs are " ..
      "brackets: " .. table.concat(pairs_, " ") .. "; every other character is ignored."
  end,
  lua = function(p, s)
    local stack = {}
    for i = 1, #s do
      local c = s:sub(i, i)
      local o = p.open:find(c, 1, true)
      local cl = p.close:find(c, 1, true)
      if o then stack[#stack + 1] = o
      elseif cl then
        if stack[#stack] ~= cl then return false end
        stack[#stack] = nil
      end
    end
    return #stack == 0
  end,
  py = function(p) return string.format([[
def is_balanced(s):
    opens, closes = %q, %q
    stack = []
    for ch in s:
        if ch in opens:
            stack.append(opens.index(ch))
        elif ch in closes:
            if not stack or stack[-1] != closes.index(ch):
                return False
            stack.pop()
    return not stack
]], p.open, p.close) end,
  input = function(rng, p, big)
    -- half the inputs are built balanced, the rest perturbed
    local function gen(depth)
      if depth > 4 or rng:bool(0.35) then return rand_text(rng, rng:int(0, 2), p.noise) end
      local k = rng:int(1, #p.open)
      return p.open:sub(k, k) .. gen(depth + 1) .. p.close:sub(k, k) .. gen(depth + 1)
    end
    local s = gen(big and 0 or 2)
    if rng:bool() and #s > 0 then
      local i = rng:int(1, #s)
      s = s:sub(1, i - 1) .. rng:choice({"", p.close:sub(1, 1), p.open:sub(-1)}) .. s:sub(i + 1)
    end
    return {s}
  end,
}

local BY_LEVEL = {{"shift", "kth_upper", "most_frequent"}, {"rle", "reverse_long", "most_frequent"},
                  {"balanced", "rle", "reverse_long"}}

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
    local big = #cases >= nvis + nhid - (level == 3 and 5 or 2)
    local args = fam.input(rng, p, big)
    local key = json.encode(args)
    if not seen[key] then
      seen[key] = true
      cases[#cases + 1] = {args, fam.lua(p, table.unpack(args))}
    end
  end
  if level == 3 and fam_name ~= "reverse_long" then table.insert(cases, nvis + 1, {{""}, fam.lua(p, "")}) end
  local vis, hid = json.array({}), json.array({})
  for i, c in ipairs(cases) do
    local pair = json.array({json.array(c[1]), c[2]})
    if i <= nvis then vis[#vis + 1] = pair else hid[#hid + 1] = pair end
  end
  local ex = {}
  for i, c in ipairs(vis) do ex[i] = string.format("    %s(%s) == %s", fam.fname, py.pylit(c[1][1]), py.pylit(c[2])) end
  local prompt = string.format("Write a Python function `%s(%s)` that %s\n\nExamples:\n%s\n\nAnswer with the complete " ..
    "Python code of the function (standard library only). It will be checked by hidden unit tests.",
    fam.fname, fam.sig, fam.spec(p), table.concat(ex, "\n"))
  return {prompt = prompt, state = {fname = fam.fname, examples = vis},
          answer = fam.py(p), meta = {family = fam_name, fname = fam.fname, tests = hid}}
end

-- Reference agent: writes the implementation, tries it on the examples, submits it.
function env.solve(task, call) return py.solve(task, call) end

function env.verify(task, answer) return py.verify(task, answer, false) end

return env
