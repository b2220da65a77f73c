-- expect-line: 9 expect: not JSON
-- A tool returns a function, which no model could receive.
local env = {name = "broken_tool_result", version = 1, category = "general"}
env.tools = {
  lookup = {
    description = "Looks something up",
    parameters = {type = "object", properties = {key = {type = "string"}}, required = {"key"}},
    run =
      function(state, args) return {value = function() return 1 end} end,
  },
}
function env.generate(rng, level)
  local k = "k" .. rng:int(1, 1000000)
  return {prompt = "Look up " .. k, answer = k}
end
function env.solve(task, call) local r = call("lookup", {key = task.answer}); return task.answer end
function env.verify(task, answer, state) return answer == task.answer and 1 or 0 end
return env
