-- envgen_floor.lua — the smallest env gen can validate, for tests/bench/envgen.sh: the
-- fixed cost of a task around an env's own code (one generate, an episode, the reference
-- solve through one tool call, the reference and four trivial verifies, the content hash,
-- the store). Not an example env: its tasks mean nothing.
local env = {name = "floor", version = 1, category = "interpreter", levels = 1,
             description = "The fixed cost of one validated task"}
env.tools = {echo = {description = "echo x",
                     parameters = {type = "object", properties = {x = {type = "integer"}},
                                   required = {"x"}},
                     run = function(state, args) return {x = args.x} end}}
function env.generate(rng, level)
  local a = rng:int(1, 1000000000)
  return {prompt = "Say " .. a, answer = a}
end
function env.solve(task, call) return tostring(call("echo", {x = task.answer}).x) end
function env.verify(task, answer) return answer == tostring(task.answer) and 1 or 0 end
return env
