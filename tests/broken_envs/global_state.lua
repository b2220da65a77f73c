-- expect-line: 6 expect: assignment to undeclared global 'counter'
-- generate keeps state between tasks in a global (which would break determinism).
local env = {name = "broken_global", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level)
  counter = (counter or 0) + 1
  return {prompt = "task " .. counter}
end
function env.solve(task, call) return "" end
function env.verify(task, answer, state) return 0 end
return env
