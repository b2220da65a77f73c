-- expect-line: 6 expect: solve returned an answer that is not JSON
-- solve returns a function instead of an answer.
local env = {name = "broken_solve_answer", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level) local x = rng:int(1, 1000000); return {prompt = "Say " .. x, answer = tostring(x)} end
function env.solve(task, call)
  return function() return task.answer end
end
function env.verify(task, answer, state) return answer == task.answer and 1 or 0 end
return env
