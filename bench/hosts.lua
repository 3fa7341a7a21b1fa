-- wrk script: request a list of (Host, path) pairs in turn, round-robin, so that load
-- is spread over many wikis (each wiki is its own subdomain).
--
--   wrk ... -s bench/hosts.lua http://127.0.0.1:PORT -- TARGETS_FILE
--
-- TARGETS_FILE has one "host path" pair per line ("w42.localhost:8080 /Home").

local thread_count = 0

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
end

local targets = {}
local i = 0

function init(args)
  local file = args[1] or error("hosts.lua: pass the targets file after --")
  local f = assert(io.open(file, "r"))
  for line in f:lines() do
    local host, path = line:match("^(%S+)%s+(%S+)$")
    if host then targets[#targets + 1] = { host, path } end
  end
  f:close()
  if #targets == 0 then error("hosts.lua: no targets in " .. file) end
  -- Threads start at different points of the list, so they do not move in lockstep.
  i = ((id or 0) * math.floor(#targets / 2 + 1)) % #targets
end

function request()
  i = i % #targets + 1
  local t = targets[i]
  return wrk.format("GET", t[2], { Host = t[1] })
end
