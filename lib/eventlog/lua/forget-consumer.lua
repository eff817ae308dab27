-- Removes a consumer that holds no pending entries from a group (a dead consumer, once its entries
-- were taken over). Atomic, so entries it was delivered meanwhile are never dropped with it.
-- KEYS[1]  the stream
-- ARGV[1]  consumer group
-- ARGV[2]  consumer name
-- Returns  1 when the consumer was removed, 0 when it still holds entries
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #pending > 0 then
  return 0
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
