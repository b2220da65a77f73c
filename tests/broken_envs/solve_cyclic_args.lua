-- expect-line: 14 expect: arguments.opts.parent: a table that contains itself (a cycle)
-- solve passes call() arguments that no model could send (a table holding itself).
local env = {name = "broken_cyclic_args", version = 1, category = "general"}
env.tools = {
  lookup = {
    description = "The value stored under a key",
    parameters = {type = "object", properties = {key = {type = "string"}, opts = {type = "object"}}, required = {"key"}},
    run = function(state, args) return {value = args.key} end,
  },
}
function env.generate(rng, level) local x = rng:int(1, 1000000); return {prompt = "Say " .. x, answer = tostring(x)} end
function env.solve(task, call)
  local opts = {}; opts.parent = opts
  local r = call("lookup", {key = task.answer, opts = opts})
  return r and r.value or ""
end
function env.verify(task, answer, state) return answer == task.answer and 1 or 0 end
return env
