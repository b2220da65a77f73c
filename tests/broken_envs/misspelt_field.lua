-- expect-line: 4 expect: unknown field 'levles' (did you mean 'levels'?)
-- A misspelt env field (it would leave levels at its default of 1).
local env = {name = "broken_misspelt", version = 1, category = "general",
             levles = 3}
env.tools = {}
function env.generate(rng, level) return {prompt = "p" .. rng:int(1, 1000000), answer = "x"} end
function env.solve(task, call) return "x" end
function env.verify(task, answer, state) return answer == "x" and 1 or 0 end
return env
