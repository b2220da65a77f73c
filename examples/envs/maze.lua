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
local LETTER = {"U", "D", "L", "R"}
local byte = string.byte

-- NEW[nn]() gives a fresh list of nn zeros made at its full size in one step (a table
-- constructor), so filling it never regrows it; the constructors are compiled once.
local NEW = {}
for _, lv in ipairs(LV) do
  local nn = lv.n * lv.n
  NEW[nn] = load("return function() return {" .. ("0,"):rep(nn) .. "} end", "=maze.new", "t")()
end

-- Cells are numbered k = (r - 1) * n + c. BFS over the open cells from s: returns dist
-- (-1 where unreached) and par (the move, 1..4 = U D L R, that first reached each cell),
-- both plain arrays.
local function bfs(wall, n, s)
  local nn = n * n
  local dist, par, q = NEW[nn](), NEW[nn](), NEW[nn]()
  for k = 1, nn do dist[k] = -1 end
  dist[s] = 0
  q[1] = s
  local head, tail = 1, 1
  while head <= tail do
    local k = q[head]; head = head + 1
    local d, c = dist[k] + 1, (k - 1) % n + 1
    local m = k - n
    if m >= 1 and not wall[m] and dist[m] < 0 then dist[m] = d; par[m] = 1; tail = tail + 1; q[tail] = m end
    m = k + n
    if m <= nn and not wall[m] and dist[m] < 0 then dist[m] = d; par[m] = 2; tail = tail + 1; q[tail] = m end
    m = k - 1
    if c > 1 and not wall[m] and dist[m] < 0 then dist[m] = d; par[m] = 3; tail = tail + 1; q[tail] = m end
    m = k + 1
    if c < n and not wall[m] and dist[m] < 0 then dist[m] = d; par[m] = 4; tail = tail + 1; q[tail] = m end
  end
  return dist, par
end

-- The moves from s to k along par, as a string.
local function path_to(par, n, s, k)
  local back, delta = {}, {-n, n, -1, 1}
  while k ~= s do
    local m = par[k]
    back[#back + 1] = LETTER[m]
    k = k - delta[m]
  end
  local out, nb = {}, #back
  for i = 1, nb do out[i] = back[nb + 1 - i] end
  return table.concat(out)
end

-- Walks a move string over the rows (strings) without building a grid table.
local HASH, CEE, GEE = ("#"):byte(), ("C"):byte(), ("G"):byte()
local DR = {[byte("U")] = -1, [byte("D")] = 1, [byte("L")] = 0, [byte("R")] = 0}
local DC = {[byte("U")] = 0, [byte("D")] = 0, [byte("L")] = -1, [byte("R")] = 1}
local function walk(rows, path)
  local n = #rows
  local r, c
  for i = 1, n do
    local k = rows[i]:find("S", 1, true)
    if k then r, c = i, k; break end
  end
  local seen_c = false
  for i = 1, #path do
    local b = byte(path, i)
    local dr = DR[b]
    if not dr then return {ok = false, error = "bad move '" .. path:sub(i, i) .. "' at step " .. i} end
    r, c = r + dr, c + DC[b]
    if r < 1 or r > n or c < 1 or c > n then return {ok = false, error = "left the grid at step " .. i} end
    local ch = byte(rows[r], c)
    if ch == HASH then return {ok = false, error = "hit a wall at step " .. i, row = r, col = c} end
    if ch == CEE then seen_c = true end
  end
  return {ok = true, row = r, col = c, steps = #path, at_goal = byte(rows[r], c) == GEE, visited_checkpoint = seen_c}
end

-- The move string in an answer, or nil. Words (UP, DOWN, LEFT, RIGHT) become letters and
-- separators go. Two shortcuts give the same result as the full rewrite: a string of
-- U D L R only is already clean, and a character that no rewrite removes (anything but the
-- letters of the four words, spaces and , ; - >) means it can never be clean.
local function clean(p)
  if type(p) ~= "string" then return nil end
  if p:find("\\boxed{", 1, true) then p = p:match("\\boxed{(.-)}") or p end
  p = p:upper()
  if not p:find("[^UDLR]") then return p ~= "" and p or nil end
  if p:find("[^UDLRPOWNEFTIGH%s,;%->]") then return nil end
  p = p:gsub("UP", "U"):gsub("DOWN", "D"):gsub("LEFT", "L"):gsub("RIGHT", "R"):gsub("[%s,;%->]", "")
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
  local nn = n * n
  while true do
    -- walls drawn 4 bits at a time from one 28-bit draw (7 cells per rng call)
    local wall = NEW[nn]()
    local thr = lv.wall16
    local bits, left = 0, 0
    for k = 1, nn do
      if left == 0 then bits, left = rng:int(0, 0xFFFFFFF), 7 end
      wall[k] = (bits & 15) < thr
      bits, left = bits >> 4, left - 1
    end
    -- start on a random cell, then pick the goal (and checkpoint) among reachable cells
    -- far enough away, so that few grids are thrown away
    local sr, sc = rng:int(1, n), rng:int(1, n)
    local s = (sr - 1) * n + sc
    wall[s] = false
    local dist, par = bfs(wall, n, s)
    local far, reach = {}, {}
    for k = 1, nn do
      local d = dist[k]
      if d > 0 then
        reach[#reach + 1] = k
        if d >= lv.mind then far[#far + 1] = k end
      end
    end
    local goal, kp, path, total
    if not lv.checkpoint and #far > 0 then
      goal = rng:choice(far)
      total = dist[goal]
      path = path_to(par, n, s, goal)
    elseif lv.checkpoint and #reach >= 2 then
      kp = rng:choice(reach)
      local dist2, par2 = bfs(wall, n, kp)
      local cand = {}
      for i = 1, #reach do
        local q = reach[i]
        if q ~= kp and dist[kp] + dist2[q] >= lv.mind then cand[#cand + 1] = q end
      end
      if #cand > 0 then
        goal = rng:choice(cand)
        total = dist[kp] + dist2[goal]
        path = path_to(par, n, s, kp) .. path_to(par2, n, kp, goal)
      end
    end
    if total then
      local ch = NEW[nn]()
      for k = 1, nn do ch[k] = wall[k] and "#" or "." end
      ch[s], ch[goal] = "S", "G"
      if kp then ch[kp] = "C" end
      local rows = {}
      for r = 1, n do rows[r] = table.concat(ch, "", (r - 1) * n + 1, r * n) end
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
