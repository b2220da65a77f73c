-- expect-line: 8 expect: 'then' expected
-- A syntax error: a missing 'then'.
local env = {name = "broken_syntax", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level)
  local x = rng:int(1, 9)
  if x > 3
    return {prompt = "x"}
  end
  return {prompt = "y"}
end
function env.solve(task, call) return "" end
function env.verify(task, answer, state) return 0 end
return env
