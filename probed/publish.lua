-- devmon publish script: the one way an event enters an account's history.
--
-- EVALSHA <sha1> 4 devmon:{A}:ev devmon:{A}:state devmon:{A}:live
--                  devmon:{A}:epoch  <field> <event> <maxlen>
--
--   field   hash field in devmon:{A}:state that keeps this event as the
--           latest of its kind ("dev|region|kind"); "" stores nothing
--   event   a JSON object without "id", starting with '{' (one with a
--           top-level "id" is refused)
--   maxlen  replay window: the stream is trimmed to about this many entries
--
-- Returns { id, epoch }.  The stream entry holds the event under field "e"
-- without its id (the entry id is the id); the state hash and the live
-- message hold it with "id" spliced in as the first member.  The live
-- message is "<epoch> <event-with-id>".
--
-- The epoch names one history of the stream: a stream that does not exist
-- (first publish, or Redis lost it) starts a new history, so a client
-- holding a resume point from the old one is told to reset.

local ev, state, live, epochkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local field, event, maxlen = ARGV[1], ARGV[2], tonumber(ARGV[3])

if string.sub(event, 1, 1) ~= '{' then
    return redis.error_reply('ERR devmon: event must be a JSON object')
end

-- the id is the stream's: a member "id" of the publisher's own would come
-- after it in what clients get, as a second "id" (decoding ~100 bytes is
-- cheap next to XADD)
local ok, obj = pcall(cjson.decode, event)
if not ok or type(obj) ~= 'table' then
    return redis.error_reply('ERR devmon: event must be a JSON object')
end
if obj.id ~= nil then
    return redis.error_reply('ERR devmon: event must not carry "id"')
end

if maxlen == nil or maxlen < 1 then
    return redis.error_reply('ERR devmon: maxlen must be a positive number')
end

local epoch = redis.call('GET', epochkey)

if redis.call('EXISTS', ev) == 0 or not epoch then
    local t = redis.call('TIME')
    epoch = string.format('%d%06d', t[1], t[2])
    redis.call('SET', epochkey, epoch)
end

local id = redis.call('XADD', ev, 'MAXLEN', '~', maxlen, '*', 'e', event)

local body
if event == '{}' then
    body = '{"id":"' .. id .. '"}'
else
    body = '{"id":"' .. id .. '",' .. string.sub(event, 2)
end

if field ~= '' then
    redis.call('HSET', state, field, body)
end

redis.call('PUBLISH', live, epoch .. ' ' .. body)

return { id, epoch }
