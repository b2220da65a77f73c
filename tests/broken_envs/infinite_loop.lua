-- expect-line: 7 expect: instruction budget
-- generate never returns.
local env = {name = "broken_loop", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level)
  local n = 0
  while true do n = n + 1 end
end
function env.solve(task, call) return "" end
function env.verify(task, answer, state) return 0 end
return env
