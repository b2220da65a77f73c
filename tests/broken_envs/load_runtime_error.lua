-- expect-line: 4 expect: attempt to call a nil value
-- An error while the file runs (calling a function that does not exist).
local env = {name = "broken_load", version = 1, category = "general"}
local data = build_data()
return env
