-- Shared by profile-cas.lua and profile-append.lua (prepended to each): the ledger's writes.
-- entries: flat score, key pairs; rev: the profile's new rev (spreads the housekeeping).
local function record_in_ledger(ledger, entries, now, window, rev)
  if #entries == 0 then
    return
  end
  -- ZADD in chunks: a merged ledger can hold more keys than Lua passes to one call.
  for i = 1, #entries, 2000 do
    redis.call('ZADD', ledger, unpack(entries, i, math.min(i + 1999, #entries)))
  end
  -- Writes are what a script pays most for (each is replicated), so the ledger's housekeeping is
  -- spread out: its expiry is moved only once less than a window is left (to a window and a
  -- half), and old entries are dropped then and on every 16th write. Entries are kept at least
  -- the window, at most about half a window more.
  if redis.call('PTTL', ledger) < window then
    redis.call('PEXPIRE', ledger, math.floor(window * 1.5))
    redis.call('ZREMRANGEBYSCORE', ledger, '-inf', '(' .. (now - window))
  elseif rev % 16 == 0 then
    redis.call('ZREMRANGEBYSCORE', ledger, '-inf', '(' .. (now - window))
  end
end

-- The profile's time to live ("0": none; a profile written onto a tombstone must not keep the
-- tombstone's).
local function keep_for(key, ttl)
  if tonumber(ttl) > 0 then
    redis.call('PEXPIRE', key, ttl)
  elseif redis.call('PTTL', key) >= 0 then
    redis.call('PERSIST', key)
  end
end

