-- expect-line: 7 expect: attempt to index a nil value
-- generate raises a runtime error on every task.
local env = {name = "broken_generate", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level)
  local t = nil
  return {prompt = t.field}
end
function env.solve(task, call) return "" end
function env.verify(task, answer, state) return 0 end
return env
