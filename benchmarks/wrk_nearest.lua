-- wrk script: GET /api/v1/nearest for points drawn at random from a fixed list.
--
--   wrk -t2 -c64 -d60s --latency -s benchmarks/wrk_nearest.lua http://127.0.0.1:8000 \
--       -- POINTS_FILE [SEED]
--
-- POINTS_FILE holds one query string per line ("lat=..&lon=..&k=5[&service=..]"), written
-- by benchmarks/bench_api_load.py (random points in Mali, seeded).  Each wrk thread draws
-- from the list with its own seeded generator (SEED * 1000 + thread number), so two runs
-- with the same file and seed send the same queries in the same order per connection
-- slot.  At the end one line "WRK_JSON {...}" gives the counts and latency percentiles
-- (microseconds) for the benchmark script to read.

local points = {}
local seed = 42
local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   if path == nil then
      error("give the points file: wrk ... -s wrk_nearest.lua URL -- POINTS_FILE [SEED]")
   end
   seed = tonumber(args[2] or "42")
   for line in io.lines(path) do
      if #line > 0 then
         table.insert(points, "/api/v1/nearest?" .. line)
      end
   end
   if #points == 0 then
      error("no points in " .. path)
   end
   -- `id` is the global that setup() gave this thread
   math.randomseed(seed * 1000 + (id or 0))
end

function request()
   return wrk.format("GET", points[math.random(#points)])
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors_connect": %d, "errors_read": %d, "errors_write": %d, ' ..
      '"errors_status": %d, "errors_timeout": %d, "lat_mean_us": %.1f, ' ..
      '"lat_stdev_us": %.1f, "lat_max_us": %d, "p50_us": %d, "p75_us": %d, ' ..
      '"p90_us": %d, "p99_us": %d, "p999_us": %d}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9)))
end
