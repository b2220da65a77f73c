-- queue_sim.lua — discrete-event simulation of a service queue (interpreter category).
--
-- Models: customers arrive at a service desk at given minutes with given service times
-- and are served first-come-first-served by c identical servers (a free server takes the
-- next customer in the queue; ties go to the lowest-numbered server). Levels:
--   1 = one server, 6-10 customers: the minute the last customer leaves;
--   2 = one server, 10-20 customers: the total waiting time (minutes in queue, summed);
--   3 = 2-3 servers, 15-30 customers: total waiting time or the maximum queue length;
--   4 = 2-4 servers, 25-50 customers with VIP priority (VIPs jump the queue, FIFO within
--       a class) and impatience (a customer still waiting after P minutes leaves): the
--       number who left, or the total waiting time of those served.
-- Tools: data{} returns the customer list and the desk parameters.
-- Verify: the integer answer, exactly (ef.verify.numeric, tolerance 0); answers below 2
-- are never generated so constants fail.

local env = {name = "queue_sim", version = 1, category = "interpreter", levels = 4,
             description = "Simulate a multi-server queue and report a statistic"}

-- Minute-by-minute simulation (all times are integers). customers: list of {id, arrive,
-- service, vip} sorted by arrival. At each minute t: arrivals join the queue; customers who
-- have waited more than `patience` minutes leave; free servers (lowest number first) take
-- the next customer (VIPs first, FIFO within a class); then the queue length is measured.
local function simulate(customers, servers, patience)
  local free_at = {}
  for s = 1, servers do free_at[s] = 0 end
  local waiting, nexti, n = {}, 1, #customers
  local total_wait, max_q, left, last_leave = 0, 0, 0, 0
  local t = customers[1].arrive
  while nexti <= n or #waiting > 0 do
    while nexti <= n and customers[nexti].arrive <= t do
      waiting[#waiting + 1] = customers[nexti]; nexti = nexti + 1
    end
    if patience then
      local keep = {}
      for _, c in ipairs(waiting) do
        if t - c.arrive > patience then left = left + 1 else keep[#keep + 1] = c end
      end
      waiting = keep
    end
    for s = 1, servers do
      if free_at[s] <= t and #waiting > 0 then
        local pick = 1
        if not waiting[1].vip then
          for i, c in ipairs(waiting) do if c.vip then pick = i; break end end
        end
        local c = table.remove(waiting, pick)
        total_wait = total_wait + (t - c.arrive)
        free_at[s] = t + c.service
        if free_at[s] > last_leave then last_leave = free_at[s] end
      end
    end
    if #waiting > max_q then max_q = #waiting end
    if #waiting == 0 and nexti <= n then t = math.max(t + 1, customers[nexti].arrive) else t = t + 1 end
  end
  return {last_leave = last_leave, total_wait = total_wait, max_queue = max_q, left = left}
end

env.tools = {
  data = {
    description = "The desk parameters (servers, patience) and the customers (id, arrival minute, service minutes, vip).",
    parameters = {type = "object", properties = {}},
    run = function(state) return state end,
  },
}

function env.generate(rng, level)
  while true do
    local servers = ({1, 1, rng:int(2, 3), rng:int(2, 4)})[level]
    local ncust = ({rng:int(6, 10), rng:int(10, 20), rng:int(15, 30), rng:int(25, 50)})[level]
    local patience = level == 4 and rng:int(5, 20) or nil
    local cs = json.array({})
    local t = rng:int(0, 10)
    for i = 1, ncust do
      t = t + rng:int(0, 8 // servers + 2)
      cs[i] = {id = i, arrive = t, service = rng:int(2, 12), vip = level == 4 and rng:bool(0.2) or false}
    end
    local st = simulate(cs, servers, patience)
    local kind
    if level == 1 then kind = "last_leave"
    elseif level == 2 then kind = "total_wait"
    elseif level == 3 then kind = rng:choice({"total_wait", "max_queue"})
    else kind = rng:choice({"left", "total_wait"}) end
    local v = st[kind]
    if v >= 2 then
      local ask = ({last_leave = "At which minute does the last customer leave the desk?",
                    total_wait = "What is the total waiting time (minutes spent in the queue before service starts, " ..
                                 "summed over all customers" .. (patience and " who are served" or "") .. ")?",
                    max_queue = "What is the maximum number of customers waiting in the queue at the same time " ..
                                "(not counting those being served)?",
                    left = "How many customers leave without being served?"})[kind]
      local rules = string.format("A service desk has %d server%s. Customers arrive at the given minutes and are served " ..
        "first come, first served; a server that becomes free at minute t immediately takes the next waiting customer, " ..
        "and a customer arriving at minute t when a server is free starts at t.", servers, servers > 1 and "s" or "")
      if patience then
        rules = rules .. string.format(" VIP customers are always taken before non-VIP ones (first come, first served " ..
          "within each class). A customer who has waited more than %d minutes without being served leaves.", patience)
      end
      return {prompt = rules .. " The customer list is available through the data tool. " .. ask ..
                       " Answer with an integer.",
              state = {servers = servers, patience = patience or json.null, customers = cs},
              answer = tostring(v), meta = {kind = kind}}
    end
  end
end

function env.solve(task, call)
  local d = call("data", {})
  local st = simulate(d.customers, d.servers, d.patience ~= json.null and d.patience or nil)
  return tostring(st[task.meta.kind])
end

function env.verify(task, answer)
  return ef.verify.numeric(answer, task.answer, {rtol = 0, atol = 0})
end

return env
