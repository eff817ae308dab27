-- Records one unit event: deduplicates it and counts it at most once in its row's slot (one
-- exposure per row, each other type once per served position), updates the user's totals in the
-- event's unit and in all units, and shifts the variant's running aggregates by the change in
-- those totals (the same arithmetic as domain/metrics.ts: addEvent + shiftAggregate).
-- KEYS[1]  hash of the served row: "e:<event id>" per recorded event, "s:<slot>" -> event id per
--          taken slot; it expires with the row's impression id (PEXPIRE ARGV[9] on every write)
-- KEYS[2]  hash user id -> totals JSON, for the event's unit
-- KEYS[3]  hash user id -> totals JSON, for all units
-- KEYS[4]  hash "<variant>|<field>" -> number, aggregates of the event's unit
-- KEYS[5]  hash "<variant>|<field>" -> number, aggregates of all units
-- KEYS[6]  set of unit ids with events
-- KEYS[7]  set of event ids recorded before rows had their own hash (versions before issue 14):
--          an id in it is a duplicate; it expires once every row it can hold an id of has
--          (its TTL is set and extended to the newest row's remaining lifetime)
-- ARGV[1]  event id      ARGV[2] user id   ARGV[3] variant   ARGV[4] type
-- ARGV[5]  value         ARGV[6] completed ("1" or "0")    ARGV[7] unit id
-- ARGV[8]  slot in the row (domain/metrics.ts unitEventSlot)
-- ARGV[9]  remaining lifetime of the row's impression id, in ms (at least 1)
-- ARGV[10] the user's pre-exposure covariate (CUPED; 0 when none was recorded)
-- ARGV[11] 1-based position in the row, or '' (per-slot aggregates)
-- Returns  1 when recorded, 0 for a duplicate event id (on this row), 2 when the slot is taken
if redis.call('HEXISTS', KEYS[1], 'e:' .. ARGV[1]) == 1 then
  return 0
end
if redis.call('EXISTS', KEYS[7]) == 1 then
  redis.call('PEXPIRE', KEYS[7], ARGV[9], 'NX')
  redis.call('PEXPIRE', KEYS[7], ARGV[9], 'GT')
  if redis.call('SISMEMBER', KEYS[7], ARGV[1]) == 1 then
    return 0
  end
end
if redis.call('HSETNX', KEYS[1], 's:' .. ARGV[8], ARGV[1]) == 0 then
  return 2
end
redis.call('HSET', KEYS[1], 'e:' .. ARGV[1], '1')
redis.call('PEXPIRE', KEYS[1], ARGV[9])
local user, variant, kind = ARGV[2], ARGV[3], ARGV[4]
local value, completed = tonumber(ARGV[5]), ARGV[6] == '1'
local c, position = tonumber(ARGV[10]), ARGV[11]

local function shift(totalsKey, aggKey)
  local raw = redis.call('HGET', totalsKey, user)
  local new_user = raw == false
  local b = new_user and { impressions = 0, clicks = 0, consumption = 0, completions = 0, revenue = 0, engaged = 0 } or cjson.decode(raw)
  local a = { impressions = b.impressions, clicks = b.clicks, consumption = b.consumption,
              completions = b.completions, revenue = b.revenue, engaged = b.engaged }
  -- Per position: { clicks, consumption } before (bs) and after (as) this event.
  local bs = b.slots or {}
  local as = {}
  for p, t in pairs(bs) do as[p] = { clicks = t.clicks, consumption = t.consumption } end
  local function slot()
    as[position] = as[position] or { clicks = 0, consumption = 0 }
    return as[position]
  end
  if kind == 'IMPRESSION' then a.impressions = a.impressions + 1
  elseif kind == 'CLICK' then
    a.clicks = a.clicks + 1; a.engaged = 1
    if position ~= '' then slot().clicks = slot().clicks + 1 end
  elseif kind == 'CONSUME' then
    a.consumption = a.consumption + value
    if completed then a.completions = a.completions + 1 end
    a.engaged = 1
    if position ~= '' then slot().consumption = slot().consumption + value end
  elseif kind == 'PURCHASE' then a.revenue = a.revenue + value; a.engaged = 1
  end
  if next(as) ~= nil then a.slots = as end
  redis.call('HSET', totalsKey, user, cjson.encode(a))
  local n = new_user and 1 or 0
  local function inc(field, delta)
    if delta ~= 0 then redis.call('HINCRBYFLOAT', aggKey, variant .. '|' .. field, delta) end
  end
  inc('exposedUsers', n)
  inc('impressions', a.impressions - b.impressions)
  inc('clicks', a.clicks - b.clicks)
  inc('completions', a.completions - b.completions)
  inc('ctr.n', n)
  inc('ctr.sumX', a.clicks - b.clicks)
  inc('ctr.sumY', a.impressions - b.impressions)
  inc('ctr.sumX2', a.clicks * a.clicks - b.clicks * b.clicks)
  inc('ctr.sumY2', a.impressions * a.impressions - b.impressions * b.impressions)
  inc('ctr.sumXY', a.clicks * a.impressions - b.clicks * b.impressions)
  for _, m in ipairs({ 'consumption', 'engaged', 'revenue' }) do
    inc(m .. '.n', n)
    inc(m .. '.sum', a[m] - b[m])
    inc(m .. '.sumSq', a[m] * a[m] - b[m] * b[m])
  end
  -- CUPED: the covariate's sums, and each metric's cross products with it.
  inc('covariate.sum', n * c)
  inc('covariate.sumSq', n * c * c)
  for _, m in ipairs({ 'consumption', 'engaged', 'revenue', 'clicks' }) do
    inc('covariate.' .. m, (a[m] - b[m]) * c)
  end
  -- Per slot: x (clicks or seconds at the position) against the user's impressions y.
  for p, t in pairs(as) do
    local t0 = bs[p] or { clicks = 0, consumption = 0 }
    for _, m in ipairs({ 'clicks', 'consumption' }) do
      local f = 'slot.' .. p .. '.' .. m .. '.'
      inc(f .. 'sumX', t[m] - t0[m])
      inc(f .. 'sumX2', t[m] * t[m] - t0[m] * t0[m])
      inc(f .. 'sumXY', t[m] * a.impressions - t0[m] * b.impressions)
    end
  end
end

shift(KEYS[2], KEYS[4])
shift(KEYS[3], KEYS[5])
redis.call('SADD', KEYS[6], ARGV[7])
return 1
