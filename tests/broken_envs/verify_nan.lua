-- expect-line: 7 expect: verify returned NaN
-- verify divides by zero when no item matched.
local env = {name = "broken_verify_nan", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level) local x = rng:int(1, 1000000); return {prompt = "Say " .. x, answer = tostring(x)} end
function env.solve(task, call) return task.answer end
function env.verify(task, answer, state)
  local hits, total = 0, 0
  return hits / total
end
return env
