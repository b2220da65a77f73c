-- maze.lua — shortest paths in a grid maze (interpreter category), comparable with
-- reasoning-gym's maze.
--
-- Models: a rectangular grid of open cells (.) and walls (#) with a start S and a goal G
-- (and at level 4 a checkpoint C that must be visited first). The task is a shortest
-- path, written as moves U/D/L/R. Levels: 1 = 6x6, 2 = 9x9, 3 = 13x13, 4 = 17x17 with a
-- checkpoint; wall density grows with the level and the start-goal distance is at least
-- a level-dependent minimum.
-- Tools: check_path{path} walks a move string from S and reports where it ends, whether it
-- hit a wall or left the grid, and whether it visited C and reached G.
-- Verify: the move string must stay on open cells, visit C (level 4), end on G, and have
-- the optimal length (BFS); a valid but longer path scores 0.2; anything else 0.

local env = {name = "maze", version = 1, category = "interpreter", levels = 4,
             description = "Find a shortest path through a grid maze"}

-- wall16: wall probability in sixteenths (4/16 = 0.25, 5/16 = 0.31)
local LV = {{n = 6, wall16 = 4, mind = 6}, {n = 9, wall16 = 5, mind = 8},
            {n = 13, wall16 = 5, mind = 14}, {n = 17, wall16 = 5, mind = 18, checkpoint = true}}
local MOVES = {U = {-1, 0}, D = {1, 0}, L = {0, -1}, R = {0, 1}}
local ORDER = {"U", "D", "L", "R"}

-- BFS distances from (r0, c0); returns dist table indexed r*100+c and parent moves.
local function bfs(g, n, r0, c0)
  local dist, par = {[r0 * 100 + c0] = 0}, {}
  local qr, qc, head = {r0}, {c0}, 1
  while head <= #qr do
    local r, c = qr[head], qc[head]; head = head + 1
    local d = dist[r * 100 + c]
    for _, m in ipairs(ORDER) do
      local nr, nc = r + MOVES[m][1], c + MOVES[m][2]
      if nr >= 1 and nr <= n and nc >= 1 and nc <= n and g[nr][nc] ~= "#" and not dist[nr * 100 + nc] then
        dist[nr * 100 + nc] = d + 1; par[nr * 100 + nc] = m
        qr[#qr + 1] = nr; qc[#qc + 1] = nc
      end
    end
  end
  return dist, par
end

local function path_to(par, r0, c0, r, c)
  local moves = {}
  while r ~= r0 or c ~= c0 do
    local m = par[r * 100 + c]
    moves[#moves + 1] = m
    r, c = r - MOVES[m][1], c - MOVES[m][2]
  end
  local out = {}
  for i = #moves, 1, -1 do out[#out + 1] = moves[i] end
  return table.concat(out)
end

-- Walks a move string over the rows (strings) without building a grid table.
local HASH, CEE, GEE = ("#"):byte(), ("C"):byte(), ("G"):byte()
local function walk(rows, path)
  local n = #rows
  local r, c
  for i = 1, n do
    local k = rows[i]:find("S", 1, true)
    if k then r, c = i, k; break end
  end
  local seen_c = false
  for i = 1, #path do
    local m = MOVES[path:sub(i, i)]
    if not m then return {ok = false, error = "bad move '" .. path:sub(i, i) .. "' at step " .. i} end
    r, c = r + m[1], c + m[2]
    if r < 1 or r > n or c < 1 or c > n then return {ok = false, error = "left the grid at step " .. i} end
    local ch = rows[r]:byte(c)
    if ch == HASH then return {ok = false, error = "hit a wall at step " .. i, row = r, col = c} end
    if ch == CEE then seen_c = true end
  end
  return {ok = true, row = r, col = c, steps = #path, at_goal = rows[r]:byte(c) == GEE, visited_checkpoint = seen_c}
end

local function clean(p)
  if type(p) ~= "string" then return nil end
  p = p:match("\\boxed{(.-)}") or p
  p = p:upper():gsub("UP", "U"):gsub("DOWN", "D"):gsub("LEFT", "L"):gsub("RIGHT", "R"):gsub("[%s,;%->]", "")
  if p == "" or p:find("[^UDLR]") then return nil end
  return p
end

env.tools = {
  check_path = {
    description = "Walk a move string (U, D, L, R) from S and report where it ends, " ..
                  "whether it hit a wall, visited C and reached G.",
    parameters = {type = "object", properties = {path = {type = "string"}}, required = {"path"}},
    run = function(state, args)
      local p = clean(args.path)
      if not p then error("path must consist of the letters U, D, L, R") end
      return walk(state.grid, p)
    end,
  },
}

function env.generate(rng, level)
  local lv = LV[level]
  local n = lv.n
  while true do
    -- walls drawn 4 bits at a time from one 28-bit draw (7 cells per rng call)
    local g = {}
    local thr = lv.wall16
    local bits, left = 0, 0
    for r = 1, n do
      local row = {}
      for c = 1, n do
        if left == 0 then bits, left = rng:int(0, 0xFFFFFFF), 7 end
        row[c] = (bits & 15) < thr and "#" or "."
        bits, left = bits >> 4, left - 1
      end
      g[r] = row
    end
    -- start on a random cell, then pick the goal (and checkpoint) among reachable cells
    -- far enough away, so that few grids are thrown away
    local sr, sc = rng:int(1, n), rng:int(1, n)
    g[sr][sc] = "."
    local dist, par = bfs(g, n, sr, sc)
    local far, reach = {}, {}
    for r = 1, n do
      for c = 1, n do
        local d = dist[r * 100 + c]
        if d and d > 0 then
          reach[#reach + 1] = r * 100 + c
          if d >= lv.mind then far[#far + 1] = r * 100 + c end
        end
      end
    end
    local gr, gc, kr, kc, path, total
    if not lv.checkpoint and #far > 0 then
      local k = rng:choice(far)
      gr, gc = k // 100, k % 100
      total = dist[k]
      path = path_to(par, sr, sc, gr, gc)
    elseif lv.checkpoint and #reach >= 2 then
      local k = rng:choice(reach)
      kr, kc = k // 100, k % 100
      local dist2, par2 = bfs(g, n, kr, kc)
      local cand = {}
      for _, q in ipairs(reach) do
        if q ~= k and dist[k] + dist2[q] >= lv.mind then cand[#cand + 1] = q end
      end
      if #cand > 0 then
        local q = rng:choice(cand)
        gr, gc = q // 100, q % 100
        total = dist[k] + dist2[q]
        path = path_to(par, sr, sc, kr, kc) .. path_to(par2, kr, kc, gr, gc)
      end
    end
    if total then
      g[sr][sc] = "S"; g[gr][gc] = "G"
      if kr then g[kr][kc] = "C" end
      local rows = {}
      for r = 1, n do rows[r] = table.concat(g[r]) end
      local prompt = "Navigate the maze from S to G" .. (lv.checkpoint and ", passing through the checkpoint C on the way" or "") ..
        ". '#' is a wall, '.' is open. Moves: U (up), D (down), L (left), R (right). Give a shortest path as a " ..
        "string of moves, e.g. RRDDL.\n\n" .. table.concat(rows, "\n")
      return {prompt = prompt, state = {grid = rows}, answer = {length = total, path = path}}
    end
  end
end

-- Reference agent: it knows a shortest path (found by BFS when the maze was made), checks
-- it with the tool, and answers with it.
function env.solve(task, call)
  local r = call("check_path", {path = task.answer.path})
  assert(r.at_goal, "reference path does not reach G")
  return task.answer.path
end

function env.verify(task, answer)
  local p = clean(answer)
  if not p then return 0, {reason = "not a move string"} end
  local w = walk(task.state.grid, p)
  if not w.ok then return 0, {reason = w.error} end
  if not w.at_goal then return 0, {reason = "does not end at G"} end
  if not w.visited_checkpoint and table.concat(task.state.grid):find("C", 1, true) then
    return 0, {reason = "skips the checkpoint"}
  end
  if #p == task.answer.length then return 1 end
  return 0.2, {reason = "valid but not shortest", length = #p, best = task.answer.length}
end

return env
