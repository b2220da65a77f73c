-- expect-line: 7 expect: 'verfy' is written instead
-- The env table lacks verify (misspelt).
local env = {name = "broken_missing", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level) return {prompt = "p"} end
function env.solve(task, call) return "" end
function env.verfy(task, answer, state)
  return 1
end
return env
