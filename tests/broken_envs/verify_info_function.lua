-- expect-line: 8 expect: verify info.why: a function value is not JSON
-- verify returns an info table holding a function (seen at gen time, not first in `run`).
local env = {name = "broken_verify_info", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level) local x = rng:int(1, 1000000); return {prompt = "Say " .. x, answer = tostring(x)} end
function env.solve(task, call) return task.answer end
-- the info's "why" is a function
function env.verify(task, answer, state)
  return answer == task.answer and 1 or 0, {why = function() return "match" end}
end
return env
