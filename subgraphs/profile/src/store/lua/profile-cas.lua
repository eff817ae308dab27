-- Compare-and-set of a profile document (optimistic concurrency), with its ledger of applied
-- event ids written in the same step.
-- KEYS[1]  profile hash: fields rev (write counter, never reset by a delete), doc (store/codec.ts), tok
--          (a token unique to the write that made rev), dt (the token of the write that stored doc:
--          appends leave it, so a reader that decoded doc folds only the newer events), ver (the
--          profile's version), m:<change>
--          for each once-change made, and the events appended since doc (profile-append.lua: p,
--          pn of them): the new document folds them in, so they go
-- KEYS[2]  alias key of the same user id (same hash tag): set once the id is an alias
-- KEYS[3]  ledger of the same user id (same hash tag): sorted set of the keys of applied events
--          (user sent for + event id) scored by the time they were applied (ms)
-- ARGV[1]  rev the caller read ("0" when the hash did not exist)
-- ARGV[2]  new document (MessagePack, store/codec.ts)
-- ARGV[3]  time to live in ms ("0": none)
-- ARGV[4]  token of the write the caller builds on, or "" when it has just read rev. A writer that
--          remembers a profile it wrote earlier passes that write's token: rev alone can repeat
--          (a hash that expired or whose tombstone expired starts again from 0, and a failover can
--          lose a write whose rev another writer then reuses), a token cannot.
-- ARGV[5]  token of this write
-- ARGV[6]  now (ms): the score of the event ids applied by this write
-- ARGV[7]  ledger window in ms: entries are kept at least this long (see the end)
-- ARGV[8]  a change that must happen once for this profile (a merge: "merge:<anonymous id>"), or
--          "": recorded as the hash field m:<it>, and the write is refused (-2) if it is there
-- ARGV[9]  n, the number of event keys this write applies
-- ARGV[10 .. 9+n]  those keys: none may be in the ledger already
-- ARGV[10+n]       the new document's profile version (ver)
-- ARGV[11+n ..]    score, key pairs inherited from a profile merged into this one
-- Returns  the new rev; 0 when another writer changed the profile first; -1 when the id has
--          become an alias (the caller resolves it again and writes to the known user); -2 when
--          one of the events was applied already, or the once-change was made (the caller reads
--          again)
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
local current = tonumber(redis.call('HGET', KEYS[1], 'rev') or '0')
if current ~= tonumber(ARGV[1]) then
  return 0
end
if ARGV[4] ~= '' and redis.call('HGET', KEYS[1], 'tok') ~= ARGV[4] then
  return 0
end
local once = ARGV[8]
if once ~= '' and redis.call('HEXISTS', KEYS[1], 'm:' .. once) == 1 then
  return -2
end
local n = tonumber(ARGV[9])
-- In chunks: Lua passes at most about 8,000 values to one call, and one write can apply more.
for from = 10, 9 + n, 1000 do
  local seen = redis.call('ZMSCORE', KEYS[3], unpack(ARGV, from, math.min(from + 999, 9 + n)))
  for i = 1, #seen do
    if seen[i] then
      return -2
    end
  end
end
local rev = current + 1
-- Folded into the new document (rev is as the caller read it: nothing was appended since).
redis.call('HDEL', KEYS[1], 'p', 'pn')
if once == '' then
  redis.call('HSET', KEYS[1], 'rev', rev, 'doc', ARGV[2], 'tok', ARGV[5], 'dt', ARGV[5], 'ver', ARGV[10 + n])
else
  redis.call('HSET', KEYS[1], 'rev', rev, 'doc', ARGV[2], 'tok', ARGV[5], 'dt', ARGV[5], 'ver', ARGV[10 + n], 'm:' .. once, ARGV[6])
end
keep_for(KEYS[1], ARGV[3])
local entries = {}
for i = 10, 9 + n do
  entries[#entries + 1] = ARGV[6]
  entries[#entries + 1] = ARGV[i]
end
for i = 11 + n, #ARGV, 2 do
  entries[#entries + 1] = ARGV[i]
  entries[#entries + 1] = ARGV[i + 1]
end
record_in_ledger(KEYS[3], entries, tonumber(ARGV[6]), tonumber(ARGV[7]), rev)
return rev
