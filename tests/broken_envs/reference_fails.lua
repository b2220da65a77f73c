-- expect-line: 7 expect: verify gave the reference solution 0.5, not 1 (level 1
-- verify gives partial credit even to the reference answer (it wants an int, gets a string).
local env = {name = "broken_reference", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level) local x = rng:int(1, 1000000); return {prompt = "Say " .. x, answer = x} end
function env.solve(task, call) return tostring(task.answer) end
function env.verify(task, answer, state)
  if answer == task.answer then return 1 end
  return tonumber(answer) == task.answer and 0.5 or 0
end
return env
