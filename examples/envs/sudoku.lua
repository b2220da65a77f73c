-- sudoku.lua — mini sudoku puzzles (interpreter category), comparable with reasoning-gym's
-- mini_sudoku.
--
-- Models: fill an n x n grid (boxes r x c) so every row, column and box holds 1..n once,
-- keeping the given digits. Levels: 1 = 4x4 with 4-6 blanks; 2 = 4x4 with 8-11 blanks;
-- 3 = 6x6 (2x3 boxes) with 14-20 blanks; 4 = 9x9 with 36-50 blanks.
-- Generation: a valid full grid from the standard pattern, shuffled by digit relabelling,
-- row/column swaps within bands/stacks and band/stack swaps; then cells are blanked.
-- Uniqueness is not required: verify accepts any valid completion.
-- Tools: check_grid{grid} reports blanks, rule violations and changed givens of a grid
-- given as rows of digits ('.' or 0 for blank).
-- Verify: the answer (rows of digits; separators ignored) must be a complete valid grid
-- that keeps every given; otherwise 0.

local env = {name = "sudoku", version = 1, category = "interpreter", levels = 4,
             description = "Complete a mini sudoku (4x4, 6x6, 9x9)"}

local LV = {{n = 4, br = 2, bc = 2, lo = 4, hi = 6}, {n = 4, br = 2, bc = 2, lo = 8, hi = 11},
            {n = 6, br = 2, bc = 3, lo = 14, hi = 20}, {n = 9, br = 3, bc = 3, lo = 36, hi = 50}}

local function box_dims(n) if n == 4 then return 2, 2 elseif n == 6 then return 2, 3 else return 3, 3 end end

local byte, format = string.byte, string.format

-- Parse a grid given as a string or list of rows into a flat list of n*n numbers (0 blank):
-- the string functions keep only digits and dots ("[^0-9.]": the same bytes as
-- "[^%d%.]", matched by a range instead of a class lookup per byte), then one call reads
-- the bytes.
local function parse(s, n)
  if type(s) == "table" then s = table.concat(s, "\n") end
  if type(s) ~= "string" then return nil end
  if s:find("\\boxed{", 1, true) then s = s:match("\\boxed{(.-)}") or s end
  local t = s:gsub("[^0-9.]+", "")
  if #t ~= n * n then return nil end
  local cells = {byte(t, 1, -1)}
  for i = 1, #cells do local b = cells[i]; cells[i] = b == 46 and 0 or b - 48 end
  return cells
end

-- The answer text parsed last (the reference answer is parsed by check_grid and then by
-- verify): a pure cache as givens_cells below; only strings, which cannot change.
local last_answer, last_answer_n, last_answer_cells
local function parse_answer(s, n)
  if type(s) == "string" and s == last_answer and n == last_answer_n then return last_answer_cells end
  local cells = parse(s, n)
  if type(s) == "string" then last_answer, last_answer_n, last_answer_cells = s, n, cells end
  return cells
end

-- The units of an n x n grid in a fixed order (row 1, column 1, row 2, ..., then boxes):
-- UNITS[n][u] = {name, cell indices...}; made once when the env loads.
local UNITS = {}
for _, n in ipairs({4, 6, 9}) do
  local br, bc = box_dims(n)
  local list = {}
  for r = 1, n do
    local row, col = {"row " .. r}, {"column " .. r}
    for c = 1, n do row[c + 1] = (r - 1) * n + c; col[c + 1] = (c - 1) * n + r end
    list[#list + 1] = row; list[#list + 1] = col
  end
  for b0 = 0, n - 1 do
    local r0, c0 = (b0 // (n // bc)) * br, (b0 % (n // bc)) * bc
    local idx = {"box " .. (b0 + 1)}
    for r = r0, r0 + br - 1 do for c = c0, c0 + bc - 1 do idx[#idx + 1] = r * n + c + 1 end end
    list[#list + 1] = idx
  end
  UNITS[n] = list
end

-- Per size: the cell indices of all 3n units in one list (UNITS' order), and the sum of
-- the bits 1 << d for d = 1..n. A unit holds each digit 1..n once exactly when the bits
-- of its cells sum to that (n powers of two add up to n one-bits only when none repeats),
-- so a grid with no repeated digit is told in one pass; any other goes through the
-- per-unit loops below, which name what repeats.
local FLAT, FULL = {}, {}
for _, n in ipairs({4, 6, 9}) do
  local flat = {}
  for _, unit in ipairs(UNITS[n]) do for j = 2, #unit do flat[#flat + 1] = unit[j] end end
  FLAT[n], FULL[n] = flat, (1 << (n + 1)) - 2
end
local function units_hold_each_digit_once(cells, n)
  local flat, full, acc, k = FLAT[n], FULL[n], 0, 0
  for _ = 1, 3 * n do
    local sum = 0
    for j = k + 1, k + n do sum = sum + (1 << cells[flat[j]]) end
    acc = acc | (sum ~ full)
    k = k + n
  end
  return acc == 0
end

-- Every problem of a grid (for the tool): blanks, digits out of range, changed givens and
-- digits repeated in a unit (seen digits as bits of an integer).
local function problems(cells, givens, n)
  local out = json.array({})
  local blanks = 0
  for i = 1, n * n do
    local v = cells[i]
    if v == 0 then blanks = blanks + 1
    elseif v > n then out[#out + 1] = "digit out of range at cell " .. i end
    local g = givens[i]
    if g ~= 0 and v - g ~= 0 then
      out[#out + 1] = format("given at row %d col %d changed", (i - 1) // n + 1, (i - 1) % n + 1)
    end
  end
  if units_hold_each_digit_once(cells, n) then return blanks, out end
  local units = UNITS[n]
  for u = 1, #units do
    local unit, seen = units[u], 0
    for j = 2, #unit do
      local v = cells[unit[j]]
      if v ~= 0 then
        local bit = 1 << v
        if seen & bit ~= 0 then out[#out + 1] = format("%s has %d twice", unit[1], v) end
        seen = seen | bit
      end
    end
  end
  return blanks, out
end

-- The first reason a grid is not a solution (what verify reports), or nil: blanks first,
-- then the first cell problem, then the first repeated digit, in problems()' order.
local function first_problem(cells, givens, n)
  local blanks, bad = 0, nil
  for i = 1, n * n do
    local v = cells[i]
    if v == 0 then blanks = blanks + 1
    elseif not bad then
      if v > n then bad = "digit out of range at cell " .. i
      elseif givens[i] ~= 0 and v - givens[i] ~= 0 then
        bad = format("given at row %d col %d changed", (i - 1) // n + 1, (i - 1) % n + 1)
      end
    end
  end
  if blanks > 0 then return "blanks left" end
  if bad then return bad end
  if units_hold_each_digit_once(cells, n) then return nil end
  local units = UNITS[n]
  for u = 1, #units do
    local unit, seen = units[u], 0
    for j = 2, #unit do
      local bit = 1 << cells[unit[j]]
      if seen & bit ~= 0 then return format("%s has %d twice", unit[1], cells[unit[j]]) end
      seen = seen | bit
    end
  end
  return nil
end

local concat = table.concat

-- The givens of the last task checked, parsed (a task is checked six times in a row);
-- a pure cache: the same text always parses to the same cells, and nothing changes them.
local last_givens, last_cells
local function givens_cells(g, n)
  if g ~= last_givens then last_givens, last_cells = g, parse(g, n) end
  return last_cells
end

env.tools = {
  check_grid = {
    description = "Check a grid (rows of digits, '.' or 0 for blanks) against the puzzle: counts blanks and lists " ..
                  "repeated digits and changed givens.",
    parameters = {type = "object", properties = {grid = {type = "string", description = "n lines of n digits"}},
                  required = {"grid"}},
    run = function(state, args)
      local cells = parse_answer(args.grid, state.n)
      if not cells then error("grid must contain exactly " .. state.n * state.n .. " cells") end
      local blanks, errs = problems(cells, givens_cells(state.givens, state.n), state.n)
      return {blanks = blanks, problems = errs, solved = blanks == 0 and #errs == 0}
    end,
  },
}

-- The prompt's text before the grid, per level (made once).
local PROMPT = {}
for level, lv in ipairs(LV) do
  PROMPT[level] = string.format("Solve this %dx%d sudoku (boxes of %dx%d): fill the '.' cells so that each row, " ..
                                "column and box contains 1-%d exactly once. Answer with the completed grid, one row " ..
                                "per line, digits separated by spaces.\n\n", lv.n, lv.n, lv.br, lv.bc, lv.n)
end

-- Lists are made from the bytes of a string (one string.byte call): the table comes out
-- at its final size, where filling an empty one grows it step by step. SEQ's bytes are
-- 0, 1, 2, ...; DIGITS' are the bytes of "1".."9".
local SEQ, DIGITS = "\0\1\2\3\4\5\6\7\8\9\10\11", "123456789"

-- A random order of n = groups * size lines that keeps each group of size lines together
-- (bands of rows, stacks of columns): the groups shuffled, then the lines inside each.
local function perm(rng, groups, size)
  local g = {byte(SEQ, 1, groups)}
  rng:shuffle(g)
  local order, k = {byte(SEQ, 1, groups * size)}, 0
  for a = 1, groups do
    local inner = {byte(SEQ, 1, size)}
    rng:shuffle(inner)
    local base = g[a] * size
    for i = 1, size do k = k + 1; order[k] = base + inner[i] end
  end
  return order
end

-- Per size n: the cell numbers 1..n*n (rng:sample leaves its list as it is), and the
-- grid's text as a template (rows of cells separated by spaces, rows by newlines) whose
-- bytes generate copies, filling cell i at byte 2i - 1; and the givens' template (one byte
-- per cell).
local char, sub, unpack = string.char, string.sub, table.unpack
local CELLS, GRID, GIVENS = {}, {}, {}
for _, lv in ipairs(LV) do
  local n, idx = lv.n, {}
  for i = 1, n * n do idx[i] = i end
  CELLS[n] = idx
  local rows = {}
  for r = 1, n do rows[r] = string.rep("0", n, " ") end
  GRID[n] = concat(rows, "\n")
  GIVENS[n] = string.rep("0", n * n)
end

function env.generate(rng, level)
  local lv = LV[level]
  local n, br, bc = lv.n, lv.br, lv.bc
  -- rows: permute bands (groups of br rows) and rows inside; columns: stacks of bc columns
  local rows, cols = perm(rng, n // br, br), perm(rng, n // bc, bc)
  local digits = {byte(DIGITS, 1, n)} -- the digits' bytes
  rng:shuffle(digits)
  -- the solution's text and the puzzle's (blanked cells '.'), as bytes; the givens
  local grid = GRID[n]
  local sol, puz, giv = {byte(grid, 1, -1)}, {byte(grid, 1, -1)}, {byte(GIVENS[n], 1, -1)}
  local cell = 0
  for r = 1, n do
    local i = rows[r]
    local shift = bc * (i % br) + i // br
    for c = 1, n do
      local d = digits[(shift + cols[c]) % n + 1]
      cell = cell + 1
      local at = 2 * cell - 1
      sol[at], puz[at], giv[cell] = d, d, d
    end
  end
  local blanks = rng:sample(CELLS[n], rng:int(lv.lo, lv.hi))
  for k = 1, #blanks do local b = blanks[k]; puz[2 * b - 1], giv[b] = 46, 46 end
  local ptext, width = char(unpack(puz)), 2 * n
  local prows = {byte(SEQ, 1, n)}
  for r = 1, n do prows[r] = sub(ptext, (r - 1) * width + 1, r * width - 1) end
  return {prompt = PROMPT[level] .. ptext,
          state = {n = n, puzzle = prows, givens = char(unpack(giv))},
          answer = char(unpack(sol))}
end

-- Reference agent: it knows the full grid the puzzle was cut from (kept in the task's
-- answer when the puzzle was made), checks it with the tool, and answers with it.
function env.solve(task, call)
  local r = call("check_grid", {grid = task.answer})
  assert(r.solved, "the stored solution does not solve the puzzle")
  return task.answer
end

local NOT_GRID = {[4] = "not an 4x4 grid", [6] = "not an 6x6 grid", [9] = "not an 9x9 grid"}
function env.verify(task, answer)
  local n = task.state.n
  local cells = parse_answer(answer, n)
  if not cells then return 0, {reason = NOT_GRID[n] or ("not an " .. n .. "x" .. n .. " grid")} end
  local why = first_problem(cells, givens_cells(task.state.givens, n), n)
  if why then return 0, {reason = why} end
  return 1
end

return env
