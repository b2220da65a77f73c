-- stats.lua — statistics over a generated data table (interpreter category).
--
-- Models: a small analytics question over a table of measurements (id, group, x, y) that
-- the agent must fetch with a tool and compute over. Levels:
--   1 = mean or median of a column (15-25 rows);
--   2 = sample standard deviation or mean absolute deviation (30-60 rows);
--   3 = Pearson correlation, or the least-squares slope / intercept of y on x (40-100 rows);
--   4 = filtered group statistics: the gap between the largest and smallest group mean of
--       y over rows with x above a threshold, or one group's filtered median (80-150 rows).
-- Tools: data{columns?} returns the table (all columns or the ones asked for);
-- describe{} returns the column names, types and row count.
-- Verify: ef.verify.numeric against the exact value with absolute tolerance 1e-4 (the
-- prompt asks for 4 decimal places); values too close to 0 or 1 are never generated.

local env = {name = "stats", version = 1, category = "interpreter", levels = 4,
             description = "Compute statistics over a generated data table"}

local GROUPS = {"alpha", "beta", "gamma", "delta", "omega", "sigma"}
local WHAT = {{"temperature", "yield"}, {"dose", "response"}, {"price", "demand"}, {"hours", "score"},
              {"altitude", "pressure"}, {"speed", "consumption"}}

local function mean(v) local s = 0; for _, x in ipairs(v) do s = s + x end return s / #v end
local function median(v)
  local t = {table.unpack(v)}
  table.sort(t)
  local n = #t
  if n % 2 == 1 then return t[(n + 1) // 2] + 0.0 end
  return (t[n // 2] + t[n // 2 + 1]) / 2
end
local function sstd(v)
  local m, s = mean(v), 0
  for _, x in ipairs(v) do s = s + (x - m) ^ 2 end
  return math.sqrt(s / (#v - 1))
end
local function mad(v)
  local m, s = mean(v), 0
  for _, x in ipairs(v) do s = s + math.abs(x - m) end
  return s / #v
end
local function fit(x, y)
  local mx, my = mean(x), mean(y)
  local sxy, sxx, syy = 0, 0, 0
  for i = 1, #x do
    sxy = sxy + (x[i] - mx) * (y[i] - my); sxx = sxx + (x[i] - mx) ^ 2; syy = syy + (y[i] - my) ^ 2
  end
  local slope = sxy / sxx
  return {r = sxy / math.sqrt(sxx * syy), slope = slope, intercept = my - slope * mx}
end

-- Computes the asked quantity from rows (list of {group, x, y}).
local function compute(q, rows)
  local xs, ys = {}, {}
  for i, r in ipairs(rows) do xs[i] = r.x; ys[i] = r.y end
  local col = q.column == "x" and xs or ys
  if q.kind == "mean" then return mean(col)
  elseif q.kind == "median" then return median(col)
  elseif q.kind == "sstd" then return sstd(col)
  elseif q.kind == "mad" then return mad(col)
  elseif q.kind == "r" or q.kind == "slope" or q.kind == "intercept" then return fit(xs, ys)[q.kind]
  elseif q.kind == "gap" or q.kind == "gmedian" then
    local by = {}
    for _, r in ipairs(rows) do
      if r.x > q.threshold then
        by[r.group] = by[r.group] or {}
        table.insert(by[r.group], r.y)
      end
    end
    if q.kind == "gmedian" then
      if not by[q.group] then return nil end
      return median(by[q.group])
    end
    local hi, lo, count = -math.huge, math.huge, 0
    for _, v in pairs(by) do
      count = count + 1
      local m = mean(v)
      if m > hi then hi = m end
      if m < lo then lo = m end
    end
    if count < 2 then return nil end
    return hi - lo
  end
end

env.tools = {
  describe = {
    description = "Column names, types and the number of rows of the data table.",
    parameters = {type = "object", properties = {}},
    run = function(state)
      return {rows = #state.rows, columns = {{name = "id", type = "integer"}, {name = "group", type = "string"},
              {name = "x", type = "number", meaning = state.xname}, {name = "y", type = "number", meaning = state.yname}}}
    end,
  },
  data = {
    description = "The data table as a list of rows; optionally only some columns (id, group, x, y).",
    parameters = {type = "object", properties = {columns = {type = "array", items = {type = "string",
                  enum = {"id", "group", "x", "y"}}}}},
    run = function(state, args)
      if not args.columns then return {rows = state.rows} end
      local out = json.array({})
      for i, r in ipairs(state.rows) do
        local o = {}
        for _, c in ipairs(args.columns) do o[c] = r[c] end
        out[i] = o
      end
      return {rows = out}
    end,
  },
}

function env.generate(rng, level)
  local n = ({{15, 25}, {30, 60}, {40, 100}, {80, 150}})[level]
  while true do
    local names = rng:choice(WHAT)
    local rows = json.array({})
    local cnt = rng:int(n[1], n[2])
    local groups = rng:sample(GROUPS, rng:int(3, 5))
    local a, b, noise = rng:normal(0, 3), rng:int(-50, 50), rng:float() * 20 + 1
    local gshift = {}
    for _, g in ipairs(groups) do gshift[g] = rng:normal(0, 8) end
    local id0 = rng:int(100, 900)
    for i = 1, cnt do
      local g = rng:choice(groups)
      local x = level <= 2 and rng:int(0, 200) or math.floor(rng:float() * 1000 + 0.5) / 10
      local y = a * x + b + gshift[g] + rng:normal(0, noise)
      y = math.floor(y * 100 + 0.5) / 100
      if level <= 2 then y = math.floor(y + 0.5) end
      rows[i] = {id = id0 + i, group = g, x = x, y = y}
    end
    local q, text = {}, nil
    local col = rng:bool() and "x" or "y"
    local cname = col == "x" and names[1] or names[2]
    if level == 1 then
      q.kind = rng:choice({"mean", "median"}); q.column = col
      text = string.format("the %s of column %s (%s)", q.kind, col, cname)
    elseif level == 2 then
      q.kind = rng:choice({"sstd", "mad"}); q.column = col
      text = q.kind == "sstd" and string.format("the sample standard deviation (divide by n-1) of column %s (%s)", col, cname)
                              or string.format("the mean absolute deviation from the mean of column %s (%s)", col, cname)
    elseif level == 3 then
      q.kind = rng:choice({"r", "slope", "intercept"})
      text = ({r = "the Pearson correlation coefficient between x and y",
               slope = "the slope of the least-squares line y = a*x + b", intercept = "the intercept b of the least-squares line y = a*x + b"})[q.kind]
    else
      q.kind = rng:choice({"gap", "gmedian"}); q.threshold = rng:int(10, 60)
      if q.kind == "gap" then
        text = string.format("the difference between the largest and the smallest per-group mean of y, using only rows with x > %d", q.threshold)
      else
        q.group = rng:choice(groups)
        text = string.format("the median of y over the rows of group '%s' with x > %d", q.group, q.threshold)
      end
    end
    local v = compute(q, rows)
    if v and v == v and math.abs(v) >= 0.05 and math.abs(v - 1) > 0.01 then
      return {prompt = string.format("A data table of %d rows (columns id, group, x = %s, y = %s) is available through " ..
                                     "the data tool. Compute %s. Give the number rounded to 4 decimal places.",
                                     cnt, names[1], names[2], text),
              state = {rows = rows, xname = names[1], yname = names[2]},
              answer = string.format("%.4f", v), meta = {question = q}}
    end
  end
end

function env.solve(task, call)
  call("describe", {})
  local q = task.meta.question
  local rows = call("data", {columns = {"group", "x", "y"}}).rows
  return string.format("%.4f", compute(q, rows))
end

function env.verify(task, answer)
  return ef.verify.numeric(answer, task.answer, {rtol = 0, atol = 1.01e-4})
end

return env
