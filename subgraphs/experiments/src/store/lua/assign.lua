-- Records a sticky assignment unless the user already has one, counting new ones.
-- KEYS[1]  hash user id -> variant
-- KEYS[2]  hash variant -> users assigned (all time)
-- KEYS[3]  hash variant -> users assigned under the current weights version
-- KEYS[4]  hash user id -> JSON { v: variant, a: [audience ids], c: covariate }: what was known of
--          the user when assigned, before any exposure (its cohorts, its CUPED covariate)
-- ARGV[1]  user id
-- ARGV[2]  variant
-- ARGV[3]  that JSON, or '' when nothing was known
-- Returns  the recorded variant (the earlier one if it existed)
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[3]) end
  return ARGV[2]
end
return redis.call('HGET', KEYS[1], ARGV[1])
