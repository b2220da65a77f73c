-- inventory.lua — a retail order/inventory back office (general category, tau-bench-like).
--
-- Models: a support agent acting on a store database (customers, products with stock,
-- orders) for a customer's request. Levels:
--   1 = buy N units of a named product;
--   2 = buy the cheapest in-stock product matching a colour and category (enough stock
--       for N), plus a named product, in one order;
--   3 = cancel the customer's pending order that contains a given product, then buy the
--       cheapest matching product instead;
--   4 = cancel a pending order, return a delivered item, and place one order of two
--       criteria-selected products, with a fallback when the first choice lacks stock.
-- Tools: find_customer{email}, get_customer_orders{customer_id}, get_order{order_id},
-- search_products{category?, color?, min_stock?}, place_order{customer_id, items},
-- cancel_order{order_id}, return_item{order_id, sku, qty}.
-- Verify: final database state — its canonical hash (ef.verify.state_hash) must equal the
-- hash of the expected state, which generate obtains by replaying the reference actions on
-- a copy of the initial state (tau-bench style) — and the answer must name the new order
-- id. Anything else scores 0.

local env = {name = "inventory", version = 1, category = "general", levels = 4,
             description = "Fulfil customer requests on an order/inventory database; verified by final state"}

local FIRST = {"Ada", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Ivy", "Jon", "Kai", "Lea", "Max", "Nia", "Oli",
               "Pia", "Raj", "Sam", "Tia", "Uri", "Val", "Wes", "Yara", "Zed"}
local LAST = {"Abbot", "Barros", "Chu", "Diaz", "Ekwe", "Fox", "Gupta", "Holm", "Ito", "Jansen", "Kaur", "Lund",
              "Moss", "Novak", "Ortiz", "Park", "Quist", "Reyes", "Sato", "Tran", "Ueda", "Voss", "Weber"}
local CATS = {"mug", "lamp", "backpack", "scarf", "kettle", "notebook", "headphones", "jacket", "umbrella", "bottle"}
local COLORS = {"red", "blue", "green", "black", "white", "grey", "yellow", "orange"}
local VARIANTS = {"Classic", "Pro", "Lite", "Mini", "Max", "Eco", "Studio", "Trail"}

local function cap(s) return (s:gsub("^%l", string.upper)) end
local function copy(v) return json.decode(json.encode(v)) end
local function money(c) return string.format("$%d.%02d", c // 100, c % 100) end

local function find(list, key, val)
  for _, x in ipairs(list) do if x[key] == val then return x end end
end

local function place_order(state, args)
  local cust = find(state.customers, "id", args.customer_id)
  if not cust then error("no customer " .. tostring(args.customer_id)) end
  if #args.items == 0 then error("an order needs at least one item") end
  local items, seen = json.array({}), {}
  for _, it in ipairs(args.items) do
    local p = find(state.products, "sku", it.sku)
    if not p then error("no product " .. tostring(it.sku)) end
    if seen[it.sku] then error("list each sku once") end
    seen[it.sku] = true
    if it.qty < 1 then error("qty must be positive") end
    if p.stock < it.qty then error("only " .. p.stock .. " of " .. p.sku .. " in stock") end
    items[#items + 1] = {sku = p.sku, qty = it.qty, unit_price = p.price, returned = 0}
  end
  table.sort(items, function(a, b) return a.sku < b.sku end)
  local total = 0
  for _, it in ipairs(items) do
    local p = find(state.products, "sku", it.sku)
    p.stock = p.stock - it.qty
    total = total + it.qty * it.unit_price
  end
  if cust.tier == "gold" then total = total * 90 // 100 end
  local id = "O" .. state.next_order_id
  state.next_order_id = state.next_order_id + 1
  state.orders[#state.orders + 1] = {id = id, customer_id = cust.id, items = items, status = "pending", total = total}
  return {order_id = id, total = total, total_display = money(total)}
end

local function cancel_order(state, args)
  local o = find(state.orders, "id", args.order_id)
  if not o then error("no order " .. tostring(args.order_id)) end
  if o.status ~= "pending" then error("only pending orders can be cancelled; this one is " .. o.status) end
  for _, it in ipairs(o.items) do
    local p = find(state.products, "sku", it.sku)
    p.stock = p.stock + it.qty
  end
  o.status = "cancelled"
  local cust = find(state.customers, "id", o.customer_id)
  cust.credit = cust.credit + o.total
  return {order_id = o.id, status = o.status, refunded = o.total}
end

local function return_item(state, args)
  local o = find(state.orders, "id", args.order_id)
  if not o then error("no order " .. tostring(args.order_id)) end
  if o.status ~= "delivered" then error("only delivered orders accept returns; this one is " .. o.status) end
  local it = find(o.items, "sku", args.sku)
  if not it then error("order " .. o.id .. " has no item " .. tostring(args.sku)) end
  if args.qty < 1 or args.qty > it.qty - it.returned then error("cannot return that many") end
  it.returned = it.returned + args.qty
  local p = find(state.products, "sku", it.sku)
  p.stock = p.stock + args.qty
  local cust = find(state.customers, "id", o.customer_id)
  local refund = args.qty * it.unit_price
  if cust.tier == "gold" then refund = refund * 90 // 100 end
  cust.credit = cust.credit + refund
  return {order_id = o.id, sku = it.sku, returned = args.qty, refunded = refund}
end

local function search_products(state, args)
  local out = json.array({})
  for _, p in ipairs(state.products) do
    if (not args.category or p.category == args.category:lower()) and (not args.color or p.color == args.color:lower())
       and p.stock >= (args.min_stock or 0) then
      out[#out + 1] = p
    end
  end
  return {products = out}
end

env.tools = {
  find_customer = {
    description = "Look up a customer by email.",
    parameters = {type = "object", properties = {email = {type = "string"}}, required = {"email"}},
    run = function(state, args)
      local c = find(state.customers, "email", args.email:lower())
      if not c then error("no customer with email " .. args.email) end
      return c
    end,
  },
  get_customer_orders = {
    description = "All orders of a customer (id, status, items, total in cents).",
    parameters = {type = "object", properties = {customer_id = {type = "string"}}, required = {"customer_id"}},
    run = function(state, args)
      local out = json.array({})
      for _, o in ipairs(state.orders) do if o.customer_id == args.customer_id then out[#out + 1] = o end end
      return {orders = out}
    end,
  },
  get_order = {
    description = "One order by id.",
    parameters = {type = "object", properties = {order_id = {type = "string"}}, required = {"order_id"}},
    run = function(state, args) return find(state.orders, "id", args.order_id) or error("no order " .. args.order_id) end,
  },
  search_products = {
    description = "Products (sku, name, category, color, price in cents, stock), filtered by category, color " ..
                  "and minimum stock.",
    parameters = {type = "object", properties = {category = {type = "string"}, color = {type = "string"},
                  min_stock = {type = "integer", minimum = 0}}},
    run = search_products,
  },
  place_order = {
    description = "Place one order for a customer; items are {sku, qty}. Gold customers get 10% off.",
    parameters = {type = "object", properties = {customer_id = {type = "string"},
                  items = {type = "array", items = {type = "object", properties = {sku = {type = "string"},
                           qty = {type = "integer", minimum = 1}}, required = {"sku", "qty"}}}},
                  required = {"customer_id", "items"}},
    run = place_order,
  },
  cancel_order = {
    description = "Cancel a pending order: restock its items and credit the customer.",
    parameters = {type = "object", properties = {order_id = {type = "string"}}, required = {"order_id"}},
    run = cancel_order,
  },
  return_item = {
    description = "Return units of an item from a delivered order: restock and credit the customer.",
    parameters = {type = "object", properties = {order_id = {type = "string"}, sku = {type = "string"},
                  qty = {type = "integer", minimum = 1}}, required = {"order_id", "sku", "qty"}},
    run = return_item,
  },
}

local function cheapest(products, cat, color, qty, exclude)
  local best
  for _, p in ipairs(products) do
    if p.category == cat and p.color == color and p.stock >= qty and p.sku ~= exclude
       and (not best or p.price < best.price or (p.price == best.price and p.sku < best.sku)) then best = p end
  end
  return best
end

function env.generate(rng, level)
  while true do
    local state = {customers = json.array({}), products = json.array({}), orders = json.array({}),
                   next_order_id = rng:int(1000, 8999)}
    -- products: unique (variant, color, category); several per (color, category) pair
    local cats = rng:sample(CATS, 5)
    local cols = rng:sample(COLORS, 4)
    local sku = rng:int(100, 800)
    for _, c in ipairs(cats) do
      for _, col in ipairs(cols) do
        for _, v in ipairs(rng:sample(VARIANTS, rng:int(1, 3))) do
          sku = sku + rng:int(1, 9)
          state.products[#state.products + 1] = {sku = "SKU-" .. sku, name = v .. " " .. cap(col) .. " " .. cap(c),
            category = c, color = col, price = rng:int(5, 150) * 100 - rng:choice({1, 5, 50}),
            stock = rng:bool(0.2) and rng:int(0, 2) or rng:int(3, 40)}
        end
      end
    end
    -- customers
    local used = {}
    for _ = 1, rng:int(8, 14) do
      local f, l = rng:choice(FIRST), rng:choice(LAST)
      local email = (f .. "." .. l):lower() .. "@example.com"
      if not used[email] then
        used[email] = true
        state.customers[#state.customers + 1] = {id = "C" .. rng:int(10000, 99999), name = f .. " " .. l,
          email = email, tier = rng:bool(0.3) and "gold" or "standard", credit = 0}
      end
    end
    -- historical orders (ids below next_order_id)
    local oid = state.next_order_id - rng:int(30, 60)
    for _ = 1, rng:int(15, 30) do
      local cust = rng:choice(state.customers)
      local items = json.array({})
      local total = 0
      for _, p in ipairs(rng:sample(state.products, rng:int(1, 3))) do
        local q = rng:int(1, 3)
        items[#items + 1] = {sku = p.sku, qty = q, unit_price = p.price, returned = 0}
        total = total + q * p.price
      end
      table.sort(items, function(a, b) return a.sku < b.sku end)
      if cust.tier == "gold" then total = total * 90 // 100 end
      oid = oid + 1
      state.orders[#state.orders + 1] = {id = "O" .. oid, customer_id = cust.id, items = items,
        status = rng:choice({"pending", "pending", "shipped", "delivered", "delivered"}), total = total}
    end
    for _, o in ipairs(state.orders) do for _, it in ipairs(o.items) do it.returned = 0 end end

    local cust = rng:choice(state.customers)
    local sim = state  -- read-only here: the request is chosen against the initial state
    local ops, text = {}, {}
    local ok = true
    local function pick_pending()
      local c = {}
      for _, o in ipairs(sim.orders) do if o.customer_id == cust.id and o.status == "pending" then c[#c + 1] = o end end
      return #c > 0 and rng:choice(c) or nil
    end
    local function pick_delivered()
      local c = {}
      for _, o in ipairs(sim.orders) do if o.customer_id == cust.id and o.status == "delivered" then c[#c + 1] = o end end
      return #c > 0 and rng:choice(c) or nil
    end
    local items, queries = {}, json.array({})
    if level == 1 then
      local p = rng:choice(sim.products)
      local q = rng:int(1, 4)
      if p.stock < q then ok = false end
      items[1] = {sku = p.sku, qty = q}
      queries[1] = {category = p.category, color = p.color}
      text[#text + 1] = string.format("I'd like to buy %d x \"%s\".", q, p.name)
    else
      if level >= 3 then
        local o = pick_pending()
        if not o then ok = false else
          local it = rng:choice(o.items)
          local p = find(sim.products, "sku", it.sku)
          ops[#ops + 1] = {"cancel_order", {order_id = o.id}}
          text[#text + 1] = string.format("Please cancel my pending order that contains the \"%s\".", p.name)
          -- the product must identify the order uniquely among the customer's pending orders
          for _, o2 in ipairs(sim.orders) do
            if o2 ~= o and o2.customer_id == cust.id and o2.status == "pending" and find(o2.items, "sku", it.sku) then ok = false end
          end
        end
      end
      if ok and level == 4 then
        local o = pick_delivered()
        if not o then ok = false else
          local it = rng:choice(o.items)
          local p = find(sim.products, "sku", it.sku)
          local q = rng:int(1, it.qty)
          ops[#ops + 1] = {"return_item", {order_id = o.id, sku = it.sku, qty = q}}
          text[#text + 1] = string.format("I also want to return %d x \"%s\" from my delivered order %s.", q, p.name, o.id)
        end
      end
      if ok then
        local cat, col = rng:choice(cats), rng:choice(cols)
        local q = rng:int(1, 5)
        local best = cheapest(sim.products, cat, col, q)
        queries[#queries + 1] = {category = cat, color = col, min_stock = q}
        if not best then ok = false else
          items[#items + 1] = {sku = best.sku, qty = q}
          text[#text + 1] = string.format("%s %d x the cheapest %s %s that has at least %d in stock.",
                                          level == 2 and "I'd like to order" or "Then order", q, col, cat, q)
          if level == 2 then
            local p = rng:choice(sim.products)
            if p.sku == best.sku or p.stock < 1 then ok = false end
            items[#items + 1] = {sku = p.sku, qty = 1}
            queries[#queries + 1] = {category = p.category, color = p.color}
            text[#text + 1] = string.format("Add one \"%s\" to the same order.", p.name)
          elseif level == 4 then
            local cat2, col2 = rng:choice(cats), rng:choice(cols)
            local pref = rng:choice(VARIANTS)
            local want = find(sim.products, "name", pref .. " " .. cap(col2) .. " " .. cap(cat2))
            local q2 = rng:int(1, 3)
            text[#text + 1] = string.format("In the same order add %d x \"%s %s %s\"; if it does not exist or has fewer " ..
              "than %d in stock, take the cheapest %s %s with enough stock instead.", q2, pref, cap(col2), cap(cat2), q2, col2, cat2)
            local pick = want
            queries[#queries + 1] = {category = cat2, color = col2}
            if not want or want.stock < q2 then pick = cheapest(sim.products, cat2, col2, q2) end
            if not pick or pick.sku == best.sku then ok = false else items[#items + 1] = {sku = pick.sku, qty = q2} end
          end
        end
      end
    end
    if ok then
      ops[#ops + 1] = {"place_order", {customer_id = cust.id, items = items}}
      -- every op succeeds by construction: stock was checked above, cancel/return only add stock.
      -- The expected final state is replayed once here; verify compares canonical hashes.
    end
    if ok then
      local prompt = string.format("Hi, this is %s (%s). %s Please tell me the new order id.", cust.name, cust.email,
                                   table.concat(text, " "))
      local oplist = json.array({})
      for _, op in ipairs(ops) do oplist[#oplist + 1] = {tool = op[1], args = op[2]} end
      local exp = copy(state)
      for _, op in ipairs(ops) do
        local fn = ({cancel_order = cancel_order, return_item = return_item, place_order = place_order})[op[1]]
        fn(exp, copy(op[2]))
      end
      return {prompt = prompt, state = state,
              answer = {order_id = "O" .. state.next_order_id, state_hash = ef.verify.state_hash(exp)},
              meta = {ops = oplist, queries = queries, email = cust.email, level = level}}
    end
  end
end

-- The reference agent: look the customer up, read their orders and the catalogue, then act.
function env.solve(task, call)
  local cust = call("find_customer", {email = task.meta.email})
  call("get_customer_orders", {customer_id = cust.id})
  local new_id
  for _, op in ipairs(task.meta.ops) do
    if op.tool == "place_order" then
      for _, q in ipairs(task.meta.queries) do call("search_products", q) end
      new_id = call("place_order", op.args).order_id
    else
      if op.args.order_id then call("get_order", {order_id = op.args.order_id}) end
      call(op.tool, op.args)
    end
  end
  return "Done. Your new order id is " .. new_id .. "."
end

function env.verify(task, answer, state)
  if not state then return 0 end
  if ef.verify.state_hash(state) ~= task.answer.state_hash then return 0, {reason = "final state differs"} end
  if type(answer) ~= "string" or not answer:upper():find(task.answer.order_id, 1, true) then
    return 0, {reason = "the answer does not give the new order id"}
  end
  return 1
end

return env
