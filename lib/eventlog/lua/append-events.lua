-- Claims event ids and appends the events that claimed theirs to a stream partition, in one step:
-- an id is claimed exactly when its event is in the stream, whatever fails when. Then trims the
-- stream to about ARGV[1] entries, never past what the protected consumer group still needs.
-- KEYS[1]      the partition's stream
-- KEYS[2..n+1] the dedupe key of each event (same hash tag as the stream)
-- ARGV[1]      approximate entries kept
-- ARGV[2]      how long a claim lasts, ms ("0": no deduplication)
-- ARGV[3]      protected consumer group ("" for none): entries it has not been delivered, or holds
--              pending, are never trimmed, however far behind it is (the stream grows instead)
-- ARGV[4]      the W3C traceparent the events were accepted under ("" for none): stored as the
--              entry's field `tp` (entries without it, older ones included, carry no trace)
-- ARGV[5..n+4] each event as JSON, in the order of its dedupe key
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
    fresh[#fresh + 1] = ARGV[i + 4]
  end
end
if #fresh == 0 then
  return { '', table.concat(flags) }
end
local entry = '[' .. table.concat(fresh, ',') .. ']'
local id
if ARGV[4] ~= '' then
  id = redis.call('XADD', KEYS[1], '*', 'e', entry, 'tp', ARGV[4])
else
  id = redis.call('XADD', KEYS[1], '*', 'e', entry)
end
if ttl > 0 then
  for i = 1, n do
    if flags[i] == '1' then
      redis.call('SET', KEYS[i + 1], id, 'PX', ttl)
    end
  end
end

-- Trimming, once the stream is 5% (at least 100 entries) over the retention.
local retention = tonumber(ARGV[1])
local len = redis.call('XLEN', KEYS[1])
if len > retention + math.max(100, retention / 20) then
  local protected = ARGV[3]
  if protected == '' then
    redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', retention)
  else
    local function parts(entryId)
      local ms, seq = string.match(entryId, '^(%d+)-(%d+)$')
      return tonumber(ms), tonumber(seq), ms
    end
    local function less(a, b)
      local am, as = parts(a)
      local bm, bs = parts(b)
      return am < bm or (am == bm and as < bs)
    end
    -- Where about `retention` entries remain: the ids are times, so interpolate between the oldest
    -- entry and the newest (approximate, like MAXLEN ~).
    local oldest = parts(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][1])
    local newest = parts(id)
    local threshold = string.format('%.0f', math.floor(oldest + (newest - oldest) * (len - retention) / len)) .. '-0'
    -- What the protected group still needs: the entry after the last one it was delivered, or the
    -- oldest it holds pending. A group that does not exist yet will read from the start: keep all.
    local needed = nil
    local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
    if ok then
      for _, row in ipairs(groups) do
        local info = {}
        for k = 1, #row, 2 do
          info[row[k]] = row[k + 1]
        end
        if info['name'] == protected then
          local _, seq, ms = parts(info['last-delivered-id'])
          needed = ms .. '-' .. tostring(seq + 1)
          if tonumber(info['pending']) > 0 then
            local oldestPending = redis.call('XPENDING', KEYS[1], protected)[2]
            if less(oldestPending, needed) then
              needed = oldestPending
            end
          end
        end
      end
    end
    if needed then
      if less(needed, threshold) then
        threshold = needed
      end
      redis.call('XTRIM', KEYS[1], 'MINID', '~', threshold)
    end
  end
end
return { id, table.concat(flags) }
