-- Deletes a profile document but keeps its write counter for a while (a tombstone), so a writer
-- that read the profile before the delete cannot write it back (no ABA on rev).
-- KEYS[1]  profile hash (fields rev, doc, tok, dt, ver, p, pn, m:<change>: profile-cas.lua)
-- ARGV[1]  tombstone time to live in ms
-- Returns  1 when a document was deleted, 0 when there was none
-- A profile of appended events only (no document yet) exists as well.
local existed = math.max(redis.call('HDEL', KEYS[1], 'doc'), redis.call('HDEL', KEYS[1], 'pn'))
redis.call('HDEL', KEYS[1], 'tok', 'dt', 'ver', 'p')
-- The once-changes (merges) belong to the profile that is gone.
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 2) == 'm:' then
    redis.call('HDEL', KEYS[1], field)
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'rev', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return existed
