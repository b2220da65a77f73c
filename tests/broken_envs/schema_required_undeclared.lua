-- expect-line: 8 expect: 'when' is required but not declared
-- A tool schema requiring a property it does not declare.
local env = {name = "broken_schema_required", version = 1, category = "general"}
env.tools = {
  book = {
    description = "Book a flight",
    parameters = {type = "object", properties = {date = {type = "string"}},
                  required = {"when"}},
    run = function(state, args) return {ok = true} end,
  },
}
function env.generate(rng, level) return {prompt = "p" .. rng:int(1, 1000000), answer = "x"} end
function env.solve(task, call) return "x" end
function env.verify(task, answer, state) return answer == "x" and 1 or 0 end
return env
