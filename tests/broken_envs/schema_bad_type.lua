-- expect-line: 9 expect: 'strin' is not a JSON Schema type
-- A tool schema with a misspelt type.
local env = {name = "broken_schema_type", version = 1, category = "general"}
env.tools = {
  book = {
    description = "Book a flight",
    parameters = {type = "object",
                  properties = {
                    date = {type = "strin"},
                    from = {type = "string"}},
                  required = {"date"}},
    run = function(state, args) return {ok = true} end,
  },
}
function env.generate(rng, level) return {prompt = "p" .. rng:int(1, 1000000), answer = "x"} end
function env.solve(task, call) return "x" end
function env.verify(task, answer, state) return answer == "x" and 1 or 0 end
return env
