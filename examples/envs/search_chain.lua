-- search_chain.lua — multi-hop questions over a synthetic world's documents (search category).
--
-- Models: a BrowseComp-like research task. Each task builds its own small world — people,
-- companies, cities and events with attributes and relations (born in, works at, mentor,
-- founder, headquarters, organizer, keynote speaker, host city, mayor) — and renders it
-- into a corpus of encyclopedia-style documents plus news items that mention several
-- entities (noise). The question names one entity and composes 2-4 relations ("the mayor
-- of the city that hosted the event organized by the company that X works for"); it can
-- only be answered by searching and reading one document per hop. Levels: 1 = 2 hops,
-- 2 = 3 hops, 3 = 4 hops (larger corpora at higher levels).
-- Tools: search{query, k?} (ef.search: SQLite FTS5 BM25 over the task's docs; returns ids,
-- titles, snippets) and open{id} (the full document).
-- Verify: the answer is an entity name, compared exactly (ef.verify.exact, case- and
-- whitespace-insensitive); "Answer:" prefixes and a trailing period are tolerated.

local env = {name = "search_chain", version = 1, category = "search", levels = 3,
             description = "Multi-hop questions answered by searching a synthetic document corpus"}

local FIRST = {"Amara", "Bastien", "Corin", "Delphine", "Elio", "Freya", "Gideon", "Halima", "Isidro", "Jovana",
               "Kasimir", "Linnea", "Marek", "Noor", "Orla", "Pavel", "Quilla", "Rafferty", "Saoirse", "Tobiah",
               "Ulla", "Vesna", "Wendell", "Xiomara", "Yusuf", "Zinnia", "Anselm", "Brielle", "Cassius", "Dorit"}
local SYL1 = {"Mar", "Vel", "Tor", "Quen", "Bra", "Lis", "Dor", "Ost", "Kel", "Zan", "Hal", "Rin", "Cor", "Fen",
              "Gal", "Ivo", "Jur", "Nar", "Pel", "Sav", "Tam", "Ulv", "Wex", "Yor"}
local SYL2 = {"amund", "ellis", "orra", "ivant", "uben", "askar", "ethel", "ovic", "anar", "illes", "odra",
              "eswyn", "arrow", "imber", "ondel", "uskin", "aveth", "orvin"}
local CSUF = {"Labs", "Dynamics", "Systems", "Works", "Holdings", "Analytics", "Foundry", "Networks", "Robotics",
              "Biotech"}
local CITYSUF = {"ford", "haven", "port", "mere", "ton", "burg", "field", "stead", "wick", "cliff"}
local EVKIND = {"Summit", "Forum", "Expo", "Symposium", "Festival", "Conference", "Congress"}
local EVTOPIC = {"Quantum", "Harvest", "Aurora", "Meridian", "Tidal", "Cobalt", "Ember", "Horizon", "Lattice",
                 "Verdant", "Solstice", "Nimbus"}
local ROLES = {"engineer", "designer", "analyst", "researcher", "product manager", "economist", "architect", "chemist"}
local COUNTRIES = {"Estoria", "Valdera", "Norvast", "Kalmoria", "Ostrelia", "Brandavia"}

-- World building -------------------------------------------------------------------------
local function uniq_namer(rng)
  local used = {}
  return function(make)
    for _ = 1, 100 do
      local n = make()
      if not used[n] then used[n] = true; return n end
    end
    error("could not find a fresh name")
  end
end

local function build_world(rng, sizes)
  local fresh = uniq_namer(rng)
  local W = {person = {}, company = {}, city = {}, event = {}}
  for _ = 1, sizes.city do
    W.city[#W.city + 1] = {kind = "city", name = fresh(function() return rng:choice(SYL1) .. rng:choice(CITYSUF) end),
                           country = rng:choice(COUNTRIES), population = rng:int(20, 900) * 1000}
  end
  for _ = 1, sizes.person do
    W.person[#W.person + 1] = {kind = "person", name = fresh(function()
      return rng:choice(FIRST) .. " " .. rng:choice(SYL1) .. rng:choice(SYL2) end),
      born = rng:int(1950, 1999), role = rng:choice(ROLES)}
  end
  for _ = 1, sizes.company do
    W.company[#W.company + 1] = {kind = "company", name = fresh(function()
      return rng:choice(SYL1) .. rng:choice(SYL2) .. " " .. rng:choice(CSUF) end), founded = rng:int(1960, 2020)}
  end
  for _ = 1, sizes.event do
    W.event[#W.event + 1] = {kind = "event", name = fresh(function()
      return rng:choice(EVTOPIC) .. " " .. rng:choice(EVKIND) .. " " .. rng:int(2005, 2025) end)}
  end
  for _, p in ipairs(W.person) do
    p.birth_city = rng:choice(W.city); p.employer = rng:choice(W.company)
  end
  for _, p in ipairs(W.person) do
    repeat p.mentor = rng:choice(W.person) until p.mentor ~= p
  end
  for _, c in ipairs(W.company) do c.founder = rng:choice(W.person); c.hq = rng:choice(W.city) end
  for _, c in ipairs(W.city) do c.mayor = rng:choice(W.person) end
  for _, e in ipairs(W.event) do
    e.organizer = rng:choice(W.company); e.keynote = rng:choice(W.person); e.host = rng:choice(W.city)
  end
  return W
end

-- Relations: from kind -> list of {field, target kind, noun phrase template}
local REL = {
  person = {{"birth_city", "city", "the city where %s was born"}, {"employer", "company", "the company %s works for"},
            {"mentor", "person", "the mentor of %s"}},
  company = {{"founder", "person", "the founder of %s"}, {"hq", "city", "the city where %s is headquartered"}},
  city = {{"mayor", "person", "the mayor of %s"}},
  event = {{"organizer", "company", "the company that organized the %s"}, {"keynote", "person", "the keynote speaker of the %s"},
           {"host", "city", "the city that hosted the %s"}},
}

-- Document rendering (two phrasings per fact; the reference agent parses both).
local function render(rng, e)
  local s = {}
  if e.kind == "person" then
    s[#s + 1] = string.format("%s (born %d) is %s %s.", e.name, e.born, e.role:find("^[aeiou]") and "an" or "a", e.role)
    s[#s + 1] = rng:bool() and string.format("%s was born in %s.", e.name, e.birth_city.name)
                           or string.format("Their birthplace is %s.", e.birth_city.name)
    s[#s + 1] = rng:bool() and string.format("%s works at %s.", e.name, e.employer.name)
                           or string.format("Their employer is %s.", e.employer.name)
    s[#s + 1] = rng:bool() and string.format("%s was mentored by %s.", e.name, e.mentor.name)
                           or string.format("Their mentor is %s.", e.mentor.name)
  elseif e.kind == "company" then
    s[#s + 1] = string.format("%s is a company founded in %d.", e.name, e.founded)
    s[#s + 1] = rng:bool() and string.format("It was founded by %s.", e.founder.name)
                           or string.format("Its founder is %s.", e.founder.name)
    s[#s + 1] = rng:bool() and string.format("It is headquartered in %s.", e.hq.name)
                           or string.format("Its headquarters are in %s.", e.hq.name)
  elseif e.kind == "city" then
    s[#s + 1] = string.format("%s is a city in %s with about %d inhabitants.", e.name, e.country, e.population)
    s[#s + 1] = rng:bool() and string.format("Its mayor is %s.", e.mayor.name)
                           or string.format("The city is governed by mayor %s.", e.mayor.name)
  else
    s[#s + 1] = string.format("The %s was an industry gathering.", e.name)
    s[#s + 1] = rng:bool() and string.format("It was organized by %s.", e.organizer.name)
                           or string.format("Its organizer was %s.", e.organizer.name)
    s[#s + 1] = rng:bool() and string.format("The keynote speaker was %s.", e.keynote.name)
                           or string.format("The keynote was given by %s.", e.keynote.name)
    s[#s + 1] = rng:bool() and string.format("It was hosted in %s.", e.host.name)
                           or string.format("The host city was %s.", e.host.name)
  end
  return table.concat(s, " ")
end

-- Patterns the reference agent uses to read one relation out of a document.
local READ = {
  birth_city = {"was born in ([^.]+)%.", "Their birthplace is ([^.]+)%."},
  employer = {"works at ([^.]+)%.", "Their employer is ([^.]+)%."},
  mentor = {"was mentored by ([^.]+)%.", "Their mentor is ([^.]+)%."},
  founder = {"It was founded by ([^.]+)%.", "Its founder is ([^.]+)%."},
  hq = {"It is headquartered in ([^.]+)%.", "Its headquarters are in ([^.]+)%."},
  mayor = {"Its mayor is ([^.]+)%.", "governed by mayor ([^.]+)%."},
  organizer = {"It was organized by ([^.]+)%.", "Its organizer was ([^.]+)%."},
  keynote = {"The keynote speaker was ([^.]+)%.", "The keynote was given by ([^.]+)%."},
  host = {"It was hosted in ([^.]+)%.", "The host city was ([^.]+)%."},
}

local function corpus(rng, W)
  local docs, all = {}, {}
  for _, kind in ipairs({"person", "company", "city", "event"}) do
    for _, e in ipairs(W[kind]) do all[#all + 1] = e end
  end
  local ids = {}
  local base = rng:int(1000, 8000)
  for i = 1, #all + #all // 3 do ids[i] = base + i * 7 end
  rng:shuffle(ids)
  for i, e in ipairs(all) do docs[#docs + 1] = {id = "doc" .. ids[i], title = e.name, text = render(rng, e)} end
  -- news items: several entities mentioned together, no relation stated
  for i = #all + 1, #all + #all // 3 do
    local a, b, c = rng:choice(W.person), rng:choice(W.company), rng:choice(W.city)
    local t = rng:choice({"%s visited %s on behalf of %s.", "%s spoke about %s at a meeting in %s."})
    local text
    if t:find("visited") then text = string.format(t, a.name, c.name, b.name) else text = string.format(t, a.name, b.name, c.name) end
    docs[#docs + 1] = {id = "doc" .. ids[i], title = "News: " .. rng:choice({"Briefing", "Roundup", "Update", "Notes"}) .. " " .. i,
                       text = text}
  end
  rng:shuffle(docs)
  return docs
end

env.tools = {
  search = {
    description = "Full-text search (BM25) over the document collection. Returns ids, titles and snippets.",
    parameters = {type = "object", properties = {query = {type = "string"},
                  k = {type = "integer", minimum = 1, maximum = 20, description = "number of hits (default 5)"}},
                  required = {"query"}},
    run = function(state, args)
      local hits = ef.search(state.docs, args.query, args.k or 5)
      local out = json.array({})
      for i, h in ipairs(hits) do out[i] = {id = h.id, title = h.title, snippet = h.snippet} end
      return {hits = out}
    end,
  },
  open = {
    description = "Open a document by id and read its full text.",
    parameters = {type = "object", properties = {id = {type = "string"}}, required = {"id"}},
    run = function(state, args)
      for _, d in ipairs(state.docs) do if d.id == args.id then return d end end
      error("no document " .. args.id)
    end,
  },
}

local SIZES = {{person = 14, company = 7, city = 6, event = 5},
               {person = 22, company = 10, city = 8, event = 7},
               {person = 30, company = 14, city = 10, event = 9}}

function env.generate(rng, level)
  local hops = level + 1
  while true do
    local W = build_world(rng, SIZES[level])
    local start = rng:choice(rng:choice({W.person, W.company, W.event, W.city}))
    local chain, e, visited, ok = {}, start, {[start] = true}, true
    for _ = 1, hops do
      local r = rng:choice(REL[e.kind])
      local nxt = e[r[1]]
      if visited[nxt] then ok = false; break end
      visited[nxt] = true
      chain[#chain + 1] = {field = r[1], phrase = r[3]}
      e = nxt
    end
    if ok then
      local np = start.name
      for _, c in ipairs(chain) do np = string.format(c.phrase, np) end
      local q = "What is the name of " .. np .. "?"
      local fields = json.array({})
      for i, c in ipairs(chain) do fields[i] = c.field end
      return {prompt = q .. " Use the search tool over the document collection; answer with the name only.",
              state = {docs = corpus(rng, W)}, answer = e.name,
              meta = {start = start.name, fields = fields, hops = hops}}
    end
  end
end

-- Reference agent: search the current entity's name, open its own article, read the
-- relation, repeat.
function env.solve(task, call)
  local name = task.meta.start
  for _, field in ipairs(task.meta.fields) do
    local hits = call("search", {query = name, k = 10}).hits
    local id
    for _, h in ipairs(hits) do if h.title == name then id = h.id; break end end
    if not id then error("article not found for " .. name) end
    local doc = call("open", {id = id})
    local nxt
    for _, pat in ipairs(READ[field]) do nxt = nxt or doc.text:match(pat) end
    if not nxt then error("could not read " .. field .. " from " .. id) end
    name = nxt
  end
  return name
end

function env.verify(task, answer)
  if type(answer) ~= "string" then return 0 end
  local a = answer:gsub("^%s*[Aa]nswer%s*:%s*", ""):gsub("%.%s*$", "")
  return ef.verify.exact(a, task.answer, {case = false, ws = true})
end

return env
