-- courses.lua — degree planning: schedule a set of courses into the fewest semesters
-- (interpreter category: precedence-constrained scheduling, which needs a search).
--
-- Models: a student who must take every course of a program. Courses have
-- prerequisites (a DAG), and from level 2 on a semester has a capacity; from level 3 on
-- some courses run only in the fall or only in the spring (semester 1 is a fall one);
-- at level 4 courses carry 1-5 credits and the cap is on credits. A prerequisite must be
-- passed in an earlier semester. The plan must use the fewest semesters possible — with
-- caps this is NP-hard in general (P|prec|Cmax), and greedy "take what is available"
-- plans are often one semester too long. Levels:
--   1 = 6-7 courses, no cap (the answer's length is the longest prerequisite chain);
--   2 = 8 courses, at most 2 per semester;
--   3 = 10 courses, at most 3 per semester, fall/spring offerings;
--   4 = 11-12 courses with credits, at most 7-9 credits per semester, fall/spring.
-- Levels 2-4 keep only tasks where taking available courses greedily gives a longer plan;
-- levels 3-4 also where the critical-path rule (longest dependent chain first) does.
-- Tools: list_courses{}, course_info{code}, check_plan{semesters} (feasibility only: it
-- does not say whether a plan is shortest).
-- Verify: the answer (lines "Semester N: CODE, CODE" or a JSON list of lists) must take
-- every course exactly once, respect prerequisites, offerings and caps, and use exactly
-- the optimum number of semesters, which generate computes by a breadth-first search
-- over sets of passed courses. Any plan of that length scores 1.

local env = {name = "courses", version = 1, category = "interpreter", levels = 4,
             description = "Plan a degree's courses into the fewest semesters under prerequisites, offerings and caps"}

local DEPTS = {"ALG", "BIO", "CHM", "CS", "DATA", "ECON", "GEO", "HIST", "LING", "MATH", "PHIL", "PHYS", "STAT"}
local TOPICS = {"Foundations", "Methods", "Theory", "Lab", "Seminar", "Analysis", "Systems", "Modelling",
                "Structures", "Computation", "Design", "Ethics", "Statistics", "Networks", "Optimization"}

local function term_of(sem) return sem % 2 == 1 and "fall" or "spring" end

-- ---- the plan checker, shared by check_plan and verify -------------------------------------

-- courses: code -> {credits, prereqs = {codes}, offered = "fall"|"spring"|"both"}
-- plan: list of lists of codes. Returns a list of problems (empty when feasible).
local function problems(courses, rules, plan)
  local out = {}
  local when = {}
  for s, sem in ipairs(plan) do
    local load, credits = 0, 0
    for _, c in ipairs(sem) do
      local info = courses[c]
      if not info then
        out[#out + 1] = "semester " .. s .. ": unknown course " .. (type(c) == "string" and c or "(a " .. type(c) .. ")")
      elseif when[c] then
        out[#out + 1] = c .. " is planned twice (semesters " .. when[c] .. " and " .. s .. ")"
      else
        when[c] = s
        load = load + 1
        credits = credits + info.credits
        if info.offered ~= "both" and info.offered ~= term_of(s) then
          out[#out + 1] = c .. " runs only in the " .. info.offered .. " but semester " .. s .. " is a " .. term_of(s) .. " one"
        end
      end
    end
    if rules.max_courses and load > rules.max_courses then
      out[#out + 1] = "semester " .. s .. " has " .. load .. " courses (at most " .. rules.max_courses .. ")"
    end
    if rules.max_credits and credits > rules.max_credits then
      out[#out + 1] = "semester " .. s .. " has " .. credits .. " credits (at most " .. rules.max_credits .. ")"
    end
  end
  for _, code in ipairs(rules.codes) do
    local s = when[code]
    if not s then
      out[#out + 1] = code .. " is missing"
    else
      for _, p in ipairs(courses[code].prereqs) do
        if when[p] and when[p] >= s then
          out[#out + 1] = code .. " (semester " .. s .. ") needs " .. p .. " in an earlier semester"
        end
      end
    end
  end
  return out
end

local function course_table(state)
  local t = {}
  for _, c in ipairs(state.courses) do t[c.code] = c end
  return t
end

env.tools = {
  list_courses = {
    description = "The program's courses (code and title) and the rules for a semester",
    parameters = {type = "object", properties = {}},
    run = function(state, args)
      local list = json.array()
      for _, c in ipairs(state.courses) do list[#list + 1] = {code = c.code, title = c.title} end
      return {courses = list, rules = state.rules_text}
    end,
  },
  course_info = {
    description = "Credits, prerequisites and the terms a course is offered in",
    parameters = {type = "object", properties = {code = {type = "string"}}, required = {"code"}},
    run = function(state, args)
      local c = course_table(state)[args.code:upper()]
      if not c then error("no course " .. args.code) end
      return {code = c.code, title = c.title, credits = c.credits, prerequisites = c.prereqs, offered = c.offered}
    end,
  },
  check_plan = {
    description = "Checks a plan (a list of semesters, each a list of course codes) for feasibility only; it does not say whether the plan is the shortest",
    parameters = {type = "object",
                  properties = {semesters = {type = "array", items = {type = "array", items = {type = "string"}}}},
                  required = {"semesters"}},
    run = function(state, args)
      local p = problems(course_table(state), state.rules, args.semesters)
      return {feasible = #p == 0, problems = json.array(p), semesters = #args.semesters}
    end,
  },
}

-- ---- the optimum: breadth-first over sets of passed courses --------------------------------

-- Taking more courses in a semester never hurts (a plan from a smaller set, minus what is
-- already passed, still works from a larger one), so only maximal choices are expanded; a
-- semester with nothing available (a fall-only course in a spring) is an empty one. A
-- state is the set of passed courses and the parity of the semester it ends.
-- Returns the optimal number of semesters and one optimal plan (lists of indices).
local function optimum(n, pre, credits, offered, max_courses, max_credits)
  local full = (1 << n) - 1
  local parent = {[0] = -1}          -- key (S << 1 | parity) -> the previous key
  local order = {0}
  local sem = 0
  while sem < 4 * n do
    sem = sem + 1
    local term = sem % 2 == 1 and 1 or 2 -- 1 fall, 2 spring
    local par = sem % 2
    local next_order = {}
    for _, K in ipairs(order) do
      local S = K >> 1
      local avail = {}
      for i = 1, n do
        local bit = 1 << (i - 1)
        if S & bit == 0 and pre[i] & S == pre[i] and (offered[i] == 0 or offered[i] == term) then
          avail[#avail + 1] = i
        end
      end
      local na = #avail
      -- every subset of avail that fits and is maximal (no further available course fits)
      for m = (na == 0 and 0 or 1), (1 << na) - 1 do
        local cnt, cr, T = 0, 0, 0
        for j = 1, na do
          if m & (1 << (j - 1)) ~= 0 then
            cnt = cnt + 1
            cr = cr + credits[avail[j]]
            T = T | (1 << (avail[j] - 1))
          end
        end
        if cnt <= max_courses and cr <= max_credits then
          local maximal = true
          for j = 1, na do
            if m & (1 << (j - 1)) == 0 and cnt + 1 <= max_courses and cr + credits[avail[j]] <= max_credits then
              maximal = false
              break
            end
          end
          local U = S | T
          local UK = U << 1 | par
          if maximal and not parent[UK] then
            parent[UK] = K
            next_order[#next_order + 1] = UK
            if U == full then
              local plan, cur = {}, UK
              while cur ~= 0 do
                local prev = parent[cur]
                local d = {}
                local diff = (cur >> 1) & ~(prev >> 1)
                for i = 1, n do if diff & (1 << (i - 1)) ~= 0 then d[#d + 1] = i end end
                table.insert(plan, 1, d)
                cur = prev
              end
              return sem, plan
            end
          end
        end
      end
    end
    if #next_order == 0 then return nil end
    order = next_order
  end
  return nil
end

-- The length of a greedy plan: each semester takes available courses in the given
-- priority order while they fit. Tasks that a greedy plan solves are thinned out below.
local function greedy(n, pre, credits, offered, max_courses, max_credits, order)
  local S, sem = 0, 0
  local full = (1 << n) - 1
  while S ~= full and sem < 3 * n do
    sem = sem + 1
    local term = sem % 2 == 1 and 1 or 2
    local cnt, cr, T = 0, 0, 0
    for _, i in ipairs(order) do
      local bit = 1 << (i - 1)
      if S & bit == 0 and pre[i] & S == pre[i] and (offered[i] == 0 or offered[i] == term) and
         cnt + 1 <= max_courses and cr + credits[i] <= max_credits then
        cnt, cr, T = cnt + 1, cr + credits[i], T | bit
      end
    end
    S = S | T
  end
  return sem
end

-- Critical-path priority (Hu's rule, which is optimal for some special cases): the longest
-- chain of courses that depend on a course first, ties by code.
local function critical_order(n, pre, codes)
  local height = {}
  for i = n, 1, -1 do -- prerequisites have smaller indices
    local h = 1
    for j = i + 1, n do
      if pre[j] & (1 << (i - 1)) ~= 0 and height[j] + 1 > h then h = height[j] + 1 end
    end
    height[i] = h
  end
  local order = {}
  for i = 1, n do order[i] = i end
  table.sort(order, function(a, b)
    if height[a] ~= height[b] then return height[a] > height[b] end
    return codes[a] < codes[b]
  end)
  return order
end

local LEVELS = {
  {n = {6, 7}, cap = nil, terms = false, credits = false},
  {n = {8, 8}, cap = 2, terms = false, credits = false},
  {n = {10, 10}, cap = 3, terms = true, credits = false},
  {n = {11, 12}, cap = nil, terms = true, credits = true},
}

function env.generate(rng, level)
  local L = LEVELS[level]
  for _ = 1, 3000 do
    local n = rng:int(L.n[1], L.n[2])
    local depts = rng:sample(DEPTS, 4)
    local codes, used = {}, {}
    while #codes < n do
      local c = rng:choice(depts) .. rng:int(1, 4) .. rng:int(0, 9) .. rng:int(0, 9)
      if not used[c] then used[c] = true; codes[#codes + 1] = c end
    end
    -- course i may require courses before it in a random topological order
    local pre, credits, offered = {}, {}, {}
    local prelist = {}
    for i = 1, n do
      pre[i], prelist[i] = 0, {}
      local k = i == 1 and 0 or rng:int(0, math.min(i - 1, level == 1 and 2 or 3))
      if k > 0 then
        local cands = {}
        for j = 1, i - 1 do cands[j] = j end
        for _, j in ipairs(rng:sample(cands, k)) do pre[i] = pre[i] | (1 << (j - 1)) end
      end
      credits[i] = L.credits and rng:int(1, 5) or 3
      offered[i] = (L.terms and rng:int(1, 10) <= 4) and rng:int(1, 2) or 0
    end
    local max_courses = L.cap or n
    local max_credits = L.credits and rng:int(7, 9) or 1000
    local best, plan = optimum(n, pre, credits, offered, max_courses, max_credits)
    local ident = {}
    for i = 1, n do ident[i] = i end
    local g = best and greedy(n, pre, credits, offered, max_courses, max_credits, ident)
    -- levels 2-4 keep only tasks where taking what is available is too long; levels 3-4
    -- also where the critical-path rule is (a search is needed)
    local hard = level == 1 or (g > best and (level == 2 or
                 greedy(n, pre, credits, offered, max_courses, max_credits, critical_order(n, pre, codes)) > best))
    if best and hard then
      -- shuffle the course order shown so the list does not leak the topological order
      local perm = {}
      for i = 1, n do perm[i] = i end
      rng:shuffle(perm)
      local courses = json.array()
      for _, i in ipairs(perm) do
        local pl = json.array()
        for j = 1, n do if pre[i] & (1 << (j - 1)) ~= 0 then pl[#pl + 1] = codes[j] end end
        table.sort(pl)
        courses[#courses + 1] = {code = codes[i], title = rng:choice(TOPICS) .. " " .. rng:int(1, 3),
                                 credits = credits[i], prereqs = pl,
                                 offered = offered[i] == 1 and "fall" or offered[i] == 2 and "spring" or "both"}
      end
      local rules_text = "A prerequisite must be passed in an earlier semester. Semester 1 is a fall semester; fall and spring alternate."
      if L.cap then rules_text = rules_text .. " At most " .. L.cap .. " courses per semester." end
      if L.credits then rules_text = rules_text .. " At most " .. max_credits .. " credits per semester." end
      local sorted = {}
      for i = 1, n do sorted[i] = codes[i] end
      table.sort(sorted)
      local rules = {codes = sorted, max_courses = L.cap, max_credits = L.credits and max_credits or nil}
      local ref = {}
      for s, d in ipairs(plan) do
        local names = {}
        for k, i in ipairs(d) do names[k] = codes[i] end
        table.sort(names)
        ref[s] = "Semester " .. s .. ": " .. table.concat(names, ", ")
      end
      local prompt = "Plan these " .. n .. " courses into as few semesters as possible: " ..
                     table.concat(sorted, ", ") .. ". " .. rules_text ..
                     " Use the tools to read each course's prerequisites" ..
                     (L.terms and ", offerings" or "") .. (L.credits and " and credits" or "") ..
                     ". Answer with one line per semester, like\nSemester 1: XXX100, YYY200\nSemester 2: ZZZ300"
      return {prompt = prompt,
              state = {courses = courses, rules = rules, rules_text = rules_text},
              answer = table.concat(ref, "\n"),
              meta = {optimum = best, greedy = g, level = level}}
    end
  end
  error("no task found in 3000 draws")
end

-- ---- the reference agent: reads the catalogue through the tools, then searches ------------

function env.solve(task, call)
  local list = call("list_courses", {})
  local codes, idx = {}, {}
  for i, c in ipairs(list.courses) do codes[i] = c.code; idx[c.code] = i end
  local n = #codes
  local pre, credits, offered = {}, {}, {}
  for i, code in ipairs(codes) do
    local info = call("course_info", {code = code})
    pre[i] = 0
    for _, p in ipairs(info.prerequisites) do pre[i] = pre[i] | (1 << (idx[p] - 1)) end
    credits[i] = info.credits
    offered[i] = info.offered == "fall" and 1 or info.offered == "spring" and 2 or 0
  end
  local max_courses = tonumber(list.rules:match("At most (%d+) courses")) or n
  local max_credits = tonumber(list.rules:match("At most (%d+) credits")) or 1000
  local _, plan = optimum(n, pre, credits, offered, max_courses, max_credits)
  local sems, lines = json.array(), {}
  for s, d in ipairs(plan) do
    local names = json.array()
    for k, i in ipairs(d) do names[k] = codes[i] end
    table.sort(names)
    sems[s] = names
    lines[s] = "Semester " .. s .. ": " .. table.concat(names, ", ")
  end
  call("check_plan", {semesters = sems})
  return table.concat(lines, "\n")
end

-- ---- verify ------------------------------------------------------------------------------

-- The plan in an answer: a JSON list of lists (a ```json fence is fine), or lines
-- "Semester N: A, B" (any case, bullets, bold marks and a note such as "(fall)" before
-- the colon allowed). nil when neither.
local function parse_plan(answer)
  if type(answer) == "table" then return answer end
  if type(answer) ~= "string" then return nil end
  local body = answer:match("```%w*%s*(.-)```") or answer
  if body:match("^%s*%[") then
    local ok, v = pcall(json.decode, body)
    if ok and type(v) == "table" then return v end
  end
  local plan, seen = {}, 0
  for line in answer:gmatch("[^\n]+") do
    -- "Semester 2: A, B", "**Semester 2 (spring):** A, B", "semester 2 - A, B"
    local num, rest = line:lower():match("semester%s*(%d+)[^:%-]*[:%-]%s*(.*)$")
    if num then
      num = tonumber(num)
      if num ~= seen + 1 then return nil end
      seen = num
      local sem = {}
      for code in line:sub(#line - #rest + 1):gmatch("[%a]+%d+") do sem[#sem + 1] = code:upper() end
      plan[num] = sem
    end
  end
  if seen == 0 then return nil end
  return plan
end

function env.verify(task, answer, state)
  local plan = parse_plan(answer)
  if not plan then return 0, {reason = "no plan found in the answer"} end
  for _, sem in ipairs(plan) do
    if type(sem) ~= "table" then return 0, {reason = "a semester is not a list"} end
  end
  -- the rules come from the task (the state may have been anything by now)
  local p = problems(course_table(task.state), task.state.rules, plan)
  if #p > 0 then return 0, {reason = p[1], problems = #p} end
  if #plan ~= task.meta.optimum then
    return 0, {reason = "feasible but " .. #plan .. " semesters; " .. task.meta.optimum .. " are enough"}
  end
  return 1
end

return env
