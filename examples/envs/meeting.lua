-- meeting.lua — meeting scheduling under constraints (general category).
--
-- Models: an assistant booking a meeting into a shared calendar system. People have
-- working hours, busy blocks and (at level 4) time zones; rooms have capacities and
-- their own bookings. The meeting must go into the EARLIEST slot (15-minute grid) that
-- satisfies every constraint. Levels:
--   1 = 2 people, one day;
--   2 = 3-4 people, 3 days, plus a "not before / must end by" constraint;
--   3 = 4-5 people with different working hours, 5 days, and a room of sufficient capacity;
--   4 = 5-6 people across time zones (calendars in local time), 5 days, room, a
--       no-meetings-over-lunch rule for the organizer.
-- Tools: list_people{}, get_calendar{person, day?}, list_rooms{min_capacity?},
-- room_schedule{room, day?}, book_meeting{title, attendees, day, start, end, room?}.
-- Verify: final state — exactly one new booking, with the required attendees, the right
-- duration, a valid room when needed, at the earliest feasible slot — and the answer
-- must state the booked start time (HH:MM). Anything else scores 0.

local env = {name = "meeting", version = 1, category = "general", levels = 4,
             description = "Book the earliest meeting slot that fits everyone's calendar"}

local DAYS = {"Mon", "Tue", "Wed", "Thu", "Fri"}
local NAMES = {"Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jia", "Kofi",
               "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor"}
local ROOMS = {"Atlas", "Birch", "Cobalt", "Delta", "Ember", "Fjord", "Granite"}

local function hm(m) return string.format("%02d:%02d", m // 60, m % 60) end
local function mins(s)
  local h, m = tostring(s):match("^%s*(%d%d?):(%d%d)%s*$")
  if not h then error("time must be HH:MM, got " .. tostring(s)) end
  return tonumber(h) * 60 + tonumber(m)
end
local function day_index(d)
  for i, n in ipairs(DAYS) do if n:lower() == tostring(d):sub(1, 3):lower() then return i end end
  error("unknown day " .. tostring(d) .. " (use Mon..Fri)")
end

-- Is [s, e) on day d free for every attendee (organizer time) and the room?
-- people: name -> {tz, work = {from, to} local, busy = {{day, from, to} local}}
local function free(people, attendees, room, d, s, e, cons)
  if cons.not_before and s < cons.not_before then return false end
  if cons.end_by and e > cons.end_by then return false end
  if cons.lunch and s < 13 * 60 and e > 12 * 60 then return false end
  for _, name in ipairs(attendees) do
    local p = people[name]
    local ls, le = s + p.tz * 60, e + p.tz * 60
    if ls < p.work[1] or le > p.work[2] then return false end
    for _, b in ipairs(p.busy) do
      if b[1] == d and ls < b[3] and b[2] < le then return false end
    end
  end
  if room then
    for _, b in ipairs(room.busy) do
      if b[1] == d and s < b[3] and b[2] < e then return false end
    end
  end
  return true
end

local function earliest(people, attendees, rooms, ndays, dur, cons)
  for d = 1, ndays do
    for s = 6 * 60, 21 * 60 - dur, 15 do
      if not rooms then
        if free(people, attendees, nil, d, s, s + dur, cons) then return d, s end
      elseif free(people, attendees, nil, d, s, s + dur, cons) then
        for _, r in ipairs(rooms) do
          if free(people, {}, r, d, s, s + dur, cons) then return d, s, r.name end
        end
      end
    end
  end
end

env.tools = {
  list_people = {
    description = "Everyone in the calendar system.",
    parameters = {type = "object", properties = {}},
    run = function(state)
      local out = json.array({})
      for _, p in ipairs(state.people) do out[#out + 1] = p.name end
      return {people = out}
    end,
  },
  get_calendar = {
    description = "A person's time zone (hours relative to the organizer), working hours and busy blocks, " ..
                  "in their LOCAL time. Optionally only one day (Mon..Fri).",
    parameters = {type = "object", properties = {person = {type = "string"}, day = {type = "string"}},
                  required = {"person"}},
    run = function(state, args)
      for _, p in ipairs(state.people) do
        if p.name:lower() == args.person:lower() then
          local busy = json.array({})
          local only = args.day and day_index(args.day)
          for _, b in ipairs(p.busy) do
            if not only or b.day == DAYS[only] then busy[#busy + 1] = b end
          end
          return {person = p.name, utc_offset_vs_organizer = p.tz, working_hours = p.work, busy = busy}
        end
      end
      error("no such person: " .. args.person)
    end,
  },
  list_rooms = {
    description = "Meeting rooms with their capacity.",
    parameters = {type = "object", properties = {min_capacity = {type = "integer", minimum = 0}}},
    run = function(state, args)
      local out = json.array({})
      for _, r in ipairs(state.rooms) do
        if r.capacity >= (args.min_capacity or 0) then out[#out + 1] = {name = r.name, capacity = r.capacity} end
      end
      return {rooms = out}
    end,
  },
  room_schedule = {
    description = "A room's bookings (organizer time), optionally for one day.",
    parameters = {type = "object", properties = {room = {type = "string"}, day = {type = "string"}},
                  required = {"room"}},
    run = function(state, args)
      for _, r in ipairs(state.rooms) do
        if r.name:lower() == args.room:lower() then
          local busy = json.array({})
          local only = args.day and day_index(args.day)
          for _, b in ipairs(r.busy) do
            if not only or b.day == DAYS[only] then busy[#busy + 1] = b end
          end
          return {room = r.name, capacity = r.capacity, bookings = busy}
        end
      end
      error("no such room: " .. args.room)
    end,
  },
  book_meeting = {
    description = "Book a meeting (times in the organizer's time zone, HH:MM, day Mon..Fri).",
    parameters = {type = "object", properties = {
                    title = {type = "string"}, attendees = {type = "array", items = {type = "string"}},
                    day = {type = "string"}, start = {type = "string"}, ["end"] = {type = "string"},
                    room = {type = "string"}},
                  required = {"title", "attendees", "day", "start", "end"}},
    run = function(state, args)
      local d = day_index(args.day)
      local s, e = mins(args.start), mins(args["end"])
      if e <= s then error("end must be after start") end
      local att = json.array({})
      for _, a in ipairs(args.attendees) do att[#att + 1] = a end
      table.sort(att)
      local b = {title = args.title, attendees = att, day = DAYS[d], start = hm(s), ["end"] = hm(e),
                 room = args.room or json.null}
      state.bookings[#state.bookings + 1] = b
      return {booked = true, booking = b}
    end,
  },
}

function env.generate(rng, level)
  local np = ({{2, 2}, {3, 4}, {4, 5}, {5, 6}})[level]
  local ndays = ({1, 3, 5, 5})[level]
  while true do
    local names = rng:sample(NAMES, rng:int(np[1], np[2]) + rng:int(1, 3))  -- extra people not invited
    local n = #names
    local people, plist = {}, json.array({})
    for i, name in ipairs(names) do
      local tz = level == 4 and rng:int(-3, 3) or 0
      if i == 1 then tz = 0 end
      local ws = level >= 3 and rng:choice({8 * 60, 9 * 60, 9 * 60, 10 * 60}) or 9 * 60
      local work = {ws, ws + 8 * 60}
      local busy, bl = {}, json.array({})
      for d = 1, ndays do
        for _ = 1, rng:int(1, 4) do
          local s = rng:int(work[1] // 30, (work[2] - 30) // 30) * 30
          local e = math.min(work[2], s + rng:int(1, 4) * 30)
          busy[#busy + 1] = {d, s, e}
          bl[#bl + 1] = {day = DAYS[d], start = hm(s), ["end"] = hm(e), title = rng:choice({"Focus", "1:1", "Review", "Call", "Standup", "Interview", "Planning"})}
        end
      end
      people[name] = {tz = tz, work = work, busy = busy}
      plist[i] = {name = name, tz = tz, work = {from = hm(work[1]), to = hm(work[2])}, busy = bl}
    end
    local k = rng:int(np[1], np[2])
    local attendees = {}
    for i = 1, k do attendees[i] = names[i] end
    local dur = rng:choice({30, 45, 60, 90})
    local cons = {}
    if level == 2 then
      if rng:bool() then cons.not_before = rng:int(10, 13) * 60 else cons.end_by = rng:int(14, 16) * 60 end
    elseif level == 4 then cons.lunch = true end
    local rooms, rlist
    if level >= 3 then
      rooms, rlist = {}, json.array({})
      for _, rn in ipairs(rng:sample(ROOMS, 4)) do
        local cap = rng:int(2, 8)
        local rb, rbl = {}, json.array({})
        for d = 1, ndays do
          for _ = 1, rng:int(0, 4) do
            local s = rng:int(16, 36) * 30
            local e = s + rng:int(1, 4) * 30
            rb[#rb + 1] = {d, s, e}
            rbl[#rbl + 1] = {day = DAYS[d], start = hm(s), ["end"] = hm(e)}
          end
        end
        rlist[#rlist + 1] = {name = rn, capacity = cap, busy = rbl}
        if cap >= k then rooms[#rooms + 1] = {name = rn, busy = rb} end
      end
      table.sort(rooms, function(x, y) return x.name < y.name end)
    end
    local d, s, room = earliest(people, attendees, rooms, ndays, dur, cons)
    if d then
      local title = rng:choice({"Design review", "Budget sync", "Project kickoff", "Retrospective", "Customer prep"})
      local others = {}
      for i = 2, k do others[#others + 1] = attendees[i] end
      local lines = {string.format("I am %s. Book a %d-minute \"%s\" with %s", attendees[1], dur, title,
                                   table.concat(others, ", "))}
      lines[#lines + 1] = ndays == 1 and " on Monday." or string.format(" this week (Mon to %s).", DAYS[ndays])
      lines[#lines + 1] = " Use the earliest slot (on a 15-minute grid, in my time zone) where every attendee is " ..
                          "within working hours and not busy."
      if cons.not_before then lines[#lines + 1] = " It must not start before " .. hm(cons.not_before) .. "." end
      if cons.end_by then lines[#lines + 1] = " It must end by " .. hm(cons.end_by) .. "." end
      if rooms then lines[#lines + 1] = " Book a room that holds everyone and is free then (if several are, the " ..
                                        "alphabetically first)." end
      if cons.lunch then lines[#lines + 1] = " Attendees' calendars are in their local time zones. No meetings " ..
                                             "overlapping my lunch, 12:00-13:00." end
      lines[#lines + 1] = " Then tell me the day and start time."
      local state = {people = plist, rooms = rlist or json.array({}), bookings = json.array({})}
      table.sort(attendees)
      return {prompt = table.concat(lines), state = state,
              answer = {day = DAYS[d], start = hm(s), ["end"] = hm(s + dur), room = room or json.null},
              meta = {title = title, attendees = attendees, duration = dur, ndays = ndays,
                      not_before = cons.not_before or json.null, end_by = cons.end_by or json.null,
                      lunch = cons.lunch or false, need_room = rooms ~= nil}}
    end
  end
end

function env.solve(task, call)
  local m = task.meta
  local people = {}
  for _, name in ipairs(m.attendees) do
    local c = call("get_calendar", {person = name})
    local busy = {}
    for _, b in ipairs(c.busy) do busy[#busy + 1] = {day_index(b.day), mins(b.start), mins(b["end"])} end
    people[name] = {tz = c.utc_offset_vs_organizer, work = {mins(c.working_hours.from), mins(c.working_hours.to)},
                    busy = busy}
  end
  local rooms
  if m.need_room then
    rooms = {}
    for _, r in ipairs(call("list_rooms", {min_capacity = #m.attendees}).rooms) do
      local sch = call("room_schedule", {room = r.name})
      local busy = {}
      for _, b in ipairs(sch.bookings) do busy[#busy + 1] = {day_index(b.day), mins(b.start), mins(b["end"])} end
      rooms[#rooms + 1] = {name = r.name, busy = busy}
    end
    table.sort(rooms, function(x, y) return x.name < y.name end)
  end
  local cons = {not_before = m.not_before ~= json.null and m.not_before or nil,
                end_by = m.end_by ~= json.null and m.end_by or nil, lunch = m.lunch}
  local d, s, room = earliest(people, m.attendees, rooms, m.ndays, m.duration, cons)
  call("book_meeting", {title = m.title, attendees = m.attendees, day = DAYS[d], start = hm(s),
                        ["end"] = hm(s + m.duration), room = room})
  return string.format("Booked \"%s\" on %s at %s-%s%s.", m.title, DAYS[d], hm(s), hm(s + m.duration),
                       room and (" in " .. room) or "")
end

function env.verify(task, answer, state)
  local b = state and state.bookings
  if not b or #b ~= 1 then return 0, {reason = "expected exactly one booking, found " .. (b and #b or 0)} end
  b = b[1]
  local want = task.answer
  local att = {}
  for _, a in ipairs(b.attendees) do att[#att + 1] = a:lower() end
  table.sort(att)
  local need = {}
  for _, a in ipairs(task.meta.attendees) do need[#need + 1] = a:lower() end
  table.sort(need)
  if table.concat(att, ",") ~= table.concat(need, ",") then return 0, {reason = "wrong attendees"} end
  if b.day ~= want.day or b.start ~= want.start or b["end"] ~= want["end"] then
    return 0, {reason = "not the earliest feasible slot", booked = b.day .. " " .. b.start, want = want.day .. " " .. want.start}
  end
  if want.room ~= json.null then
    -- any free room of sufficient capacity is acceptable, not only the alphabetically first
    local ok = false
    for _, r in ipairs(task.state.rooms) do
      if b.room ~= json.null and r.name:lower() == tostring(b.room):lower() and r.capacity >= #need then
        ok = true
        for _, rb in ipairs(r.busy) do
          if rb.day == b.day and mins(b.start) < mins(rb["end"]) and mins(rb.start) < mins(b["end"]) then ok = false end
        end
      end
    end
    if not ok then return 0, {reason = "room missing, too small or busy"} end
  end
  local st = want.start:gsub("^0", "")
  if type(answer) ~= "string" or not (answer:find(want.start, 1, true) or answer:find("%f[%d]" .. st)) then
    return 0, {reason = "the answer does not state the start time"}
  end
  return 1
end

return env
