-- wrk script: request a list of URL paths in turn, round-robin.
--
--   wrk ... -s bench/paths.lua http://127.0.0.1:PORT -- PATHS_FILE
--
-- PATHS_FILE has one path per line (e.g. "/Retrieval%20Note%200000" or
-- "/-/search?q=agent"). Headers given with -H (notably Host) are kept, because
-- wrk.format() adds wrk.headers to every request.
--
-- Cycling through many pages, rather than hammering one URL, keeps a server
-- from looking faster than it is thanks to a single hot cache entry.

local thread_count = 0

-- Runs once per thread in the main Lua state: number the threads.
function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
end

local paths = {}
local i = 0

-- Runs in each thread's own Lua state, with the arguments after "--".
function init(args)
  local file = args[1] or error("paths.lua: pass the paths file after --")
  local f = assert(io.open(file, "r"))
  for line in f:lines() do
    if line ~= "" then paths[#paths + 1] = line end
  end
  f:close()
  if #paths == 0 then error("paths.lua: no paths in " .. file) end
  -- Start each thread at a different point of the list so threads do not
  -- request the same page in lockstep.
  i = ((id or 0) * math.floor(#paths / 2 + 1)) % #paths
end

function request()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
