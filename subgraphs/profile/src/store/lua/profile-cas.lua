-- Compare-and-set of a profile document (optimistic concurrency).
-- KEYS[1]  profile hash: fields rev (write counter, never reset by a delete), doc (JSON) and tok
--          (a token unique to the write that stored doc)
-- KEYS[2]  alias key of the same user id (same hash tag): set once the id is an alias
-- ARGV[1]  rev the caller read ("0" when the hash did not exist)
-- ARGV[2]  new document (JSON)
-- ARGV[3]  time to live in ms ("0": none)
-- ARGV[4]  token of the write the caller builds on, or "" when it has just read rev. A writer that
--          remembers a profile it wrote earlier passes that write's token: rev alone can repeat
--          (a hash that expired or whose tombstone expired starts again from 0, and a failover can
--          lose a write whose rev another writer then reuses), a token cannot.
-- ARGV[5]  token of this write
-- Returns  the new rev; 0 when another writer changed the profile first; -1 when the id has
--          become an alias (the caller resolves it again and writes to the known user)
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
local rev = current + 1
redis.call('HSET', KEYS[1], 'rev', rev, 'doc', ARGV[2], 'tok', ARGV[5])
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return rev
