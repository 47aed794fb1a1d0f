import { lua } from "./connection.js";

/*
 * Lua scripts: each runs atomically on the Redis server and takes the time from
 * Redis (TIME), so every process agrees on what has expired whatever its own clock.
 *
 * Presence keys of a user U (P = key prefix):
 *   P presence:conns:U  sorted set, connection id → expiry (ms)
 *   P presence:user:U   hash: seen (last seen, ms), online ("1" while reported online)
 *   P presence:due      sorted set, user id → when the user's last live connection
 *                       runs out (the sweep's to-do list)
 * Transitions are published on P presence:events:U as "1:<seen>" or "0:<seen>" by
 * the same script that flips `online`, so each is published exactly once however
 * many processes heartbeat, disconnect or sweep at the same time.
 */

const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt(n)
  return string.format('%d', n)
end

local function bump_seen(user, at)
  local seen = tonumber(redis.call('HGET', user, 'seen'))
  if not seen or at > seen then
    redis.call('HSET', user, 'seen', fmt(at))
  end
end

-- Drops expired connections (the user was last seen when the last of them ran
-- out) and re-files the user in the due set; when no connection is left, marks the
-- user offline and publishes the transition. Returns true while a connection is live.
local function settle(conns, user, due, user_id, channel, now)
  local expired = redis.call('ZRANGEBYSCORE', conns, '-inf', fmt(now), 'WITHSCORES')
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', conns, '-inf', fmt(now))
    bump_seen(user, tonumber(expired[#expired]))
  end
  local last = redis.call('ZRANGE', conns, -1, -1, 'WITHSCORES')
  if #last > 0 then
    redis.call('ZADD', due, last[2], user_id)
    return true
  end
  redis.call('ZREM', due, user_id)
  if redis.call('HGET', user, 'online') == '1' then
    redis.call('HSET', user, 'online', '0')
    redis.call('PUBLISH', channel, '0:' .. (redis.call('HGET', user, 'seen') or ''))
  end
  return false
end
`;

/** KEYS conns, user, due; ARGV userId, connectionId, ttlMs, channel. */
export const HEARTBEAT = lua(`${COMMON}
local now = now_ms()
settle(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[4], now)
redis.call('ZADD', KEYS[1], fmt(now + tonumber(ARGV[3])), ARGV[2])
bump_seen(KEYS[2], now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('ZADD', KEYS[3], last[2], ARGV[1])
if redis.call('HGET', KEYS[2], 'online') ~= '1' then
  redis.call('HSET', KEYS[2], 'online', '1')
  redis.call('PUBLISH', ARGV[4], '1:' .. redis.call('HGET', KEYS[2], 'seen'))
end
return 1
`);

/** KEYS conns, user, due; ARGV userId, connectionId, channel. */
export const DISCONNECT = lua(`${COMMON}
local now = now_ms()
local expires = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[2]))
if expires then
  redis.call('ZREM', KEYS[1], ARGV[2])
  -- A connection that had already expired ended at its expiry, not now.
  bump_seen(KEYS[2], math.min(now, expires))
end
settle(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[3], now)
return 1
`);

/** KEYS conns, user, due; ARGV userId, channel. */
export const SETTLE = lua(`${COMMON}
settle(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], now_ms())
return 1
`);

/** KEYS due; ARGV limit. The users whose last connection has run out (to settle). */
export const DUE = lua(`${COMMON}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', fmt(now_ms()), 'LIMIT', 0, tonumber(ARGV[1]))
`);

/**
 * KEYS conns1, user1, conns2, user2, ...; no ARGV. Read-only and exact: a connection
 * past its expiry does not count, even before a sweep has settled it. Returns
 * online ("1"/"0") and last seen ("" when never seen) for each user.
 */
export const PRESENCE = lua(`${COMMON}
local now = now_ms()
local out = {}
for i = 1, #KEYS, 2 do
  local live = redis.call('ZRANGEBYSCORE', KEYS[i], '(' .. fmt(now), '+inf', 'LIMIT', 0, 1)
  local seen = tonumber(redis.call('HGET', KEYS[i + 1], 'seen'))
  local ended = redis.call('ZREVRANGEBYSCORE', KEYS[i], fmt(now), '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #ended > 0 then
    local at = tonumber(ended[2])
    if not seen or at > seen then seen = at end
  end
  out[#out + 1] = (#live > 0) and '1' or '0'
  out[#out + 1] = seen and fmt(seen) or ''
end
return out
`);

/**
 * KEYS counter; ARGV limit, windowMs. Fixed window starting at the first hit; a
 * refused hit is not counted. Returns 1 when allowed, 0 when refused.
 */
export const HIT = lua(`
local count = tonumber(redis.call('GET', KEYS[1]))
local limit = tonumber(ARGV[1])
if not count then
  if limit <= 0 then return 0 end
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[2])
  return 1
end
if count >= limit then return 0 end
redis.call('INCR', KEYS[1])
return 1
`);

/*
 * Routing map: one hash P routes, field = partition, value "<expiresAtMs>:<gatewayId>".
 * A lease whose expiry has passed belongs to nobody.
 */
const LEASE = `${COMMON}
local function lease(value, now)
  if not value then return nil end
  local sep = string.find(value, ':', 1, true)
  if tonumber(string.sub(value, 1, sep - 1)) <= now then return nil end
  return string.sub(value, sep + 1)
end
`;

/**
 * KEYS routes; ARGV partition, gatewayId, ttlMs, force ("1" takes the lease from a
 * live holder). Returns 1 when the gateway holds the lease now, else 0.
 */
export const CLAIM = lua(`${LEASE}
local now = now_ms()
local holder = lease(redis.call('HGET', KEYS[1], ARGV[1]), now)
if holder and holder ~= ARGV[2] and ARGV[4] ~= '1' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], fmt(now + tonumber(ARGV[3])) .. ':' .. ARGV[2])
return 1
`);

/** KEYS routes; ARGV partition. The live holder, or false. */
export const OWNER = lua(`${LEASE}
return lease(redis.call('HGET', KEYS[1], ARGV[1]), now_ms()) or false
`);

/** KEYS routes. Live leases as partition, holder, ...; drops expired ones. */
export const OWNERS = lua(`${LEASE}
local now = now_ms()
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local holder = lease(all[i + 1], now)
  if holder then
    out[#out + 1] = all[i]
    out[#out + 1] = holder
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return out
`);

/**
 * KEYS routes; ARGV partition, gatewayId. Deletes the gateway's lease (live or
 * expired); returns 1 when a live one was released.
 */
export const RELEASE = lua(`${LEASE}
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return 0 end
local sep = string.find(value, ':', 1, true)
if string.sub(value, sep + 1) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if lease(value, now_ms()) then return 1 end
return 0
`);
