-- expect-line: 7 expect: memory cap
-- generate allocates without bound.
local env = {name = "broken_memory", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level)
  local t = {}
  for i = 1, math.maxinteger do t[i] = string.rep("x", 1000) .. i end
end
function env.solve(task, call) return "" end
function env.verify(task, answer, state) return 0 end
return env
