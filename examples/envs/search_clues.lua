-- search_clues.lua — identify a film from intersecting clues by searching (search category).
--
-- Models: a BrowseComp-style "find the one item matching all these clues" question over a
-- synthetic film world (films, directors, studios, festivals, cities, countries) rendered
-- into encyclopedia documents. The answer is unique by construction: generate checks that
-- exactly one film satisfies every clue. Levels:
--   1 = a named studio or festival + one film attribute (genre or release window);
--   2 = a named studio or festival + an attribute + a clue about the director (country of
--       birth or film school), which needs a second document per candidate;
--   3 = a studio identified only by its city + an attribute + both director clues.
-- Tools: search{query, k?} (ef.search, FTS5 BM25 over the task's docs), open{id}.
-- Verify: the film title, compared exactly (ef.verify.exact; case/whitespace-insensitive,
-- quotes and a trailing period tolerated).

local env = {name = "search_clues", version = 1, category = "search", levels = 3,
             description = "Find the single film that matches several clues by searching documents"}

local ADJ = {"Silent", "Crimson", "Hollow", "Distant", "Golden", "Broken", "Quiet", "Burning", "Northern", "Endless",
             "Paper", "Glass", "Wild", "Last", "Hidden", "Velvet", "Iron", "Pale", "Lonely", "Electric"}
local NOUN = {"Harbor", "Orchard", "Signal", "Garden", "Winter", "River", "Machine", "Lantern", "Meadow", "Tide",
              "Mirror", "Frontier", "Kingdom", "Station", "Season", "Bridge", "Letter", "Compass", "Empire", "Voyage"}
local GENRES = {"drama", "comedy", "thriller", "documentary", "animation", "science fiction", "western", "musical"}
local FIRST = {"Ines", "Tomasz", "Akira", "Beatriz", "Callum", "Dagny", "Emil", "Folake", "Gunnar", "Hiroko", "Ilse",
               "Jasper", "Katya", "Lorenzo", "Mirela", "Nils", "Odile", "Paulo", "Rhea", "Stellan"}
local LAST = {"Aalto", "Brandt", "Castellan", "Drozd", "Egede", "Falk", "Granger", "Havel", "Iversen", "Jovic",
              "Kovalenko", "Lindqvist", "Moreau", "Nakagawa", "Oyelaran", "Petrakis", "Quintero", "Rasmussen", "Sorensen", "Toivonen"}
local COUNTRIES = {"Estoria", "Valdera", "Norvast", "Kalmoria", "Ostrelia", "Brandavia"}
local SCHOOLS = {"Valdera Film Academy", "Northgate School of Cinema", "Kalmor Institute of Arts", "Ostrel Screen College",
                 "Brandav Conservatory"}
local STUDIOS = {"Pictures", "Films", "Studios", "Productions", "Entertainment"}
local STEM = {"Lumen", "Arcadia", "Northlight", "Paragon", "Sable", "Tessera", "Halcyon", "Meridian", "Juniper", "Orbit",
              "Cascade", "Ember", "Polaris", "Vantage"}
local CITIES = {"Porthaven", "Kelmere", "Dunstead", "Ravenmoor", "Ashcombe", "Brightwater", "Coldharbour", "Elmsworth",
                "Fairhollow", "Greystone"}
local FESTS = {"Aurora Film Festival", "Tidewater Film Festival", "Silver Reel Festival", "Frostline Festival",
               "Harborlight Festival", "Cinders Film Week"}

local SIZES = {{film = 18, dir = 7, studio = 5, fest = 3, city = 5},
               {film = 28, dir = 10, studio = 6, fest = 4, city = 6},
               {film = 40, dir = 14, studio = 8, fest = 5, city = 7}}

local function build(rng, sz)
  local W = {films = {}, dirs = {}, studios = {}, fests = {}}
  local cities = rng:sample(CITIES, sz.city)
  for _, n in ipairs(rng:sample(STEM, sz.studio)) do
    W.studios[#W.studios + 1] = {name = n .. " " .. rng:choice(STUDIOS), city = rng:choice(cities), films = {}}
  end
  for _, n in ipairs(rng:sample(FESTS, sz.fest)) do W.fests[#W.fests + 1] = {name = n, city = rng:choice(cities), wins = {}} end
  local used = {}
  while #W.dirs < sz.dir do
    local n = rng:choice(FIRST) .. " " .. rng:choice(LAST)
    if not used[n] then
      used[n] = true
      W.dirs[#W.dirs + 1] = {name = n, born = rng:int(1940, 1990), country = rng:choice(COUNTRIES),
                             school = rng:choice(SCHOOLS), films = {}}
    end
  end
  while #W.films < sz.film do
    local t = "The " .. rng:choice(ADJ) .. " " .. rng:choice(NOUN)
    if not used[t] then
      used[t] = true
      local f = {title = t, year = rng:int(1975, 2024), genre = rng:choice(GENRES), dir = rng:choice(W.dirs),
                 studio = rng:choice(W.studios)}
      W.films[#W.films + 1] = f
      f.dir.films[#f.dir.films + 1] = f.title
      f.studio.films[#f.studio.films + 1] = f.title
      if rng:bool(0.4) then
        local fe = rng:choice(W.fests)
        f.fest = fe
        fe.wins[#fe.wins + 1] = f
      end
    end
  end
  return W
end

local function docs_of(rng, W)
  local docs = {}
  local function add(title, text) docs[#docs + 1] = {title = title, text = text} end
  for _, f in ipairs(W.films) do
    local s = string.format("%s is a %d %s film directed by %s. It was produced by %s.", f.title, f.year, f.genre,
                            f.dir.name, f.studio.name)
    if f.fest then s = s .. string.format(" It won the main prize at the %s.", f.fest.name) end
    add(f.title, s)
  end
  for _, d in ipairs(W.dirs) do
    add(d.name, string.format("%s is a film director born in %d in %s. %s studied at the %s.%s", d.name, d.born,
        d.country, d.name, d.school, #d.films > 0 and (" Filmography: " .. table.concat(d.films, ", ") .. ".") or ""))
  end
  for _, st in ipairs(W.studios) do
    add(st.name, string.format("%s is a film studio based in %s.%s", st.name, st.city,
        #st.films > 0 and (" Its productions include " .. table.concat(st.films, ", ") .. ".") or ""))
  end
  for _, fe in ipairs(W.fests) do
    local w = {}
    for i, f in ipairs(fe.wins) do w[i] = string.format("%s (%d)", f.title, f.year) end
    add(fe.name, string.format("The %s is held every year in %s.%s", fe.name, fe.city,
        #w > 0 and (" Main prize winners: " .. table.concat(w, ", ") .. ".") or ""))
  end
  rng:shuffle(docs)
  local base = rng:int(100, 900)
  for i, d in ipairs(docs) do d.id = string.format("f%d-%d", base, i * 3 + rng:int(0, 2)) end
  return docs
end

env.tools = {
  search = {
    description = "Full-text search (BM25) over the film encyclopedia. Returns ids, titles and snippets.",
    parameters = {type = "object", properties = {query = {type = "string"},
                  k = {type = "integer", minimum = 1, maximum = 20, description = "number of hits (default 5)"}},
                  required = {"query"}},
    run = function(state, args)
      local out = json.array({})
      for i, h in ipairs(ef.search(state.docs, args.query, args.k or 5)) do
        out[i] = {id = h.id, title = h.title, snippet = h.snippet}
      end
      return {hits = out}
    end,
  },
  open = {
    description = "Open a document by id.",
    parameters = {type = "object", properties = {id = {type = "string"}}, required = {"id"}},
    run = function(state, args)
      for _, d in ipairs(state.docs) do if d.id == args.id then return d end end
      error("no document " .. args.id)
    end,
  },
}

-- A clue is a predicate over a film plus its text; the anchor names where to start.
local function film_ok(f, c)
  if c.genre and f.genre ~= c.genre then return false end
  if c.y0 and (f.year < c.y0 or f.year > c.y1) then return false end
  if c.country and f.dir.country ~= c.country then return false end
  if c.school and f.dir.school ~= c.school then return false end
  if c.studio and f.studio.name ~= c.studio then return false end
  if c.fest and (not f.fest or f.fest.name ~= c.fest) then return false end
  if c.city and f.studio.city ~= c.city then return false end
  return true
end

function env.generate(rng, level)
  while true do
    local W = build(rng, SIZES[level])
    local f = rng:choice(W.films)
    local c, parts = {}, {}
    if level == 3 then
      c.city = f.studio.city
      parts[#parts + 1] = "was produced by a studio based in " .. c.city
    elseif f.fest and rng:bool() then
      c.fest = f.fest.name
      parts[#parts + 1] = "won the main prize at the " .. c.fest
    else
      c.studio = f.studio.name
      parts[#parts + 1] = "was produced by " .. c.studio
    end
    if rng:bool() then
      c.genre = f.genre
      parts[#parts + 1] = "is " .. (f.genre:find("^[aeiou]") and "an " or "a ") .. f.genre .. " film"
    else
      local w = rng:int(2, 6)
      c.y0 = f.year - rng:int(0, w); c.y1 = c.y0 + w
      parts[#parts + 1] = string.format("was released between %d and %d", c.y0, c.y1)
    end
    if level >= 2 then
      if level == 3 or rng:bool() then
        c.country = f.dir.country; parts[#parts + 1] = "was directed by someone born in " .. c.country
      end
      if level == 3 or not c.country then
        c.school = f.dir.school; parts[#parts + 1] = "has a director who studied at the " .. c.school
      end
    end
    local n = 0
    for _, g in ipairs(W.films) do if film_ok(g, c) then n = n + 1 end end
    -- unique answer, and every clue needed at level >= 2 (not decided by the anchor alone)
    local anchor_only = 0
    for _, g in ipairs(W.films) do
      if film_ok(g, {studio = c.studio, fest = c.fest, city = c.city}) then anchor_only = anchor_only + 1 end
    end
    if n == 1 and anchor_only >= 2 then
      local clues = json.array({})
      for k, v in pairs(c) do clues[#clues + 1] = {k, v} end
      table.sort(clues, function(a, b) return a[1] < b[1] end)
      local cl = {}
      for i, p in ipairs(parts) do cl[i] = "(" .. i .. ") " .. p end
      return {prompt = "Which film " .. table.concat(cl, "; ") .. "? Search the film encyclopedia and answer with " ..
                       "the film's title only.",
              state = {docs = docs_of(rng, W)}, answer = f.title, meta = {clues = c}}
    end
  end
end

-- Reference agent: find the anchor document(s), list candidate films, open each candidate
-- (and its director when a clue is about the director), keep the one matching all clues.
function env.solve(task, call)
  local c = task.meta.clues
  local cache = {}
  local function article(title)
    if cache[title] then return cache[title] end
    local hits = call("search", {query = title, k = 10}).hits
    for _, h in ipairs(hits) do
      if h.title == title then cache[title] = call("open", {id = h.id}).text; return cache[title] end
    end
    error("no article for " .. title)
  end
  local cands = {}
  local function add_list(s)
    if s == "" then return end
    for t in (s .. ", "):gmatch("(.-), ") do cands[#cands + 1] = t:gsub(" %(%d+%)$", "") end
  end
  if c.studio then add_list(article(c.studio):match("Its productions include (.-)%.$") or "")
  elseif c.fest then add_list(article(c.fest):match("Main prize winners: (.-)%.$") or "")
  else
    for _, h in ipairs(call("search", {query = c.city, k = 20}).hits) do
      local text = call("open", {id = h.id}).text
      if text:find("is a film studio based in " .. c.city .. ".", 1, true) then
        add_list(text:match("Its productions include (.-)%.$") or "")
      end
    end
  end
  for _, t in ipairs(cands) do
    local text = article(t)
    local year, genre, dir = text:match("is a (%d+) (.-) film directed by ([^.]+)%.")
    year = tonumber(year)
    local ok = (not c.genre or genre == c.genre) and (not c.y0 or (year >= c.y0 and year <= c.y1))
    if ok and (c.country or c.school) then
      local dt = article(dir)
      local country = dt:match("born in %d+ in ([^.]+)%.")
      local school = dt:match("studied at the ([^.]+)%.")
      ok = (not c.country or country == c.country) and (not c.school or school == c.school)
    end
    if ok then return t end
  end
  error("no candidate matched")
end

function env.verify(task, answer)
  if type(answer) ~= "string" then return 0 end
  local a = answer:gsub("^%s*[Aa]nswer%s*:%s*", ""):gsub("%.%s*$", ""):gsub("^[\"'*]+", ""):gsub("[\"'*]+$", "")
  return ef.verify.exact(a, task.answer, {case = false, ws = true})
end

return env
