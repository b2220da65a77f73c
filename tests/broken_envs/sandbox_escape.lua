-- expect-line: 6 expect: attempt to index a nil value
-- Tries io/os, which envs do not have.
local env = {name = "broken_escape", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level)
  local f = io.open("/etc/passwd")
  return {prompt = f:read("a")}
end
function env.solve(task, call) return "" end
function env.verify(task, answer, state) return 0 end
return env
