-- expect-line: 3 expect: env.levels must be an integer
-- levels given as a string.
local env = {name = "broken_levels", version = 1, category = "general", levels = "three"}
env.tools = {}
function env.generate(rng, level) return {prompt = "p"} end
function env.solve(task, call) return "" end
function env.verify(task, answer, state) return 0 end
return env
