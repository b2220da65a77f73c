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
-- the string functions keep only digits and dots, then one call reads the bytes.
local function parse(s, n)
  if type(s) == "table" then s = table.concat(s, "\n") end
  if type(s) ~= "string" then return nil end
  if s:find("\\boxed{", 1, true) then s = s:match("\\boxed{(.-)}") or s end
  local t = s:gsub("[^%d%.]+", "")
  if #t ~= n * n then return nil end
  local cells = {byte(t, 1, -1)}
  for i = 1, #cells do local b = cells[i]; cells[i] = b == 46 and 0 or b - 48 end
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
    if g ~= 0 and v ~= g then
      out[#out + 1] = format("given at row %d col %d changed", (i - 1) // n + 1, (i - 1) % n + 1)
    end
  end
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
      elseif givens[i] ~= 0 and v ~= givens[i] then
        bad = format("given at row %d col %d changed", (i - 1) // n + 1, (i - 1) % n + 1)
      end
    end
  end
  if blanks > 0 then return "blanks left" end
  if bad then return bad end
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

local DIGIT = {[0] = "."}
for v = 1, 9 do DIGIT[v] = tostring(v) end
local function render(cells, n)
  local rows = {}
  for r = 1, n do
    local t = {}
    for c = 1, n do t[c] = DIGIT[cells[(r - 1) * n + c]] end
    rows[r] = table.concat(t, " ")
  end
  return rows
end

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
      local cells = parse(args.grid, state.n)
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

function env.generate(rng, level)
  local lv = LV[level]
  local n, br, bc = lv.n, lv.br, lv.bc
  -- rows: permute bands (groups of br rows) and rows inside; columns: stacks of bc columns
  local function perm(groups, size)
    local g = {}
    for i = 1, groups do g[i] = i - 1 end
    rng:shuffle(g)
    local order, k = {}, 0
    for a = 1, groups do
      local inner = {}
      for i = 1, size do inner[i] = i - 1 end
      rng:shuffle(inner)
      local base = g[a] * size
      for i = 1, size do k = k + 1; order[k] = base + inner[i] end
    end
    return order
  end
  local rows, cols = perm(n // br, br), perm(n // bc, bc)
  local digits = {}
  for i = 1, n do digits[i] = i end
  rng:shuffle(digits)
  local sol = {}
  for r = 1, n do
    for c = 1, n do
      local i, j = rows[r], cols[c]
      sol[(r - 1) * n + c] = digits[(bc * (i % br) + i // br + j) % n + 1]
    end
  end
  local puzzle = {}
  for i = 1, n * n do puzzle[i] = sol[i] end
  local idx = {}
  for i = 1, n * n do idx[i] = i end
  for _, i in ipairs(rng:sample(idx, rng:int(lv.lo, lv.hi))) do puzzle[i] = 0 end
  local prows = render(puzzle, n)
  local givens = {}
  for i = 1, n * n do givens[i] = DIGIT[puzzle[i]] end
  return {prompt = PROMPT[level] .. table.concat(prows, "\n"),
          state = {n = n, puzzle = prows, givens = table.concat(givens)},
          answer = table.concat(render(sol, n), "\n")}
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
  local cells = parse(answer, n)
  if not cells then return 0, {reason = NOT_GRID[n] or ("not an " .. n .. "x" .. n .. " grid")} end
  local why = first_problem(cells, givens_cells(task.state.givens, n), n)
  if why then return 0, {reason = why} end
  return 1
end

return env
