-- automaton.lua — cellular automaton simulation (interpreter category).
--
-- Models: running a cellular automaton for many steps, which needs a program rather than
-- mental arithmetic. Levels:
--   1 = an elementary (1-D, Wolfram rule 0-255) automaton, width 16-24, 5-12 steps;
--   2 = elementary, width 30-60, 20-60 steps, wrap-around edges;
--   3 = elementary, width 60-120, 100-300 steps, and the question may ask for the live
--       cells summed over all steps;
--   4 = Conway's Game of Life on a 10x10 to 16x16 torus, 8-40 generations.
-- Tools: data{} returns the rule, the initial cells as a 0/1 string (or rows) and the
-- number of steps.
-- Verify: the integer count, exactly (ef.verify.numeric with zero tolerance); counts
-- below 2 are never generated.

local env = {name = "automaton", version = 1, category = "interpreter", levels = 4,
             description = "Simulate cellular automata and count live cells"}

local function step1d(cells, rule, w)
  local out = {}
  for i = 1, w do
    local l, c, r = cells[(i - 2) % w + 1], cells[i], cells[i % w + 1]
    out[i] = (rule >> (l * 4 + c * 2 + r)) & 1
  end
  return out
end

local function run1d(init, rule, steps, sum_all)
  local w = #init
  local cells = {}
  for i = 1, w do cells[i] = tonumber(init:sub(i, i)) end
  local total = 0
  for _ = 1, steps do
    cells = step1d(cells, rule, w)
    if sum_all then for i = 1, w do total = total + cells[i] end end
  end
  if sum_all then return total end
  local live = 0
  for i = 1, w do live = live + cells[i] end
  return live
end

local function life(rows, gens)
  local h, w = #rows, #rows[1]
  local g = {}
  for r = 1, h do
    g[r] = {}
    for c = 1, w do g[r][c] = rows[r]:sub(c, c) == "1" and 1 or 0 end
  end
  for _ = 1, gens do
    local ng = {}
    for r = 1, h do
      ng[r] = {}
      local up, dn = g[(r - 2) % h + 1], g[r % h + 1]
      local row = g[r]
      for c = 1, w do
        local cl, cr = (c - 2) % w + 1, c % w + 1
        local n = up[cl] + up[c] + up[cr] + row[cl] + row[cr] + dn[cl] + dn[c] + dn[cr]
        ng[r][c] = (n == 3 or (n == 2 and row[c] == 1)) and 1 or 0
      end
    end
    g = ng
  end
  local live = 0
  for r = 1, h do for c = 1, w do live = live + g[r][c] end end
  return live
end

env.tools = {
  data = {
    description = "The automaton: kind (elementary or life), rule, initial cells and number of steps.",
    parameters = {type = "object", properties = {}},
    run = function(state) return state end,
  },
}

local function bits(rng, n, p)
  local t = {}
  for i = 1, n do t[i] = rng:bool(p) and "1" or "0" end
  return table.concat(t)
end

function env.generate(rng, level)
  while true do
    local state, v, ask
    if level <= 3 then
      local w = ({rng:int(16, 24), rng:int(30, 60), rng:int(60, 120)})[level]
      local steps = ({rng:int(5, 12), rng:int(20, 60), rng:int(100, 300)})[level]
      local rule = rng:int(1, 254)
      local init = bits(rng, w, 0.4)
      local sum_all = level == 3 and rng:bool()
      v = run1d(init, rule, steps, sum_all)
      state = {kind = "elementary", rule = rule, width = w, steps = steps, cells = init}
      ask = string.format("Run the elementary cellular automaton with Wolfram rule %d on a ring of %d cells " ..
        "(the leftmost and rightmost cells are neighbours) for %d steps, starting from the cells given by the data " ..
        "tool (a 0/1 string; 1 = live). ", rule, w, steps) ..
        (sum_all and "What is the total number of live cells summed over steps 1 to " .. steps .. " (not counting the initial row)?"
                  or "How many cells are live after the last step?")
      state.sum_all = sum_all
    else
      local h = rng:int(10, 16)
      local gens = rng:int(8, 40)
      local rows = {}
      for r = 1, h do rows[r] = bits(rng, h, 0.35) end
      v = life(rows, gens)
      state = {kind = "life", width = h, height = h, steps = gens, rows = rows}
      ask = string.format("Run Conway's Game of Life (B3/S23) on a %dx%d torus (edges wrap around) for %d " ..
        "generations, starting from the grid given by the data tool (rows of 0/1; 1 = live). How many cells are " ..
        "live after the last generation?", h, h, gens)
    end
    if v >= 2 then
      return {prompt = ask .. " Answer with an integer.", state = state, answer = tostring(v)}
    end
  end
end

function env.solve(task, call)
  local d = call("data", {})
  if d.kind == "life" then return tostring(life(d.rows, d.steps)) end
  return tostring(run1d(d.cells, d.rule, d.steps, d.sum_all))
end

function env.verify(task, answer)
  return ef.verify.numeric(answer, task.answer, {rtol = 0, atol = 0})
end

return env
