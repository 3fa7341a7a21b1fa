-- wrk script: MCP tools/call over Streamable HTTP.
--
--   wrk ... -s bench/mcp.lua http://127.0.0.1:PORT/mcp -- read|write
--
-- read:  read_note on a corpus page, cycling through 20 pages.
-- write: write_note creating a new page per request (unique per thread and counter).
-- Host and Authorization come from -H.

local thread_count = 0
function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
end

local mode, n = "read", 0
function init(args)
  mode = args[1] or "read"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
end

function request()
  n = n + 1
  local body
  if mode == "write" then
    body = string.format('{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"write_note","arguments":{"path":"Bench/T%d-%d","content":"# Bench\\n\\nA page written by the MCP benchmark.\\n"}}}', n, id, n)
  else
    body = string.format('{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"read_note","arguments":{"path":"Retrieval Note %04d"}}}', n, (n % 20) * 10)
  end
  return wrk.format(nil, nil, nil, body)
end

local bad = 0
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"isError":true', 1, true) then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("bad response: " .. status .. " " .. body:sub(1, 300) .. "\n") end
  end
end
