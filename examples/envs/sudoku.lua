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

-- Parse a grid given as a string or list of rows into a flat list of n*n numbers (0 blank).
local function parse(s, n)
  if type(s) == "table" then s = table.concat(s, "\n") end
  if type(s) ~= "string" then return nil end
  s = s:match("\\boxed{(.-)}") or s
  local cells = {}
  for ch in s:gmatch("[%d%.]") do cells[#cells + 1] = ch == "." and 0 or tonumber(ch) end
  if #cells ~= n * n then return nil end
  return cells
end

local function problems(cells, givens, n)
  local br, bc = box_dims(n)
  local out = json.array({})
  local blanks = 0
  for i = 1, n * n do
    if cells[i] == 0 then blanks = blanks + 1
    elseif cells[i] > n then out[#out + 1] = "digit out of range at cell " .. i end
    if givens[i] ~= 0 and cells[i] ~= givens[i] then
      out[#out + 1] = string.format("given at row %d col %d changed", (i - 1) // n + 1, (i - 1) % n + 1)
    end
  end
  local function check(name, idxs)
    local seen = {}
    for _, i in ipairs(idxs) do
      local v = cells[i]
      if v ~= 0 then
        if seen[v] then out[#out + 1] = string.format("%s has %d twice", name, v) end
        seen[v] = true
      end
    end
  end
  for r = 1, n do
    local row, col = {}, {}
    for c = 1, n do row[c] = (r - 1) * n + c; col[c] = (c - 1) * n + r end
    check("row " .. r, row); check("column " .. r, col)
  end
  for b0 = 0, n - 1 do
    local r0, c0 = (b0 // (n // bc)) * br, (b0 % (n // bc)) * bc
    local idx = {}
    for r = r0, r0 + br - 1 do for c = c0, c0 + bc - 1 do idx[#idx + 1] = r * n + c + 1 end end
    check("box " .. (b0 + 1), idx)
  end
  return blanks, out
end

local function render(cells, n)
  local rows = {}
  for r = 1, n do
    local t = {}
    for c = 1, n do local v = cells[(r - 1) * n + c]; t[c] = v == 0 and "." or tostring(v) end
    rows[r] = table.concat(t, " ")
  end
  return rows
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
      local givens = parse(state.puzzle, state.n)
      local blanks, errs = problems(cells, givens, state.n)
      return {blanks = blanks, problems = errs, solved = blanks == 0 and #errs == 0}
    end,
  },
}

function env.generate(rng, level)
  local lv = LV[level]
  local n, br, bc = lv.n, lv.br, lv.bc
  -- rows: permute bands (groups of br rows) and rows inside; columns: stacks of bc columns
  local function perm(groups, size)
    local order = {}
    for _, g in ipairs(rng:shuffle((function() local t = {} for i = 0, groups - 1 do t[#t + 1] = i end return t end)())) do
      local inner = {}
      for i = 0, size - 1 do inner[#inner + 1] = i end
      for _, i in ipairs(rng:shuffle(inner)) do order[#order + 1] = g * size + i end
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
  return {prompt = string.format("Solve this %dx%d sudoku (boxes of %dx%d): fill the '.' cells so that each row, " ..
                                 "column and box contains 1-%d exactly once. Answer with the completed grid, one row " ..
                                 "per line, digits separated by spaces.\n\n%s", n, n, br, bc, n, table.concat(prows, "\n")),
          state = {n = n, puzzle = prows}, answer = table.concat(render(sol, n), "\n")}
end

-- Reference agent: backtracking with row/column/box bitmasks, always filling the cell with
-- the fewest candidates first; then it checks the grid with the tool before answering.
function env.solve(task, call)
  local n = task.state.n
  local br, bc = box_dims(n)
  local cells = parse(task.state.puzzle, n)
  local rowm, colm, boxm = {}, {}, {}
  local R, C, B = {}, {}, {}
  for i = 1, n * n do
    local r, c = (i - 1) // n, (i - 1) % n
    R[i], C[i], B[i] = r, c, (r // br) * (n // bc) + c // bc
  end
  for k = 0, n - 1 do rowm[k], colm[k], boxm[k] = 0, 0, 0 end
  local empty = {}
  for i = 1, n * n do
    local v = cells[i]
    if v == 0 then empty[#empty + 1] = i
    else
      local bit = 1 << v
      rowm[R[i]] = rowm[R[i]] | bit; colm[C[i]] = colm[C[i]] | bit; boxm[B[i]] = boxm[B[i]] | bit
    end
  end
  local full = ((1 << (n + 1)) - 1) & ~1
  local function popcount(x) local k = 0; while x ~= 0 do x = x & (x - 1); k = k + 1 end return k end
  local function search(left)
    if left == 0 then return true end
    local best, bestfree, bestn = nil, 0, 99
    for j = 1, left do
      local i = empty[j]
      local free = full & ~(rowm[R[i]] | colm[C[i]] | boxm[B[i]])
      local k = popcount(free)
      if k < bestn then best, bestfree, bestn = j, free, k; if k <= 1 then break end end
    end
    if bestn == 0 then return false end
    local i = empty[best]
    empty[best], empty[left] = empty[left], empty[best]
    for v = 1, n do
      local bit = 1 << v
      if bestfree & bit ~= 0 then
        rowm[R[i]] = rowm[R[i]] | bit; colm[C[i]] = colm[C[i]] | bit; boxm[B[i]] = boxm[B[i]] | bit
        cells[i] = v
        if search(left - 1) then return true end
        rowm[R[i]] = rowm[R[i]] & ~bit; colm[C[i]] = colm[C[i]] & ~bit; boxm[B[i]] = boxm[B[i]] & ~bit
      end
    end
    cells[i] = 0
    empty[best], empty[left] = empty[left], empty[best]
    return false
  end
  assert(search(#empty), "unsolvable")
  local grid = table.concat(render(cells, n), "\n")
  local r = call("check_grid", {grid = grid})
  assert(r.solved)
  return grid
end

function env.verify(task, answer)
  local n = task.state.n
  local cells = parse(answer, n)
  if not cells then return 0, {reason = "not an " .. n .. "x" .. n .. " grid"} end
  local blanks, errs = problems(cells, parse(task.state.puzzle, n), n)
  if blanks > 0 then return 0, {reason = "blanks left"} end
  if #errs > 0 then return 0, {reason = errs[1]} end
  return 1
end

return env
