-- expect-line: 7 expect: type = "object"
-- Tool parameters whose top level is not an object schema.
local env = {name = "broken_schema_top", version = 1, category = "general"}
env.tools = {
  book = {
    description = "Book a flight",
    parameters = {type = "string"},
    run = function(state, args) return {ok = true} end,
  },
}
function env.generate(rng, level) return {prompt = "p" .. rng:int(1, 1000000), answer = "x"} end
function env.solve(task, call) return "x" end
function env.verify(task, answer, state) return answer == "x" and 1 or 0 end
return env
