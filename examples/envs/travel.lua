-- travel.lua — trip planning over a flight and hotel database (general category).
--
-- Models: a traveller's request (origin, destination(s), dates or a date window, arrival
-- deadlines, earliest return departure, nights, minimum hotel rating) against a synthetic
-- database of a few hundred flights between 6-8 cities and 3-5 hotels per city. The task
-- is to find the cheapest itinerary that satisfies every constraint. Levels:
--   1 = one-way direct flight + hotel for N nights;
--   2 = one-way with at most one connection (layover >= 45 min) and an arrival deadline;
--   3 = round trip, departure day free within a 3-day window, exactly N nights, one
--       connection per direction allowed, arrival deadline and earliest return time;
--   4 = a loop A -> B -> C -> A on fixed dates with hotels in B and C, connections allowed.
-- Tools: list_cities{}, search_flights{from, to?, date} (direct flights; omit `to` for
-- every departure from a city that day), search_hotels{city, min_rating?}.
-- Verify: the answer lists flight ids in travel order and hotel ids ("F102, F7, H3");
-- verify rebuilds the itinerary from the database, checks every constraint and compares
-- its total cost with the optimum: 1 if valid and optimal, 0.3 if valid but dearer, else 0.

local env = {name = "travel", version = 1, category = "general", levels = 4,
             description = "Find the cheapest trip under flight, hotel, time and rating constraints"}

local CITY_NAMES = {"Avalon", "Brisport", "Calder", "Dunmore", "Eastwick", "Farrow", "Glenhaven", "Harlow",
                    "Ironbay", "Juniper", "Kestrel", "Lorwick", "Marlow", "Northam", "Oakridge", "Pemberly"}
local HOTEL_WORDS = {"Grand", "Plaza", "Harbor", "Garden", "Royal", "Central", "Park", "Summit", "Riverside",
                     "Station", "Crown", "Lantern"}
local LAYOVER = 45

local function hm(m) return string.format("%02d:%02d", m // 60, m % 60) end
local function mins(s) local h, m = s:match("^(%d+):(%d+)$"); return tonumber(h) * 60 + tonumber(m) end
local function date(d) return string.format("2026-06-%02d", d) end

-- Cheapest route (direct or one connection) for one leg. get(from, to_or_nil, date)
-- returns a list of flights {id, from, to, dep, arr, price}. cons: arrive_by, depart_after
-- (minutes, optional). Returns cost, {ids} or nil.
local function best_leg(get, from, to, day, cons)
  local best, route
  local ab, da = cons.arrive_by or 24 * 60, cons.depart_after or 0
  local outs = get(from, nil, day)
  local onward = {}
  for _, f in ipairs(outs) do
    if mins(f.dep) >= da then
      if f.to == to or cons.direct then
        if f.to ~= to then goto next end
        if mins(f.arr) <= ab and (not best or f.price < best) then best, route = f.price, {f.id} end
      else
        local nxt = onward[f.to]
        if not nxt then nxt = get(f.to, to, day); onward[f.to] = nxt end
        for _, g in ipairs(nxt) do
          if mins(g.dep) >= mins(f.arr) + LAYOVER and mins(g.arr) <= ab then
            local c = f.price + g.price
            if not best or c < best then best, route = c, {f.id, g.id} end
          end
        end
      end
    end
    ::next::
  end
  return best, route
end
local function best_hotel(hotels, city, min_rating)
  local best
  for _, h in ipairs(hotels) do
    if h.city == city and h.rating >= min_rating and (not best or h.price < best.price) then best = h end
  end
  return best
end

local function state_flights(state)
  local idx = {}
  for _, f in ipairs(state.flights) do
    local k = f.from .. "|" .. f.date
    local l = idx[k]; if not l then l = {}; idx[k] = l end
    l[#l + 1] = f
  end
  return function(from, to, day)
    local out = {}
    for _, f in ipairs(idx[from .. "|" .. date(day)] or {}) do
      if not to or f.to == to then out[#out + 1] = f end
    end
    return out
  end
end

env.tools = {
  list_cities = {
    description = "List the cities served by the booking system.",
    parameters = {type = "object", properties = {}},
    run = function(state) return {cities = state.cities} end,
  },
  search_flights = {
    description = "Direct flights departing `from` on `date` (YYYY-MM-DD), optionally only those to `to`.",
    parameters = {type = "object", properties = {from = {type = "string"}, to = {type = "string"},
                  date = {type = "string", description = "YYYY-MM-DD"}}, required = {"from", "date"}},
    run = function(state, args)
      local out = json.array({})
      for _, f in ipairs(state.flights) do
        if f.from == args.from and f.date == args.date and (not args.to or f.to == args.to) then
          out[#out + 1] = {id = f.id, from = f.from, to = f.to, date = f.date, dep = f.dep, arr = f.arr, price = f.price}
        end
      end
      return {flights = out}
    end,
  },
  search_hotels = {
    description = "Hotels in a city with their rating (stars) and price per night.",
    parameters = {type = "object", properties = {city = {type = "string"}, min_rating = {type = "number"}},
                  required = {"city"}},
    run = function(state, args)
      local out = json.array({})
      for _, h in ipairs(state.hotels) do
        if h.city == args.city and h.rating >= (args.min_rating or 0) then out[#out + 1] = h end
      end
      return {hotels = out}
    end,
  },
}

-- The trip's legs: {from, to, day (or window days), cons}; and stays {city, nights}.
local function plan_cost(get, hotels, trip)
  -- returns best total, ids list (flights in order, then hotels)
  local best, best_ids
  local starts = trip.window or {trip.day0}
  for _, d0 in ipairs(starts) do
    local total, ids, ok = 0, {}, true
    for _, leg in ipairs(trip.legs) do
      local c, r = best_leg(get, leg.from, leg.to, d0 + leg.offset, leg.cons)
      if not c then ok = false; break end
      total = total + c
      for _, id in ipairs(r) do ids[#ids + 1] = id end
    end
    if ok then
      for _, st in ipairs(trip.stays) do
        local h = best_hotel(hotels, st.city, trip.min_rating)
        if not h then ok = false; break end
        total = total + h.price * st.nights
        ids[#ids + 1] = h.id
      end
    end
    if ok and (not best or total < best) then best, best_ids = total, ids end
  end
  return best, best_ids
end

function env.generate(rng, level)
  while true do
    local ncity = level <= 2 and 6 or 8
    local cities = rng:sample(CITY_NAMES, ncity)
    local a, b, c = cities[1], cities[2], cities[3]
    local day0 = rng:int(1, 20)
    local trip = {min_rating = rng:choice({3, 3.5, 4, 4.5}), stays = {}, legs = {}, day0 = day0}
    local nights = rng:int(1, 5)
    local days = {}
    if level <= 2 then
      trip.legs[1] = {from = a, to = b, offset = 0, cons = {arrive_by = level == 2 and rng:int(13, 21) * 60 or nil,
                                                              direct = level == 1}}
      trip.stays[1] = {city = b, nights = nights}
      days = {day0}
    elseif level == 3 then
      trip.window = {day0, day0 + 1, day0 + 2}
      trip.legs[1] = {from = a, to = b, offset = 0, cons = {arrive_by = rng:int(14, 21) * 60}}
      trip.legs[2] = {from = b, to = a, offset = nights, cons = {depart_after = rng:int(9, 15) * 60}}
      trip.stays[1] = {city = b, nights = nights}
      days = {day0, day0 + 1, day0 + 2, day0 + nights, day0 + nights + 1, day0 + nights + 2}
    else
      local n2 = rng:int(1, 4)
      trip.legs[1] = {from = a, to = b, offset = 0, cons = {arrive_by = rng:int(15, 22) * 60}}
      trip.legs[2] = {from = b, to = c, offset = nights, cons = {depart_after = rng:int(8, 13) * 60}}
      trip.legs[3] = {from = c, to = a, offset = nights + n2, cons = {depart_after = rng:int(8, 14) * 60}}
      trip.stays[1] = {city = b, nights = nights}; trip.stays[2] = {city = c, nights = n2}
      days = {day0, day0 + nights, day0 + nights + n2}
    end
    -- flights: every (day, ordered pair) gets 0-3 flights; the legs' pairs get more.
    local flights, fid = {}, rng:int(10, 899) * 10
    local seen_day = {}
    for _, d in ipairs(days) do
      if not seen_day[d] then
        seen_day[d] = true
        for i = 1, ncity do
          for j = 1, ncity do
            if i ~= j then
              local n = rng:int(0, 8) - 5
              if (i <= 3 and j <= 3) then n = rng:int(0, 2) end
              for _ = 1, n do
                local dep = rng:int(6 * 12, 20 * 12) * 5
                local dur = rng:int(9, 48) * 5
                if dep + dur < 24 * 60 then
                  fid = fid + rng:int(1, 3)
                  flights[#flights + 1] = {id = "F" .. fid, from = cities[i], to = cities[j], date = date(d),
                                           dep = hm(dep), arr = hm(dep + dur), price = rng:int(6, 60) * 10 - 1}
                end
              end
            end
          end
        end
      end
    end
    local hotels, hid = {}, rng:int(1, 89) * 10
    for i = 1, ncity do
      for _ = 1, rng:int(3, 5) do
        hid = hid + rng:int(1, 3)
        hotels[#hotels + 1] = {id = "H" .. hid, city = cities[i], name = cities[i] .. " " .. rng:choice(HOTEL_WORDS),
                               rating = rng:int(4, 10) / 2, price = rng:int(8, 40) * 5}
      end
    end
    local state = {cities = rng:shuffle({table.unpack(cities)}), flights = flights, hotels = hotels}
    local best, ids = plan_cost(state_flights(state), hotels, trip)
    if best then
      local parts = {}
      local rt = string.format("at least %s stars", trip.min_rating)
      if level == 1 then
        parts[1] = string.format("I need a direct flight from %s to %s on %s, then a hotel in %s for %d night%s (%s).",
                                 a, b, date(day0), b, nights, nights > 1 and "s" or "", rt)
      elseif level == 2 then
        parts[1] = string.format("I am flying from %s to %s on %s and must arrive by %s; one connection is fine " ..
                                 "(layovers of at least %d minutes, same day). Then I need a hotel in %s for %d night%s (%s).",
                                 a, b, date(day0), hm(trip.legs[1].cons.arrive_by), LAYOVER, b, nights,
                                 nights > 1 and "s" or "", rt)
      elseif level == 3 then
        parts[1] = string.format("Round trip %s -> %s -> %s. I can leave on %s, %s or %s and must arrive in %s by %s. " ..
                                 "I stay exactly %d night%s at one hotel in %s (%s) and fly back the day I check out, " ..
                                 "leaving no earlier than %s. At most one connection per direction (layover >= %d min, same day).",
                                 a, b, a, date(day0), date(day0 + 1), date(day0 + 2), b, hm(trip.legs[1].cons.arrive_by),
                                 nights, nights > 1 and "s" or "", b, rt, hm(trip.legs[2].cons.depart_after), LAYOVER)
      else
        parts[1] = string.format("A loop %s -> %s -> %s -> %s. Leave %s on %s and arrive in %s by %s; stay %d night%s " ..
                                 "in %s; fly to %s on %s leaving no earlier than %s; stay %d night%s in %s; fly home on %s " ..
                                 "leaving no earlier than %s. Hotels %s. At most one connection per flight leg " ..
                                 "(layover >= %d min, same day).",
                                 a, b, c, a, a, date(day0), b, hm(trip.legs[1].cons.arrive_by), nights,
                                 nights > 1 and "s" or "", b, c, date(day0 + nights), hm(trip.legs[2].cons.depart_after),
                                 trip.stays[2].nights, trip.stays[2].nights > 1 and "s" or "", c,
                                 date(day0 + nights + trip.stays[2].nights), hm(trip.legs[3].cons.depart_after), rt, LAYOVER)
      end
      parts[2] = " Find the cheapest option (flights plus hotel nights). Answer with the flight ids in travel order " ..
                 "followed by the hotel id(s), e.g. \"F123, F130, H4\", and the total price."
      -- store the trip spec with day numbers so verify/solve can rebuild it
      local legs = {}
      for k, l in ipairs(trip.legs) do
        legs[k] = {from = l.from, to = l.to, offset = l.offset,
                   arrive_by = l.cons.arrive_by or json.null, depart_after = l.cons.depart_after or json.null,
                   direct = l.cons.direct or false}
      end
      return {prompt = table.concat(parts), state = state,
              answer = {cost = best, ids = ids},
              meta = {day0 = day0, window = trip.window and #trip.window or 1, legs = legs, stays = trip.stays,
                      min_rating = trip.min_rating}}
    end
  end
end

local function trip_of(meta)
  local trip = {min_rating = meta.min_rating, stays = meta.stays, legs = {}}
  for k, l in ipairs(meta.legs) do
    trip.legs[k] = {from = l.from, to = l.to, offset = l.offset,
                    cons = {arrive_by = l.arrive_by ~= json.null and l.arrive_by or nil,
                            depart_after = l.depart_after ~= json.null and l.depart_after or nil,
                            direct = l.direct}}
  end
  if meta.window > 1 then
    trip.window = {}
    for k = 0, meta.window - 1 do trip.window[#trip.window + 1] = meta.day0 + k end
  else trip.day0 = meta.day0 end
  return trip
end

function env.solve(task, call)
  local trip = trip_of(task.meta)
  local cache = {}
  local function get(from, to, day)
    local key = from .. "|" .. tostring(to) .. "|" .. day
    if not cache[key] then
      cache[key] = call("search_flights", {from = from, to = to, date = date(day)}).flights
    end
    return cache[key]
  end
  local hotels = {}
  for _, st in ipairs(trip.stays) do
    for _, h in ipairs(call("search_hotels", {city = st.city, min_rating = trip.min_rating}).hotels) do
      hotels[#hotels + 1] = h
    end
  end
  local best, ids = plan_cost(get, hotels, trip)
  return table.concat(ids, ", ") .. " (total " .. best .. ")"
end

function env.verify(task, answer, state)
  if type(answer) ~= "string" then return 0, {reason = "answer is not text"} end
  local db = task.state
  local fl, ho = {}, {}
  for _, f in ipairs(db.flights) do fl[f.id] = f end
  for _, h in ipairs(db.hotels) do ho[h.id] = h end
  local flights, hotels = {}, {}
  for id in answer:upper():gmatch("%f[%w]([FH]%d+)%f[^%w]") do
    if id:sub(1, 1) == "F" then flights[#flights + 1] = fl[id] or false else hotels[#hotels + 1] = ho[id] or false end
  end
  local m = task.meta
  local total, fi = 0, 1
  local d0
  for li, leg in ipairs(m.legs) do
    local f = flights[fi]
    if not f then return 0, {reason = "missing or unknown flight for leg " .. li} end
    local day = tonumber(f.date:sub(-2))
    if li == 1 then
      d0 = day
      if d0 < m.day0 or d0 > m.day0 + m.window - 1 then return 0, {reason = "departure date outside the window"} end
    end
    if day ~= d0 + leg.offset then return 0, {reason = "leg " .. li .. " on the wrong date"} end
    if f.from ~= leg.from then return 0, {reason = "leg " .. li .. " starts in the wrong city"} end
    if leg.depart_after ~= json.null and mins(f.dep) < leg.depart_after then return 0, {reason = "leaves too early"} end
    total = total + f.price
    fi = fi + 1
    local last = f
    if f.to ~= leg.to then
      local g = flights[fi]
      if not g or g.from ~= f.to or g.to ~= leg.to or g.date ~= f.date or mins(g.dep) < mins(f.arr) + LAYOVER then
        return 0, {reason = "leg " .. li .. " connection invalid"}
      end
      if leg.direct then return 0, {reason = "a direct flight was required"} end
      total = total + g.price
      fi = fi + 1
      last = g
    end
    if leg.arrive_by ~= json.null and mins(last.arr) > leg.arrive_by then return 0, {reason = "arrives too late"} end
  end
  if fi ~= #flights + 1 then return 0, {reason = "extra flights"} end
  if #hotels ~= #m.stays then return 0, {reason = "wrong number of hotels"} end
  for k, st in ipairs(m.stays) do
    local h = hotels[k]
    if not h or h.city ~= st.city or h.rating < m.min_rating then return 0, {reason = "hotel " .. k .. " invalid"} end
    total = total + h.price * st.nights
  end
  if total == task.answer.cost then return 1, {total = total} end
  return 0.3, {reason = "valid but not the cheapest", total = total, best = task.answer.cost}
end

return env
