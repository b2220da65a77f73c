-- bank.lua — a retail-banking support desk with a written policy (general category,
-- tau2-bench-like).
--
-- Models: an agent serving one customer's requests on a bank's database (customers,
-- accounts, payees, a ledger). The tools let the agent do things the policy forbids —
-- pay a payee under fraud review, break the daily limit, drain savings below the minimum,
-- move more than needed — exactly as a real back office would; the policy in the prompt
-- says what is allowed, and only the final database tells whether it was followed.
-- Levels:
--   1 = one bill payment from checking, which has enough money;
--   2 = one bill payment that checking cannot cover: move the shortfall from savings,
--       rounded up to whole dollars, then pay;
--   3 = three payments in order, each paid, topped up, or declined (payee under review,
--       savings minimum, daily limit counting today's earlier payments); kept only when
--       an agent paying whatever the money allows would end elsewhere;
--   4 = level 3 after disputing a duplicated card charge found in the history (decoys:
--       the same merchant on another day, or another amount), whose refund changes what
--       the later payments need.
-- Tools: verify_identity{name, dob}, get_accounts{}, list_transactions{account_id},
-- find_payee{name}, transfer{from_account, to_account, amount_cents},
-- pay_bill{account_id, payee_id, amount_cents}, dispute_charge{transaction_id}.
-- Verify: the final database — every balance, the new ledger entries (kind, accounts,
-- payee, amount; in any order) and the disputed charges — must equal the state that
-- following the policy gives, and the answer must end with the final checking balance.
-- Anything else scores 0.

local env = {name = "bank", version = 1, category = "general", levels = 4,
             description = "Serve a bank customer's payment requests under a written policy; verified by final state"}

local FIRST = {"Ana", "Boris", "Carmen", "Dmitri", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas", "Kemal",
               "Lucia", "Marek", "Noor", "Oskar", "Paula", "Rania", "Stefan", "Tomas", "Ulla", "Vera", "Wen"}
local LAST = {"Adler", "Brandt", "Costa", "Dalby", "Engel", "Ferreira", "Grant", "Haddad", "Ibsen", "Jovic",
              "Kerr", "Lindqvist", "Mendes", "Nowak", "Okafor", "Pereira", "Ruiz", "Strand", "Toivonen", "Varga"}
local UTIL = {"Volt Energy", "Aqua Water Co", "Fibernet", "City Gas", "Metro Transit", "Skyline Mobile",
              "Green Waste", "Harbor Insurance", "Summit Gym", "Northside Rent", "Pixel Streaming",
              "Oakwood School", "Riverside Clinic", "Lumen Solar"}
local MERCHANTS = {"Cornerstone Grocers", "Blue Fern Cafe", "Atlas Books", "Nova Electronics", "Paper Crane",
                   "Juniper Pharmacy", "Quickfuel", "Maple Hardware"}

local SAVINGS_MIN = 10000 -- $100.00
local TODAY = 20

local function money(c) return string.format("$%d.%02d", c // 100, c % 100) end
local function plain(c) return string.format("%d.%02d", c // 100, c % 100) end
local function find(list, key, val)
  for _, x in ipairs(list) do if x[key] == val then return x end end
end

local function session_customer(state)
  local id = state.session.customer_id
  if id == json.null or id == nil then error("identity not verified: call verify_identity first") end
  return find(state.customers, "id", id)
end

local function own_account(state, cust, id)
  local a = find(state.accounts, "id", id)
  if not a or a.owner ~= cust.id then error("no account " .. tostring(id) .. " for this customer") end
  if a.status ~= "active" then error("account " .. a.id .. " is " .. a.status) end
  return a
end

local function post(state, t)
  t.id = "T" .. state.next_txn
  t.day = TODAY
  state.next_txn = state.next_txn + 1
  state.ledger[#state.ledger + 1] = t
  return t.id
end

local tools = {}

tools.verify_identity = {
  description = "Verify the customer you are serving by full name and date of birth (YYYY-MM-DD); required before any other action",
  parameters = {type = "object", properties = {name = {type = "string"}, dob = {type = "string"}},
                required = {"name", "dob"}},
  run = function(state, args)
    for _, c in ipairs(state.customers) do
      if c.name:lower() == args.name:lower() and c.dob == args.dob then
        state.session.customer_id = c.id
        return {verified = true, customer_id = c.id}
      end
    end
    error("no customer with that name and date of birth")
  end,
}

tools.get_accounts = {
  description = "The verified customer's accounts with balances in cents",
  parameters = {type = "object", properties = {}},
  run = function(state, args)
    local cust = session_customer(state)
    local out = json.array()
    for _, a in ipairs(state.accounts) do
      if a.owner == cust.id then
        out[#out + 1] = {account_id = a.id, kind = a.kind, balance_cents = a.balance, status = a.status}
      end
    end
    return out
  end,
}

tools.list_transactions = {
  description = "Ledger entries of one of the verified customer's accounts (day numbers; today is day " .. TODAY .. ")",
  parameters = {type = "object", properties = {account_id = {type = "string"}}, required = {"account_id"}},
  run = function(state, args)
    local cust = session_customer(state)
    local a = find(state.accounts, "id", args.account_id)
    if not a or a.owner ~= cust.id then error("no account " .. args.account_id .. " for this customer") end
    local out = json.array()
    for _, t in ipairs(state.ledger) do
      if t.account == a.id or t.to_account == a.id then
        out[#out + 1] = t
      end
    end
    return out
  end,
}

tools.find_payee = {
  description = "Registered payees whose name contains the text (case-insensitive)",
  parameters = {type = "object", properties = {name = {type = "string", minLength = 2}}, required = {"name"}},
  run = function(state, args)
    local q = args.name:lower()
    local out = json.array()
    for _, p in ipairs(state.payees) do
      if p.name:lower():find(q, 1, true) then out[#out + 1] = p end
    end
    return out
  end,
}

tools.transfer = {
  description = "Move money between two of the verified customer's own accounts",
  parameters = {type = "object",
                properties = {from_account = {type = "string"}, to_account = {type = "string"},
                              amount_cents = {type = "integer", minimum = 1}},
                required = {"from_account", "to_account", "amount_cents"}},
  run = function(state, args)
    local cust = session_customer(state)
    local a = own_account(state, cust, args.from_account)
    local b = own_account(state, cust, args.to_account)
    if a == b then error("from_account and to_account are the same") end
    if a.balance < args.amount_cents then error("insufficient funds in " .. a.id) end
    a.balance = a.balance - args.amount_cents
    b.balance = b.balance + args.amount_cents
    local id = post(state, {kind = "transfer", account = a.id, to_account = b.id, amount = args.amount_cents})
    return {transaction_id = id, from_balance_cents = a.balance, to_balance_cents = b.balance}
  end,
}

tools.pay_bill = {
  description = "Pay a registered payee from one of the verified customer's accounts",
  parameters = {type = "object",
                properties = {account_id = {type = "string"}, payee_id = {type = "string"},
                              amount_cents = {type = "integer", minimum = 1}},
                required = {"account_id", "payee_id", "amount_cents"}},
  run = function(state, args)
    local cust = session_customer(state)
    local a = own_account(state, cust, args.account_id)
    local p = find(state.payees, "id", args.payee_id)
    if not p then error("no payee " .. args.payee_id) end
    if a.balance < args.amount_cents then error("insufficient funds in " .. a.id) end
    a.balance = a.balance - args.amount_cents
    local id = post(state, {kind = "bill_payment", account = a.id, payee = p.id, amount = args.amount_cents})
    return {transaction_id = id, balance_cents = a.balance}
  end,
}

tools.dispute_charge = {
  description = "Dispute a card charge on one of the verified customer's accounts; the amount is credited back at once",
  parameters = {type = "object", properties = {transaction_id = {type = "string"}}, required = {"transaction_id"}},
  run = function(state, args)
    local cust = session_customer(state)
    local t = find(state.ledger, "id", args.transaction_id)
    if not t or t.kind ~= "card" then error("no card charge " .. args.transaction_id) end
    local a = own_account(state, cust, t.account)
    if t.disputed then error("charge " .. t.id .. " is already disputed") end
    t.disputed = true
    a.balance = a.balance + t.amount
    local id = post(state, {kind = "refund", account = a.id, of = t.id, amount = t.amount})
    return {transaction_id = id, balance_cents = a.balance}
  end,
}

env.tools = tools

-- ---- the policy, as the prompt states it and as the reference follows it ----------------

local POLICY = table.concat({
  "Bank policy (follow it exactly; the tools do not enforce it):",
  "1. Verify the customer's identity first.",
  "2. Bills are paid from the customer's checking account only.",
  "3. If checking holds less than a bill, first transfer the shortfall from savings to checking, rounded up to whole dollars. Never move more than that.",
  "4. Savings must keep at least " .. money(SAVINGS_MIN) .. " after any transfer out. If a bill cannot be covered without breaking this, decline that bill and move nothing for it.",
  "5. Never pay a payee whose status is under_review; decline that bill.",
  "6. Bill payments made today (day " .. TODAY .. "), including earlier ones in the ledger, may total at most the daily limit of LIMIT. Decline a bill that would exceed it.",
  "7. Handle the requests in the order given; a declined request does not stop the later ones.",
  "8. A card charge may be disputed only when it duplicates an earlier charge on the same account: same merchant, same amount, same day. Dispute the later copy only.",
}, "\n")

-- What the policy does with one bill: "pay", "topup" (with the amount) or a decline reason.
local function decide(chk, sav, paid_today, limit, amount, review)
  if review then return "decline_review" end
  if paid_today + amount > limit then return "decline_limit" end
  if chk >= amount then return "pay", 0 end
  local short = amount - chk
  local move = (short + 99) // 100 * 100
  if sav - move < SAVINGS_MIN then return "decline_savings" end
  return "topup", move
end

local function copy(v) return json.decode(json.encode(v)) end

-- The effects the verifier compares: balances, new ledger entries (without ids or order),
-- disputed charges.
local function effects(state, n0)
  local bal = {}
  for _, a in ipairs(state.accounts) do bal[a.id] = a.balance end
  local new = {}
  for i = n0 + 1, #state.ledger do
    local t = state.ledger[i]
    local of = ""
    if t.of then
      local o = find(state.ledger, "id", t.of)
      of = o and (o.merchant .. "@" .. o.day .. "#" .. o.amount .. "/" .. o.seq) or "?"
    end
    new[#new + 1] = table.concat({t.kind, t.account or "", t.to_account or "", t.payee or "", tostring(t.amount), of}, "|")
  end
  table.sort(new)
  local disputed = {}
  for _, t in ipairs(state.ledger) do
    if t.disputed then disputed[#disputed + 1] = t.merchant .. "@" .. t.day .. "#" .. t.amount .. "/" .. t.seq end
  end
  table.sort(disputed)
  return json.encode({balances = bal, new = json.array(new), disputed = json.array(disputed)})
end

-- ---- generation ------------------------------------------------------------------------

local function make_world(rng, level)
  local state = {customers = json.array(), accounts = json.array(), payees = json.array(),
                 ledger = json.array(), session = {customer_id = json.null}, next_txn = 1000 + rng:int(0, 8999)}
  local names = {}
  local firsts, lasts = rng:sample(FIRST, 8), rng:sample(LAST, 8)
  for i = 1, 8 do
    local c = {id = "C" .. rng:int(10000, 99999), name = firsts[i] .. " " .. lasts[i],
               dob = string.format("%04d-%02d-%02d", rng:int(1950, 2004), rng:int(1, 12), rng:int(1, 28))}
    state.customers[#state.customers + 1] = c
    names[#names + 1] = c
  end
  -- a second customer with the same name as the one served but another birth date
  local me = names[1]
  state.customers[2].name = me.name
  local used = {}
  local function acc_id()
    while true do
      local id = "AC" .. rng:int(100000, 999999)
      if not used[id] then used[id] = true; return id end
    end
  end
  for _, c in ipairs(state.customers) do
    state.accounts[#state.accounts + 1] = {id = acc_id(), owner = c.id, kind = "checking", balance = rng:int(5000, 300000), status = "active"}
    state.accounts[#state.accounts + 1] = {id = acc_id(), owner = c.id, kind = "savings", balance = rng:int(20000, 900000), status = "active"}
  end
  local utils = rng:sample(UTIL, 9)
  for i, u in ipairs(utils) do
    state.payees[#state.payees + 1] = {id = "P" .. (100 + i * 7 + rng:int(0, 6)), name = u, status = "active"}
  end
  -- a look-alike payee: a prefix of a real one, so a search returns both
  local twin = state.payees[rng:int(1, 3)]
  state.payees[#state.payees + 1] = {id = "P" .. rng:int(200, 299), name = twin.name .. " Services", status = "active"}
  state.limit = level >= 3 and rng:int(8, 20) * 10000 or 500000
  return state, me
end

local function account_of(state, cust, kind)
  for _, a in ipairs(state.accounts) do if a.owner == cust.id and a.kind == kind then return a end end
end

-- Card history for the served customer's checking account; level 4 plants one duplicate
-- (same merchant, amount, day) and decoys (same merchant and amount on another day, or
-- same merchant and day with another amount).
local function card_history(rng, state, chk, level)
  local merch = rng:sample(MERCHANTS, 4)
  local rows = {}
  local seq = 0
  local function add(m, day, amount)
    seq = seq + 1
    rows[#rows + 1] = {kind = "card", account = chk.id, merchant = m, day = day, amount = amount, seq = seq}
  end
  -- background charges from the other merchants: the disputed merchant's rows are all planted
  for i = 1, 5 do add(merch[(i - 1) % 3 + 2], rng:int(TODAY - 6, TODAY), rng:int(300, 15000)) end
  local dup
  if level == 4 then
    local m, day, amount = merch[1], rng:int(TODAY - 5, TODAY - 1), rng:int(1500, 40000)
    add(m, day, amount)
    add(m, day == TODAY - 1 and day - 1 or day + 1, amount)   -- same amount, another day
    add(m, day, amount + rng:int(1, 9) * 100)                 -- same day, another amount
    add(m, day, amount)                                       -- the duplicate
    dup = rows[#rows]
  end
  rng:shuffle(rows)
  -- ids in time order, as a ledger would have them
  table.sort(rows, function(a, b) if a.day ~= b.day then return a.day < b.day end return a.seq < b.seq end)
  for _, r in ipairs(rows) do
    r.id = "T" .. state.next_txn
    state.next_txn = state.next_txn + 1
    state.ledger[#state.ledger + 1] = r
  end
  return dup
end

local function pick_payees(rng, state, n, level)
  local pool = {}
  for i = 1, 9 do pool[i] = state.payees[i] end
  return rng:sample(pool, n)
end

-- Runs the policy on a copy of the state through the tools' own code: the expected state
-- and the outcome of each request.
local function simulate(state, me, requests, dup)
  local s = copy(state)
  local function run(name, args) return tools[name].run(s, copy(args)) end
  run("verify_identity", {name = me.name, dob = me.dob})
  local chk, sav = account_of(s, me, "checking"), account_of(s, me, "savings")
  if dup then run("dispute_charge", {transaction_id = dup.id}) end
  local paid = 0
  for _, t in ipairs(s.ledger) do
    if t.kind == "bill_payment" and t.day == TODAY and t.account == chk.id then paid = paid + t.amount end
  end
  local outcomes = {}
  for i, r in ipairs(requests) do
    local p = find(s.payees, "name", r.payee)
    local what, move = decide(chk.balance, sav.balance, paid, s.limit, r.amount, p.status == "under_review")
    if what == "topup" then run("transfer", {from_account = sav.id, to_account = chk.id, amount_cents = move}) end
    if what == "pay" or what == "topup" then
      run("pay_bill", {account_id = chk.id, payee_id = p.id, amount_cents = r.amount})
      paid = paid + r.amount
    end
    outcomes[i] = what
  end
  return s, outcomes, chk.balance
end

-- An agent that tops up and pays every bill the money allows, ignoring the declines: at
-- levels 3-4 a task is kept only when it ends elsewhere than the policy (else the policy
-- would not matter on it).
local function naive_effects(state, me, requests, dup)
  local s = copy(state)
  local function run(name, args) return pcall(tools[name].run, s, copy(args)) end
  run("verify_identity", {name = me.name, dob = me.dob})
  local chk, sav = account_of(s, me, "checking"), account_of(s, me, "savings")
  if dup then run("dispute_charge", {transaction_id = dup.id}) end
  for _, r in ipairs(requests) do
    local p = find(s.payees, "name", r.payee)
    if chk.balance < r.amount then
      run("transfer", {from_account = sav.id, to_account = chk.id, amount_cents = (r.amount - chk.balance + 99) // 100 * 100})
    end
    run("pay_bill", {account_id = chk.id, payee_id = p.id, amount_cents = r.amount})
  end
  return effects(s, #state.ledger)
end

function env.generate(rng, level)
  for _ = 1, 200 do
    local state, me = make_world(rng, level)
    local chk, sav = account_of(state, me, "checking"), account_of(state, me, "savings")
    local dup = card_history(rng, state, chk, level)
    local nreq = level <= 2 and 1 or 3
    local payees = pick_payees(rng, state, nreq, level)
    local requests = {}
    for i = 1, nreq do
      requests[i] = {payee = payees[i].name, amount = rng:int(20, level <= 2 and 1800 or 700) * 100 + rng:int(0, 99)}
    end
    if level == 1 then
      chk.balance = requests[1].amount + rng:int(100, 200000)
    elseif level == 2 then
      chk.balance = rng:int(0, requests[1].amount - 1)
      sav.balance = SAVINGS_MIN + requests[1].amount + rng:int(0, 300000)
    else
      chk.balance = rng:int(0, 60000)
      sav.balance = SAVINGS_MIN + rng:int(0, 120000)
      if rng:bool(0.5) then payees[rng:int(1, nreq)].status = "under_review" end
      -- earlier bill payments today count toward the daily limit
      for _ = 1, rng:int(0, 2) do
        local p = state.payees[rng:int(1, #state.payees)]
        state.ledger[#state.ledger + 1] = {id = "T" .. state.next_txn, kind = "bill_payment", account = chk.id,
                                           payee = p.id, amount = rng:int(10, 600) * 100, day = TODAY - rng:int(0, 1)}
        state.next_txn = state.next_txn + 1
      end
    end
    local final, outcomes, bal = simulate(state, me, requests, dup)
    local n_ok, n_no, kinds = 0, 0, {}
    for _, o in ipairs(outcomes) do
      if o == "pay" or o == "topup" then n_ok = n_ok + 1 else n_no = n_no + 1 end
      kinds[o] = true
    end
    local expected = effects(final, #state.ledger)
    local good = (level == 1 and outcomes[1] == "pay") or (level == 2 and outcomes[1] == "topup") or
                 (level >= 3 and n_ok >= 1 and n_no >= 1 and kinds.topup and
                  naive_effects(state, me, requests, dup) ~= expected)
    if good then
      local lines = {}
      for i, r in ipairs(requests) do lines[i] = i .. ". Pay " .. money(r.amount) .. " to " .. r.payee .. "." end
      local ask = "Hi, this is " .. me.name .. ", born " .. me.dob .. ". Please:\n"
      if dup then
        local t = find(state.ledger, "id", dup.id)
        ask = ask .. "0. I think " .. t.merchant .. " charged my card twice on day " .. t.day ..
              ". Please sort that out first.\n"
      end
      ask = ask .. table.concat(lines, "\n")
      local prompt = POLICY:gsub("LIMIT", money(state.limit)) .. "\n\nCustomer:\n" .. ask ..
                     "\n\nUse the tools to serve the customer. End your reply with the final balance of the " ..
                     "customer's checking account in dollars on its own line, like: Checking balance: 1234.56"
      return {prompt = prompt, state = state,
              answer = plain(bal),
              meta = {name = me.name, dob = me.dob, requests = requests, dispute = dup and dup.merchant or json.null,
                      dispute_day = dup and dup.day or json.null, outcomes = outcomes,
                      n_ledger = #state.ledger, expected = expected, level = level}}
    end
  end
  error("no task found in 200 draws")
end

-- ---- the reference agent: everything through the tools ---------------------------------

function env.solve(task, call)
  local m = task.meta
  call("verify_identity", {name = m.name, dob = m.dob})
  local accs = call("get_accounts", {})
  local chk, sav
  for _, a in ipairs(accs) do
    if a.kind == "checking" then chk = a elseif a.kind == "savings" then sav = a end
  end
  local hist = call("list_transactions", {account_id = chk.account_id})
  if m.dispute ~= json.null then
    -- the later of two card charges with the same merchant, amount and day
    local seen = {}
    for _, t in ipairs(hist) do
      if t.kind == "card" and t.merchant == m.dispute and t.day == m.dispute_day then
        local key = t.amount
        if seen[key] then
          local r = call("dispute_charge", {transaction_id = t.id})
          chk.balance_cents = r.balance_cents
          break
        end
        seen[key] = true
      end
    end
  end
  local paid = 0
  for _, t in ipairs(hist) do
    if t.kind == "bill_payment" and t.day == TODAY then paid = paid + t.amount end
  end
  local limit = tonumber((task.prompt:match("daily limit of %$([%d%.]+)"):gsub("%.", "")))
  for _, r in ipairs(m.requests) do
    local hits = call("find_payee", {name = r.payee})
    local p
    for _, h in ipairs(hits) do if h.name == r.payee then p = h end end
    local what, move = decide(chk.balance_cents, sav.balance_cents, paid, limit, r.amount, p.status == "under_review")
    if what == "topup" then
      local t = call("transfer", {from_account = sav.account_id, to_account = chk.account_id, amount_cents = move})
      chk.balance_cents, sav.balance_cents = t.to_balance_cents, t.from_balance_cents
    end
    if what == "pay" or what == "topup" then
      local t = call("pay_bill", {account_id = chk.account_id, payee_id = p.id, amount_cents = r.amount})
      chk.balance_cents = t.balance_cents
      paid = paid + r.amount
    end
  end
  for _, a in ipairs(call("get_accounts", {})) do
    if a.kind == "checking" then
      return "Done. Checking balance: " .. plain(a.balance_cents)
    end
  end
end

function env.verify(task, answer, state)
  if type(state) ~= "table" or type(state.ledger) ~= "table" then return 0, {reason = "no state"} end
  local ok_state = effects(state, task.meta.n_ledger) == task.meta.expected
  if not ok_state then return 0, {reason = "the final database differs from the policy's outcome"} end
  if type(answer) ~= "string" then return 0, {reason = "no answer text"} end
  local ok_answer = ef.verify.numeric(answer, task.answer, {extract = true, rtol = 0, atol = 0.001}) == 1
  if not ok_answer then return 0, {reason = "the answer does not end with the final checking balance"} end
  return 1
end

return env
