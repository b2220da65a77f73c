-- expect-line: 6 expect: assignment to new field 'seen' of the library table 'ef'
-- generate keeps a counter in a library table (it escaped the check on globals, and gave
-- different tasks for different --jobs).
local env = {name = "broken_library_state", version = 1, category = "general"}
function env.generate(rng, level)
  ef.seen = (ef.seen or 0) + 1
  return {prompt = "task " .. ef.seen, answer = "x"}
end
function env.solve(task, call) return "x" end
function env.verify(task, answer, state) return answer == "x" and 1 or 0 end
return env
