-- agent_env5.lua — the agent runner's benchmark env: a 5-turn episode with Lua-only tools.
-- A task hides a secret list of four numbers; the solver reads each with peek{i}
-- (four tool turns) and answers with their sum (the fifth turn). Nothing here leaves Lua,
-- so an oracle run measures the runner's own overhead: loop, recording, verify, store.
local env = {name = "bench5", version = 1, category = "general",
             description = "Read four hidden numbers with peek and answer their sum"}

env.tools = {
  peek = {
    description = "The i-th hidden number (i from 1 to 4)",
    parameters = {type = "object", properties = {i = {type = "integer", minimum = 1, maximum = 4}},
                  required = {"i"}},
    run = function(state, args)
      state.peeked = (state.peeked or 0) + 1
      return {value = state.secret[args.i]}
    end,
  },
}

function env.generate(rng, level)
  local s = {}
  for i = 1, 4 do s[i] = rng:int(10, 99999) end
  local sum = s[1] + s[2] + s[3] + s[4]
  return {prompt = "Four numbers are hidden; read them with peek and answer their sum.",
          state = {secret = s, peeked = 0}, answer = tostring(sum)}
end

function env.solve(task, call)
  local sum = 0
  for i = 1, 4 do sum = sum + call("peek", {i = i}).value end
  return tostring(sum)
end

function env.verify(task, answer, state)
  return (tostring(answer) == task.answer and state.peeked >= 4) and 1 or 0
end

return env
