"""The one Lua script of the shared limits: many operations, atomically, in one call.

Redis runs a script alone, so each operation reads and writes its keys with
nothing in between: a token taken is taken once, a slot given is given once,
across every process.  The clock is Redis's (TIME), so hosts whose clocks
disagree still share one.  A call carries the operations of every request that
reached the door while the previous call was out (app.shared.courier).

ARGV: the key prefix, a lease's lifetime in seconds, the seconds after which a
business counts as alone, then the operations, each a code and its arguments:

D name rate burst business lease in_flight lone queue wait_s
   the door: one token, then a slot (or a place in line)
   -> wait, tokens, slot (1 in, 0 in line, -1 refused; "" when the token was refused)
T name rate burst    one token -> wait, tokens
P name rate burst    the tokens left, nothing spent -> tokens
C name rate burst cost   charge `cost` (work done, or paid ahead) -> ""
W business ticket in_flight lone wait_s   a place in line: in now? -> 1, 0 or -1 (gone)
L business lease in_flight lone wait_s   give the slot back, and hand the slots now
   free to the head of the line -> the tickets let in (their requests learn it from
   this reply in the process that left, from their next W elsewhere)
F business ticket    leave the line, or the slot it was handed meanwhile -> ""
R business lease     the lease lives on (its request still runs; put back if Redis
   lost it) -> ""

Keys: ``tb:<name>`` a bucket (tokens and time; it expires once full again);
``run:<business>`` the leases of its requests running (score: expiry);
``run`` every lease (is another business running?); ``wait:<business>`` its
line (score: arrival); ``latest`` the business of the latest arrival and when,
and the time of the one before (is a business alone?).  Names are built in the
script, so the store is one Redis (or a primary with replicas), not a cluster.
"""

from __future__ import annotations

SCRIPT = r"""
local prefix = ARGV[1]
local LEASE = tonumber(ARGV[2])
local LONE = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local FAR = -1e18

local function num(x)
  return string.format('%.6f', x)
end

-- One call's clock does not move, so what an operation reads or writes is kept
-- for the next ones of the same call: a bucket is read once and written once
-- (at the end), a business's line is cleaned once, and "latest" written once.
local buckets = {}
local cleaned = {}

local function refilled(key, rate, burst)
  local kept = buckets[key]
  if kept then return kept[1] end
  local v = redis.call('HMGET', key, 't', 'at')
  local tokens = tonumber(v[1])
  if tokens == nil then return burst end
  local elapsed = now - tonumber(v[2])
  if elapsed < 0 then elapsed = 0 end
  return math.min(burst, tokens + elapsed * rate)
end

local function keep(key, tokens, rate, burst)
  buckets[key] = {tokens, rate, burst}
end

local function write_buckets()
  local at = num(now)
  for key, v in pairs(buckets) do
    redis.call('HSET', key, 't', num(v[1]), 'at', at)
    redis.call('PEXPIRE', key, math.floor(((v[3] - v[1]) / v[2] + 1) * 1000))
  end
end

local function take(name, rate, burst)
  if rate <= 0 then return 0, burst end
  local key = prefix .. 'tb:' .. name
  local tokens = refilled(key, rate, burst)
  if tokens < 1 then
    keep(key, tokens, rate, burst)
    return (1 - tokens) / rate, tokens
  end
  tokens = tokens - 1
  keep(key, tokens, rate, burst)
  return 0, tokens
end

local function clean(b, wait_s)
  if cleaned[b] then return end
  cleaned[b] = true
  redis.call('ZREMRANGEBYSCORE', prefix .. 'run:' .. b, '-inf', now)
  if not cleaned[''] then
    cleaned[''] = true
    redis.call('ZREMRANGEBYSCORE', prefix .. 'run', '-inf', now)
  end
  redis.call('ZREMRANGEBYSCORE', prefix .. 'wait:' .. b, '-inf', now - wait_s)
end

local function allowed(b, running, in_flight, lone)
  if lone <= in_flight then return in_flight end
  if redis.call('ZCARD', prefix .. 'run') - running > 0 then return in_flight end
  local latest = redis.call('HMGET', prefix .. 'latest', 'b', 'at', 'before')
  local other = latest[2]
  if latest[1] == b then other = latest[3] end
  other = tonumber(other) or FAR
  if now - other > LONE then return lone end
  return in_flight
end

local arrived_last = nil

local function arrived(b)
  if arrived_last == b then return end  -- the same business, the same instant
  arrived_last = b
  local latest = redis.call('HMGET', prefix .. 'latest', 'b', 'at')
  local at = num(now)
  if latest[1] == b then
    redis.call('HSET', prefix .. 'latest', 'at', at)
  else
    redis.call('HSET', prefix .. 'latest', 'b', b, 'at', at, 'before', latest[2] or tostring(FAR))
  end
end

local function hold(b, lease)
  local expiry = now + LEASE
  redis.call('ZADD', prefix .. 'run:' .. b, expiry, lease)
  redis.call('ZADD', prefix .. 'run', expiry, lease)
  -- Every time: the set may have emptied (and gone) earlier in this call.
  redis.call('PEXPIRE', prefix .. 'run:' .. b, math.floor((LEASE + 1) * 1000))
end

local function enter(b, lease, in_flight, lone, queue, wait_s)
  if in_flight <= 0 then return 1 end
  clean(b, wait_s)
  arrived(b)
  local waitk = prefix .. 'wait:' .. b
  local running = redis.call('ZCARD', prefix .. 'run:' .. b)
  local waiting = redis.call('ZCARD', waitk)
  if waiting == 0 and running < allowed(b, running, in_flight, lone) then
    hold(b, lease)
    return 1
  end
  if waiting >= queue then return -1 end
  redis.call('ZADD', waitk, now, lease)
  redis.call('PEXPIRE', waitk, math.floor((wait_s + 1) * 1000))
  return 0
end

local function poll(b, ticket, in_flight, lone, wait_s)
  clean(b, wait_s)
  if redis.call('ZSCORE', prefix .. 'run:' .. b, ticket) then return 1 end  -- handed over
  local waitk = prefix .. 'wait:' .. b
  local rank = redis.call('ZRANK', waitk, ticket)
  if not rank then return -1 end
  local running = redis.call('ZCARD', prefix .. 'run:' .. b)
  if rank < allowed(b, running, in_flight, lone) - running then
    redis.call('ZREM', waitk, ticket)
    hold(b, ticket)
    return 1
  end
  return 0
end

local function hand_over(b, in_flight, lone, wait_s)
  local let_in = {}
  if in_flight <= 0 then return let_in end
  clean(b, wait_s)
  local waitk = prefix .. 'wait:' .. b
  local running = redis.call('ZCARD', prefix .. 'run:' .. b)
  local free = allowed(b, running, in_flight, lone) - running
  if free <= 0 then return let_in end
  for _, ticket in ipairs(redis.call('ZRANGE', waitk, 0, free - 1)) do
    redis.call('ZREM', waitk, ticket)
    hold(b, ticket)
    let_in[#let_in + 1] = ticket
  end
  return let_in
end

local out = {}
local i = 4
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  if op == 'D' then
    local wait, tokens = take(ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]))
    local slot = ''
    if wait == 0 then
      slot = enter(ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6]), tonumber(ARGV[i + 7]),
                   tonumber(ARGV[i + 8]), tonumber(ARGV[i + 9]))
    end
    out[#out + 1] = num(wait)
    out[#out + 1] = num(tokens)
    out[#out + 1] = slot
    i = i + 10
  elseif op == 'T' then
    local wait, tokens = take(ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]))
    out[#out + 1] = num(wait)
    out[#out + 1] = num(tokens)
    i = i + 4
  elseif op == 'P' then
    local rate = tonumber(ARGV[i + 2])
    local burst = tonumber(ARGV[i + 3])
    local tokens = burst
    if rate > 0 then tokens = refilled(prefix .. 'tb:' .. ARGV[i + 1], rate, burst) end
    out[#out + 1] = num(tokens)
    i = i + 4
  elseif op == 'C' then
    local rate = tonumber(ARGV[i + 2])
    local burst = tonumber(ARGV[i + 3])
    local cost = tonumber(ARGV[i + 4])
    if rate > 0 and cost > 0 then
      local key = prefix .. 'tb:' .. ARGV[i + 1]
      keep(key, refilled(key, rate, burst) - cost, rate, burst)
    end
    out[#out + 1] = ''
    i = i + 5
  elseif op == 'W' then
    out[#out + 1] = poll(ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]),
                         tonumber(ARGV[i + 5]))
    i = i + 6
  elseif op == 'L' then
    redis.call('ZREM', prefix .. 'run:' .. ARGV[i + 1], ARGV[i + 2])
    redis.call('ZREM', prefix .. 'run', ARGV[i + 2])
    out[#out + 1] = hand_over(ARGV[i + 1], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]),
                              tonumber(ARGV[i + 5]))
    i = i + 6
  elseif op == 'F' then
    redis.call('ZREM', prefix .. 'wait:' .. ARGV[i + 1], ARGV[i + 2])
    redis.call('ZREM', prefix .. 'run:' .. ARGV[i + 1], ARGV[i + 2])
    redis.call('ZREM', prefix .. 'run', ARGV[i + 2])
    out[#out + 1] = ''
    i = i + 3
  elseif op == 'R' then
    local expiry = now + LEASE
    -- Not XX: after a Redis restart (empty) this puts running requests back.
    redis.call('ZADD', prefix .. 'run:' .. ARGV[i + 1], expiry, ARGV[i + 2])
    redis.call('ZADD', prefix .. 'run', expiry, ARGV[i + 2])
    redis.call('PEXPIRE', prefix .. 'run:' .. ARGV[i + 1], math.floor((LEASE + 1) * 1000))
    out[#out + 1] = ''
    i = i + 3
  else
    return redis.error_reply('unknown operation ' .. tostring(op))
  end
end
write_buckets()
return out
"""

#: Arguments after the code, and replies, of each operation.
ARITY = {"D": (9, 3), "T": (3, 2), "P": (3, 1), "C": (4, 1), "W": (5, 1), "L": (5, 1)}
ARITY |= {"F": (2, 1), "R": (2, 1)}
