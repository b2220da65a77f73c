-- expect-line: 15 expect: missing required property 'id'
-- solve never calls its tool correctly (wrong argument name), so it never scores 1.
local env = {name = "broken_solve", version = 1, category = "general"}
env.tools = {
  lookup = {
    description = "The value stored under an id",
    parameters = {type = "object", properties = {id = {type = "integer"}}, required = {"id"}},
    run = function(state, args) return {value = state.values[args.id]} end,
  },
}
function env.generate(rng, level)
  return {prompt = "What is stored under id 2?", state = {values = {rng:int(100, 999), rng:int(100, 999)}}}
end
function env.solve(task, call)
  local r = call("lookup", {key = 2})
  return r and tostring(r.value) or "unknown"
end
function env.verify(task, answer, state)
  return tonumber(answer) == state.values[2] and 1 or 0
end
return env
