-- One benchmark scenario for wrk, reporting what wrk's own summary leaves out.
--
--   wrk [options] -s scenario.lua URL -- path=/api/v1/items/{id} ids=FILE
--   wrk [options] -s scenario.lua URL -- method=POST path=/api/v1/items type=application/json body=...
--
-- "{id}" in the path becomes, on every request, an id picked at random from the ids file (one
-- per line). Credentials come as wrk -H headers. Each thread counts responses by status, and
-- done() prints one line: RESULT {"requests": ..., "statuses": {"200": ...}, "p99_ms": ...}

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("number", counter)
   table.insert(threads, thread)
end

local options = {}
local ids = {}
local fixed_request = nil
statuses = {}

function init(args)
   for _, arg in ipairs(args) do
      local key, value = arg:match("^([%w_]+)=(.*)$")
      options[key] = value
   end
   options.method = options.method or "GET"
   if options.type then
      wrk.headers["Content-Type"] = options.type
   end
   if options.ids then
      for line in io.lines(options.ids) do
         table.insert(ids, line)
      end
   end
   math.randomseed(os.time() * 1000 + number)
   if not options.path:find("{id}", 1, true) then
      fixed_request = wrk.format(options.method, options.path, nil, options.body)
   end
end

function request()
   if fixed_request then
      return fixed_request
   end
   local path = options.path:gsub("{id}", ids[math.random(#ids)])
   return wrk.format(options.method, path, nil, options.body)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local by_status = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         by_status[status] = (by_status[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(by_status) do
      table.insert(parts, string.format('"%d": %d', status, count))
   end
   local errors = summary.errors
   io.write(string.format(
      'RESULT {"requests": %d, "seconds": %.6f, "p50_ms": %.3f, "p95_ms": %.3f, ' ..
      '"p99_ms": %.3f, "socket_errors": %d, "statuses": {%s}}\n',
      summary.requests, summary.duration / 1e6,
      latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
      errors.connect + errors.read + errors.write + errors.timeout,
      table.concat(parts, ", ")))
end
