-- Claims event ids and appends the events that claimed theirs to a stream partition, in one step:
-- an id is claimed exactly when its event is in the stream, whatever fails when.
-- KEYS[1]      the partition's stream
-- KEYS[2..n+1] the dedupe key of each event (same hash tag as the stream)
-- ARGV[1]      approximate entries kept (XADD MAXLEN ~)
-- ARGV[2]      how long a claim lasts, ms ("0": no deduplication)
-- ARGV[3..n+2] each event as JSON, in the order of its dedupe key
-- Returns      { entry id, or "" when every event was a duplicate; a string with "1" for each event
--              appended and "0" for each duplicate }
-- Writes happen only after every read and in the order XADD, then the claims: a failure before the
-- XADD leaves nothing behind, and a claim can never exist without its entry.
local n = #KEYS - 1
local ttl = tonumber(ARGV[2])
local fresh = {}
local flags = {}
local claimedHere = {}
for i = 1, n do
  local key = KEYS[i + 1]
  if ttl > 0 and (claimedHere[key] or redis.call('EXISTS', key) == 1) then
    flags[i] = '0'
  else
    claimedHere[key] = true
    flags[i] = '1'
    fresh[#fresh + 1] = ARGV[i + 2]
  end
end
if #fresh == 0 then
  return { '', table.concat(flags) }
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', '[' .. table.concat(fresh, ',') .. ']')
if ttl > 0 then
  for i = 1, n do
    if flags[i] == '1' then
      redis.call('SET', KEYS[i + 1], id, 'PX', ttl)
    end
  end
end
return { id, table.concat(flags) }
