-- Appends events to a profile without rewriting its document: they wait in a pending field of the
-- profile hash until a compare-and-set (profile-cas.lua) folds them into the document, and a
-- reader folds them into what it decodes (store/redis.ts). The ledger of applied event ids is
-- written in the same step, so an event is appended at most once.
-- KEYS[1]  profile hash (see profile-cas.lua): this script adds the events to p (one JSON event a
--          line, oldest first: one field, since each field of a hash with a document in it costs
--          its own entry), and keeps ver (the profile's version, pending events included) and pn
--          (pending events) up to date, and sets dt (see profile-cas.lua) when there is none
-- KEYS[2]  alias key of the same user id
-- KEYS[3]  ledger of the same user id
-- ARGV[1]  time to live in ms ("0": none)
-- ARGV[2]  token of this write
-- ARGV[3]  now (ms)
-- ARGV[4]  ledger window in ms
-- ARGV[5]  n, the number of events
-- ARGV[6 .. 5+n]      their keys
-- ARGV[6+n .. 5+2n]   the events, each as JSON
-- Returns  {rev, ver, pn, appended} (appended: how many were not in the ledger); -1 when the id
--          has become an alias; -3 when the document predates ver (the caller rewrites it whole)
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
local fields = redis.call('HMGET', KEYS[1], 'rev', 'ver', 'pn', 'dt')
-- (Not the document itself: at the size bounds it is some 60 KB to copy for one test.)
if not fields[2] and redis.call('HEXISTS', KEYS[1], 'doc') == 1 then
  return -3
end
local rev = tonumber(fields[1] or '0')
local ver = tonumber(fields[2] or '0')
local pn = tonumber(fields[3] or '0')
local n = tonumber(ARGV[5])
local seen = {}
for from = 6, 5 + n, 1000 do
  local scores = redis.call('ZMSCORE', KEYS[3], unpack(ARGV, from, math.min(from + 999, 5 + n)))
  for i = 1, #scores do
    seen[from + i - 6] = scores[i]
  end
end
local events = {}
local entries = {}
for i = 1, n do
  if not seen[i] then
    events[#events + 1] = ARGV[5 + n + i]
    entries[#entries + 1] = ARGV[3]
    entries[#entries + 1] = ARGV[5 + i]
  end
end
if #events == 0 then
  return {rev, ver, pn, 0}
end
local added = table.concat(events, '\n')
local pending = redis.call('HGET', KEYS[1], 'p')
rev = rev + 1
ver = ver + #events
pn = pn + #events
redis.call('HSET', KEYS[1], 'rev', rev, 'ver', ver, 'pn', pn, 'tok', ARGV[2], 'p', pending and (pending .. '\n' .. added) or added)
if not fields[4] then
  -- The first append onto no document: dt names this state too (what a reader's copy builds on).
  redis.call('HSET', KEYS[1], 'dt', ARGV[2])
end
keep_for(KEYS[1], ARGV[1])
record_in_ledger(KEYS[3], entries, tonumber(ARGV[3]), tonumber(ARGV[4]), rev)
return {rev, ver, pn, #events}
