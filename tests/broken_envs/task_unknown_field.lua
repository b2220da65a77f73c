-- expect-line: 5 expect: unknown field 'answr' (did you mean 'answer'?)
-- generate returns a task whose answer field is misspelt.
local env = {name = "broken_task_field", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level)
  local x = rng:int(1, 1000000)
  return {prompt = "Say " .. x, answr = tostring(x)}
end
function env.solve(task, call) return "x" end
function env.verify(task, answer, state) return 0 end
return env
