-- expect-line: 0 expect: trivial_empty
-- verify accepts anything: every task fails the trivial-answer checks.
local env = {name = "broken_trivial", version = 1, category = "general"}
env.tools = {}
function env.generate(rng, level) return {prompt = "Say anything " .. rng:int(1, 1000000)} end
function env.solve(task, call) return "ok" end
function env.verify(task, answer, state) return 1 end
return env
