/*
 * redis_script - key names, hashes and the batch script (see redis_script.h)
 *
 * The Lua below is window.c and grey.c again, in Lua 5.1 where every
 * number is a double. All values stay integers below 2^53 (times in ms,
 * bucket indexes, products of a remainder and k or per), and every
 * division goes through idiv(), which corrects the floor of a rounded
 * quotient, so the arithmetic is exact and the script decides what the
 * embedded store decides (a state found past its logical expiry is deleted,
 * as the embedded store deletes an expired entry it finds, when it is of the
 * kind the operation reads: one-window, several-window or distinct; see
 * BUGS in redis_script.h) (tests/integration/test_redis.c compares the two
 * on the same sequence of requests, one call at a time and several merged).
 *
 * Cost: Redis runs every script on its one thread, so the script's cost
 * caps a fleet. Lua 5.1 there spends ~1,000 instructions on a table or a
 * string it allocates, ~800 on a tonumber(), ~5,000-15,000 on a
 * redis.call(), so the one-window path (the usual limit) reads one header
 * (struct.unpack of 6 numbers) and writes 12 bytes in place, and the
 * functions only the other operations need are not even made (closures
 * cost at every call) unless the batch has such an operation.
 */
#include "redis_script.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "num.h"

/* clang-format off */
const char REDIS_SCRIPT_TEXT[] =
/* Redis 6.0 or later (KEEPTTL): a script's writes replicate as effects, no redis.replicate_commands() */
"local floor = math.floor\n"
"local sunpack, spack, rcall, KEYS, ARGV = struct.unpack, struct.pack, redis.call, KEYS, ARGV\n"
/* now and the deadline, binary (ARGV[1], see redis_script.h); commit and n come as decimal strings: "s + 0"
 * converts once where tonumber() converts twice */
"local now, late = sunpack('<i8i8', ARGV[1])\n"
"if now == 0 then\n"
"  local t = rcall('TIME')\n"
"  now = t[1] * 1000 + floor(t[2] / 1000)\n"
"end\n"
/* a call run past its deadline was answered on_error already (Redis resumed after a hang with it read): it
 * runs nothing (redis.h says which way the race goes) */
"if late > 0 and now > late then return redis.error_reply('LATE ' .. now .. ' ' .. late) end\n"
/* one part (one batch): ARGV[2] is its commit flag and ARGV[3] its number of operations; several parts (the
 * batches of several requests, one after the other): a flag per part and their numbers, comma-separated */
"local CM = ARGV[2]\n"
"local ro = CM == '2'\n"
"local nparts = #CM\n"
"local counts, nops\n"
"if nparts == 1 then\n"
"  nops = ARGV[3] + 0\n"
"else\n"
"  counts, nops = {}, 0\n"
"  for c in string.gmatch(ARGV[3], '%d+') do\n"
"    c = c + 0\n"
"    counts[#counts + 1] = c\n"
"    nops = nops + c\n"
"  end\n"
"end\n"
/* the operations' numbers, binary (see redis_script.h): no decimal to convert, one argument */
"local OPS = ARGV[4]\n"
/* idiv - floor division and remainder of integers, exact below 2^53 */
"local function idiv(a, b)\n"
"  local q = floor(a / b)\n"
"  local r = a - q * b\n"
"  if r < 0 then q = q - 1; r = r + b elseif r >= b then q = q + 1; r = r - b end\n"
"  return q, r\n"
"end\n"
"local function bucket_of(per, k, t)\n"
"  local q, r = idiv(t, per)\n"
"  return q * k + (idiv(r * k, per))\n"
"end\n"
"local function bucket_start(per, k, b)\n"
"  local q, r = idiv(b, k)\n"
"  return q * per + (idiv(r * per + k - 1, k))\n"
"end\n"
"local function slot(x, k)\n"
"  local _, s = idiv(x, k + 1)\n"
"  return s + 1\n"
"end\n"
/* one-window states (the usual limit), counts by age (see redis_script.h): the header has the window's total
 * and the newest bucket's count, so a check reads the header only and a count rewrites the header and keeps
 * the rest of the value; the other counts are read only when buckets leave the window or on a refusal.
 * sv - each key's value as this call last read or wrote it (false: none), so a second operation on a key sees
 * the first one's count */
"local SH = '<I8I8I2I8I8I4'\n"
"local sv = {}\n"
"local cfmts = {}\n"
"local function cfmt(n)\n"
"  local f = cfmts[n]\n"
"  if not f then f = '<' .. string.rep('I4', n); cfmts[n] = f end\n"
"  return f\n"
"end\n"
/* agesum - the sum of the n counts from age from on */
"local function agesum(v, from, n)\n"
"  local u, s = {sunpack(cfmt(n), v, 35 + 4 * from)}, 0\n"
"  for j = 1, n do s = s + u[j] end\n"
"  return s\n"
"end\n"
/* sload - value, head, total, newest count and logical expiry of a state of this shape, nil if missing, of
 * another shape or past its logical expiry (then deleted, as the embedded store drops an expired entry) */
"local function sload(key, per, k, t)\n"
"  local v = sv[key]\n"
"  if v == nil then v = rcall('GET', key); sv[key] = v end\n"
"  if not v or #v < 38 then return nil end\n"
"  local head, vper, vk, exp, total, c0 = sunpack(SH, v)\n"
   /* a one-window state of any shape (a rule edited since) is gone past its expiry, as an embedded store's
    * expired entry is, whoever looks: a clock that then went back finds it in neither */
"  if #v == 38 + 4 * vk and exp <= t then\n"
"    if not ro then rcall('DEL', key) end\n"
"    sv[key] = false\n"
"    return nil\n"
"  end\n"
"  if #v ~= 38 + 4 * k or vper ~= per or vk ~= k then return nil end\n"
"  return v, head, total, c0, exp\n"
"end\n"
/* bnow - now's bucket in a window of this shape and the expiry of a state counted now, once per shape; the
 * shape's id per * 65536 + k is exact while per < 2^37 ms (4 years; rule.c allows one) */
"local bns = {}\n"
"local function bnow(per, k)\n"
"  local m = bns[per * 65536 + k]\n"
"  if not m then\n"
"    local b = bucket_of(per, k, now)\n"
"    local exp = bucket_start(per, k, b + k + 1)\n"
"    m = {b, exp, false}\n"
"    bns[per * 65536 + k] = m\n"
"  end\n"
"  return m\n"
"end\n"
/* bnew - the shape's bnow entry with what a state made anew now needs, made once per call and only when a
 * count needs it: [3] its PX in decimal (redis.call formats a number argument with snprintf, ~2,000
 * instructions), [4] its bytes (the same for every key of the shape), [5] their first 26 (head, per, k,
 * expiry: what the fast path compares) */
"local function bnew(per, k)\n"
"  local m = bns[per * 65536 + k] or bnow(per, k)\n"
"  if not m[5] then\n"
"    m[5] = spack('<I8I8I2I8', m[1], per, k, m[2])\n"
"    m[4] = m[5] .. spack('<I8I4', 1, 1) .. string.rep('\\0', 4 * k)\n"
"    m[3] = tostring(m[2] - now)\n"
"  end\n"
"  return m\n"
"end\n"
/* scheck - window_check at t, in bucket b: admitted, total, retry_ms. The window ends at the newer of b and
 * the head; when b is newer by d buckets, the d oldest counts have left it */
"local function scheck(per, count, k, t, b, v, head, total)\n"
"  local sum, top = 0, b\n"
"  if v then\n"
"    if head >= b then sum = total; top = head\n"
"    elseif b - head <= k then sum = total - agesum(v, k + 1 - (b - head), b - head) end\n"
"  end\n"
"  if sum < count then return 1, sum, 0 end\n"
   /* refused: counts[i] = events of bucket top-k+i, then the first boundary at which enough have left */
"  local counts = {}\n"
"  for i = 0, k do counts[i] = 0 end\n"
"  if v then\n"
"    local u = {sunpack(cfmt(k + 1), v, 35)}\n"
"    for i = 0, k do\n"
"      local x = top - k + i\n"
"      local a = head - x\n"
"      if x >= 0 and a >= 0 and a <= k then counts[i] = u[a + 1] end\n"
"    end\n"
"  end\n"
"  local all, i = sum, 1\n"
"  while i <= k + 1 do\n"
"    sum = sum - counts[i - 1]\n"
"    if sum < count then break end\n"
"    i = i + 1\n"
"  end\n"
"  local retry = bucket_start(per, k, top + i) - t\n"
"  if top > b and retry > per then retry = per end\n"
"  return 0, all, retry\n"
"end\n"
/* sadd - window_add and the key's expiry (PX only when it moved: once per bucket); returns the bucket counted
 * in (the head: a head ahead of now's bucket stays where it is) */
"local function sadd(key, per, k, t, b, exp, v, head, total, c0, exp0)\n"
"  local nv, at = nil, b\n"
"  if v and b <= head then\n"
"    at = head\n"
"    if c0 < 4294967295 then c0 = c0 + 1; total = total + 1 end\n"
     /* the same bucket and expiry: only the total and the newest count change, in place */
"    if exp == exp0 then\n"
"      rcall('SETRANGE', key, '26', spack('<I8I4', total, c0))\n"
"      sv[key] = nil\n"
"      return at\n"
"    end\n"
"    nv = spack(SH, head, per, k, exp, total, c0) .. string.sub(v, 39)\n"
"  elseif v and b - head <= k then\n"
"    local d = b - head\n"
"    total = total - agesum(v, k + 1 - d, d) + 1\n"
"    nv = spack(SH, b, per, k, exp, total, 1) .. string.rep('\\0', 4 * (d - 1)) .. string.sub(v, 35, 34 + 4 * (k + 1 - d))\n"
"  else\n"
"    nv = bnew(per, k)[4]\n"
"  end\n"
   /* b and exp are the shape's bnow entry's (the callers'), so bnew's PX is exp - now */
"  if v and exp == exp0 then rcall('SET', key, nv, 'KEEPTTL')\n"
"  else rcall('SET', key, nv, 'PX', bnew(per, k)[3]) end\n"
"  sv[key] = nv\n"
"  return at\n"
"end\n"
/* sundo - take back one event counted in bucket at, if the state still holds it */
"local function sundo(key, per, k, at, t)\n"
"  local v, head, total, _, exp = sload(key, per, k, t)\n"
"  if v and at <= head and at + k >= head then\n"
"    local o = 35 + 4 * (head - at)\n"
"    local c = sunpack('<I4', v, o)\n"
"    if c > 0 then\n"
"      local nv = spack('<I8I8I2I8I8', head, per, k, exp, total - 1) .. string.sub(v, 35, o - 1) ..\n"
"        spack('<I4', c - 1) .. string.sub(v, o + 4)\n"
"      rcall('SET', key, nv, 'KEEPTTL')\n"
"      sv[key] = nv\n"
"    end\n"
"  end\n"
"end\n"
/* the rest (several windows, distinct counts, greylisting, the other tenants' operations) is defined only for
 * a batch that has such an operation (the caller says so): a function costs its closure at every call */
"local slow = string.byte(OPS, 1) == 1\n"
"local fmts, fmt, wcheck, wadvance, mseen, mload, mget, msave, mcheck, madd, mundo, px\n"
"local dload, fpreg, regs, dmerge, zeros1024, hll_value, dcheck, dadd, grey, kv\n"
"if slow then\n"
"fmts = {}\n"
"fmt = function(k)\n"
"  local f = fmts[k]\n"
"  if not f then f = '<I8I8I2I8' .. string.rep('I4', k + 1); fmts[k] = f end\n"
"  return f\n"
"end\n"
/* wcheck - window_check: admitted, total, retry_ms */
"wcheck = function(per, count, k, head, c, t)\n"
"  local b = bucket_of(per, k, t)\n"
"  local top, lo, sum = b, 0, 0\n"
   /* the buckets from lo to top are consecutive: their slots are too, wrapping at k + 1 (one slot() call, not
    * one per bucket); the counts by age are only needed to find the retry of a refusal */
"  if head then\n"
"    if head > b then top = head end\n"
"    if top >= k then lo = top - k end\n"
"    local s = slot(lo, k)\n"
"    for x = lo, top do\n"
"      if not (x > head or x + k < head) then sum = sum + c[s] end\n"
"      s = s + 1\n"
"      if s > k + 1 then s = 1 end\n"
"    end\n"
"  end\n"
"  if sum < count then return 1, sum, 0 end\n"
"  local counts = {}\n"
"  for i = 0, k do counts[i] = 0 end\n"
"  if head then\n"
"    local s = slot(lo, k)\n"
"    for x = lo, top do\n"
"      if not (x > head or x + k < head) then counts[x + k - top] = c[s] end\n"
"      s = s + 1\n"
"      if s > k + 1 then s = 1 end\n"
"    end\n"
"  end\n"
"  local total, i = sum, 1\n"
"  while i <= k + 1 do\n"
"    sum = sum - counts[i - 1]\n"
"    if sum < count then break end\n"
"    i = i + 1\n"
"  end\n"
"  local retry = bucket_start(per, k, top + i) - t\n"
"  if top > b and retry > per then retry = per end\n"
"  return 0, total, retry\n"
"end\n"
/* wadvance - a window's buckets moved on to bucket b (a new window when head is nil): the buckets that left are
 * emptied; a head ahead of b stays where it is */
"wadvance = function(head, c, b, k)\n"
"  if not head then\n"
"    head = b; c = {}\n"
"    for i = 1, k + 1 do c[i] = 0 end\n"
"  end\n"
"  if b > head then\n"
"    local from = head + 1\n"
"    if b - head > k + 1 then from = b - k end\n"
"    for x = from, b do c[slot(x, k)] = 0 end\n"
"    head = b\n"
"  end\n"
"  return head, c\n"
"end\n"
/* mload - the records of a several-window state (window.c windows_*): the windows' records one after the
 * other, each in the one-window form; a value of another total size reads as empty in every window */
"mseen = {}\n"
"mload = function(key, ws, t)\n"
"  local v = rcall('GET', key)\n"
"  local st, size = {}, 0\n"
"  for j = 1, #ws do size = size + 26 + 4 * (ws[j][3] + 1) end\n"
"  if v and #v == size then\n"
"    local pos, exp = 1, 0\n"
"    for j = 1, #ws do\n"
"      local w = ws[j]\n"
"      local u = {sunpack(fmt(w[3]), v, pos)}\n"
"      pos = u[#u]\n"
"      if u[4] > exp then exp = u[4] end\n"
"      if u[2] == w[1] and u[3] == w[3] then\n"
"        local c = {}\n"
"        for x = 1, w[3] + 1 do c[x] = u[x + 4] end\n"
"        st[j] = {u[1], c, u[4]}\n"
"      end\n"
"    end\n"
     /* the key lives as long as its longest window, as the embedded store's one entry does */
"    if exp <= t then\n"
"      if not ro then rcall('DEL', key) end\n"
"      return {}\n"
"    end\n"
"  end\n"
"  return st\n"
"end\n"
"mget = function(key, ws, t)\n"
"  local st = mseen[key]\n"
"  if not st then st = mload(key, ws, t); mseen[key] = st end\n"
"  return st\n"
"end\n"
"msave = function(key, ws, st, t)\n"
"  local parts, exp = {}, 0\n"
"  for j = 1, #ws do\n"
"    local w, e = ws[j], st[j]\n"
"    if not e then\n"
"      e = {0, {}, 0}\n"
"      for x = 1, w[3] + 1 do e[2][x] = 0 end\n"
"    end\n"
"    parts[j] = spack(fmt(w[3]), e[1], w[1], w[3], e[3], unpack(e[2]))\n"
"    if e[3] > exp then exp = e[3] end\n"
"  end\n"
"  local v = table.concat(parts)\n"
"  if t then rcall('SET', key, v, 'PX', exp - t) else rcall('SET', key, v, 'KEEPTTL') end\n"
"end\n"
/* mcheck - windows_check: admitted, and each window's total and retry; which = the refusing window with the
 * latest retry (the first on a tie), 1-based, or 1 */
"mcheck = function(ws, st, t)\n"
"  local tot, ret, ok, which = {}, {}, 1, 1\n"
"  for j = 1, #ws do\n"
"    local w, e = ws[j], st[j] or {}\n"
"    local a, total, retry = wcheck(w[1], w[2], w[3], e[1], e[2], t)\n"
"    tot[j], ret[j] = total, retry\n"
"    if a == 0 then\n"
"      if ok == 1 or retry > ret[which] then which = j end\n"
"      ok = 0\n"
"    end\n"
"  end\n"
"  return ok, tot, ret, which\n"
"end\n"
/* madd - windows_add on every window, one write */
"madd = function(key, ws, t)\n"
"  local st = mget(key, ws, t)\n"
"  for j = 1, #ws do\n"
"    local w, e = ws[j], st[j]\n"
"    local per, k = w[1], w[3]\n"
"    local b = bucket_of(per, k, t)\n"
"    local head, c\n"
"    if e then head, c = e[1], e[2] end\n"
"    head, c = wadvance(head, c, b, k)\n"
"    local s = slot(head, k)\n"
"    if c[s] < 4294967295 then c[s] = c[s] + 1 end\n"
"    st[j] = {head, c, bucket_start(per, k, b + k + 1)}\n"
"  end\n"
"  msave(key, ws, st, t)\n"
"end\n"
/* mundo - take back one event counted at time at in every window whose ring still holds its bucket */
"mundo = function(key, ws, at, t)\n"
"  local st, changed = mload(key, ws, t), false\n"
"  for j = 1, #ws do\n"
"    local w, e = ws[j], st[j]\n"
"    local x = bucket_of(w[1], w[3], at)\n"
"    if e and x <= e[1] and x + w[3] >= e[1] then\n"
"      local s = slot(x, w[3])\n"
"      if e[2][s] > 0 then e[2][s] = e[2][s] - 1; changed = true end\n"
"    end\n"
"  end\n"
"  if changed then msave(key, ws, st, nil) end\n"
"end\n"
"px = function(ms)\n"
"  if ms < 1 then return 1 end\n"
"  return ms\n"
"end\n"
/* distinct counts (distinct.h): the state has the embedded store's layout; this script keeps no cache (it
 * writes 0 there). dload - the state of a key, nil if missing, of another shape or past its logical expiry */
"dload = function(key, per, k, t)\n"
"  local v = rcall('GET', key)\n"
"  if not v or #v < 48 then return nil end\n"
"  local head, vper, vk, n, _, exp = sunpack('<I8I8I2I2I4I8', v)\n"
"  if vper ~= per or vk ~= k then return nil end\n"
"  if n == 65535 then\n"
"    if #v ~= 48 + (k + 1) * 1024 then return nil end\n"
"  elseif n > 64 or #v ~= 48 + n * 16 then return nil end\n"
"  if exp <= t then\n"
"    if not ro then rcall('DEL', key) end\n"
"    return nil\n"
"  end\n"
"  local s = {head = head, hll = n == 65535, v = v, fps = {}, seen = {}}\n"
"  if not s.hll then\n"
"    for i = 1, n do\n"
"      local o = 49 + (i - 1) * 16\n"
"      s.fps[i] = string.sub(v, o, o + 7)\n"
"      s.seen[i] = sunpack('<I8', v, o + 8)\n"
"    end\n"
"  end\n"
"  return s\n"
"end\n"
/* fpreg - register and rank of a fingerprint (8 bytes, little-endian): its top 10 bits, then the leading zeros
 * of its 54 other bits + 1 (55 when all are 0), as distinct.c */
"fpreg = function(fp)\n"
"  local b = {string.byte(fp, 1, 8)}\n"
"  local j = b[8] * 4 + floor(b[7] / 64)\n"
"  local rho = 1\n"
"  for i = 53, 0, -1 do\n"
"    if floor(b[floor(i / 8) + 1] / 2 ^ (i % 8)) % 2 == 1 then return j, rho end\n"
"    rho = rho + 1\n"
"  end\n"
"  return j, rho\n"
"end\n"
"regs = function(s, x, k)\n"
"  local _, sl = idiv(x, k + 1)\n"
"  local o = 49 + sl * 1024\n"
"  return {string.byte(s.v, o, o + 1023)}\n"
"end\n"
"dmerge = function(m8, r)\n"
"  for j = 1, 1024 do if r[j] > m8[j] then m8[j] = r[j] end end\n"
"end\n"
"zeros1024 = function()\n"
"  local m8 = {}\n"
"  for j = 1, 1024 do m8[j] = 0 end\n"
"  return m8\n"
"end\n"
/* hll_value - the same operations in the same order as distinct.c, so the same double and the same answer */
"hll_value = function(m8)\n"
"  local sum, zeros = 0, 0\n"
"  for j = 1, 1024 do\n"
"    local r = m8[j]\n"
"    sum = sum + 2 ^ (-r)\n"
"    if r == 0 then zeros = zeros + 1 end\n"
"  end\n"
"  local m = 1024\n"
"  local alpha = 0.7213 / (1 + 1.079 / m)\n"
"  local e = alpha * m * m / sum\n"
"  if e <= 2.5 * m and zeros > 0 then e = m * math.log(m / zeros) end\n"
"  return floor(e + 0.5)\n"
"end\n"
/* dcheck - distinct_check: admitted, count, retry_ms, seen */
"dcheck = function(s, fp, per, count, k, t)\n"
"  local b = bucket_of(per, k, t)\n"
"  local top = b\n"
"  if s and s.head > b then top = s.head end\n"
"  local lo = 0\n"
"  if top >= k then lo = top - k end\n"
"  if not s then return 1, 0, 0, 0 end\n"
"  local n, seen = 0, 0\n"
"  if not s.hll then\n"
"    for i = 1, #s.fps do\n"
"      if s.seen[i] >= lo then\n"
"        n = n + 1\n"
"        if s.fps[i] == fp then seen = 1 end\n"
"      end\n"
"    end\n"
"  elseif s.head >= lo then\n"
"    local j, rho = fpreg(fp)\n"
"    local m8 = zeros1024()\n"
"    for x = lo, s.head do dmerge(m8, regs(s, x, k)) end\n"
"    if m8[j + 1] >= rho then seen = 1 end\n"
"    n = hll_value(m8)\n"
"  end\n"
"  if seen == 1 or n < count then return 1, n, 0, seen end\n"
"  local x = top\n"
"  if not s.hll then\n"
"    while x > lo do\n"
"      local c = 0\n"
"      for i = 1, #s.fps do if s.seen[i] >= x then c = c + 1 end end\n"
"      if c >= count then break end\n"
"      x = x - 1\n"
"    end\n"
"  else\n"
"    local m8 = zeros1024()\n"
"    while x > lo do\n"
"      if x <= s.head and x >= lo then dmerge(m8, regs(s, x, k)) end\n"
"      if hll_value(m8) >= count then break end\n"
"      x = x - 1\n"
"    end\n"
"  end\n"
"  local retry = bucket_start(per, k, x + k + 1) - t\n"
"  if top > b and retry > per then retry = per end\n"
"  return 0, n, retry, 0\n"
"end\n"
/* dadd - distinct_add, and the key's expiry (the state's logical expiry) */
"dadd = function(key, s, fp, per, k, t)\n"
"  local b = bucket_of(per, k, t)\n"
"  local top = b\n"
"  if s and s.head > b then top = s.head end\n"
"  local lo = 0\n"
"  if top >= k then lo = top - k end\n"
"  local exp = bucket_start(per, k, top + k + 1)\n"
"  local body, n\n"
"  local rs = {}\n"
"  local function setreg(x, f)\n"
"    local j, rho = fpreg(f)\n"
"    local _, sl = idiv(x, k + 1)\n"
"    local i = sl * 1024 + j + 1\n"
"    if rs[i] < rho then rs[i] = rho end\n"
"  end\n"
"  if s and s.hll and s.head >= lo then\n"
"    rs = {}\n"
"    for sl = 0, k do\n"
"      local o = 49 + sl * 1024\n"
"      local r = {string.byte(s.v, o, o + 1023)}\n"
"      for j = 1, 1024 do rs[sl * 1024 + j] = r[j] end\n"
"    end\n"
"    if top > s.head then\n"
"      local from = s.head + 1\n"
"      if top - s.head > k + 1 then from = top - k end\n"
"      for x = from, top do\n"
"        local _, sl = idiv(x, k + 1)\n"
"        for j = 1, 1024 do rs[sl * 1024 + j] = 0 end\n"
"      end\n"
"    end\n"
"    setreg(top, fp)\n"
"    n = 65535\n"
"  else\n"
"    local fps, seen, found = {}, {}, false\n"
"    if s and not s.hll then\n"
"      for i = 1, #s.fps do\n"
"        if s.seen[i] >= lo then\n"
"          fps[#fps + 1] = s.fps[i]\n"
"          if s.fps[i] == fp then seen[#fps] = top; found = true else seen[#fps] = s.seen[i] end\n"
"        end\n"
"      end\n"
"    end\n"
"    if not found then fps[#fps + 1] = fp; seen[#fps] = top end\n"
"    if #fps <= 64 then\n"
"      local parts = {}\n"
"      for i = 1, #fps do parts[i] = fps[i] .. spack('<I8', seen[i]) end\n"
"      body = table.concat(parts)\n"
"      n = #fps\n"
"    else\n"
"      for i = 1, (k + 1) * 1024 do rs[i] = 0 end\n"
"      for i = 1, #fps do setreg(seen[i], fps[i]) end\n"
"      n = 65535\n"
"    end\n"
"  end\n"
"  if n == 65535 then\n"
"    local parts = {}\n"
"    for sl = 0, k do parts[sl + 1] = string.char(unpack(rs, sl * 1024 + 1, sl * 1024 + 1024)) end\n"
"    body = table.concat(parts)\n"
"  end\n"
"  local v = spack('<I8I8I2I2I4I8I8I4I4', top, per, k, n, 0, exp, 0, 0, 0) .. body\n"
"  rcall('SET', key, v, 'PX', px(exp - t))\n"
"end\n"
/* grey - grey_decide and its writes: result, retry_ms */
"grey = function(tkey, ckey, delay, rw, life, auto, t)\n"
"  local known, first, passed, ptrip = false, 0, 0, 0\n"
"  local tv = rcall('GET', tkey)\n"
"  if tv and #tv == 17 then\n"
"    local f, p, e = sunpack('<I8I1I8', tv)\n"
"    if e > t then known = true; first = f; passed = p else rcall('DEL', tkey) end\n"
"  end\n"
"  local cv = rcall('GET', ckey)\n"
"  if cv and #cv == 12 then\n"
"    local n, e = sunpack('<I4I8', cv)\n"
"    if e > t then ptrip = n else rcall('DEL', ckey) end\n"
"  end\n"
"  if auto > 0 and ptrip >= auto then\n"
"    rcall('SET', ckey, spack('<I4I8', ptrip, t + life), 'PX', px(life))\n"
"    return 5, 0\n"
"  end\n"
"  if known and passed ~= 0 then\n"
"    rcall('SET', tkey, spack('<I8I1I8', first, passed, t + life), 'PX', px(life))\n"
"    return 4, 0\n"
"  end\n"
"  if known and t >= first and t - first >= delay then\n"
"    rcall('SET', tkey, spack('<I8I1I8', first, 1, t + life), 'PX', px(life))\n"
"    if ptrip < 4294967295 then ptrip = ptrip + 1 end\n"
"    rcall('SET', ckey, spack('<I4I8', ptrip, t + life), 'PX', px(life))\n"
"    return 3, 0\n"
"  end\n"
"  if known and first > t then\n"
"    rcall('SET', tkey, spack('<I8I1I8', t, passed, t + rw), 'PX', px(rw))\n"
"    return 2, delay\n"
"  end\n"
"  if known then return 2, first + delay - t end\n"
"  rcall('SET', tkey, spack('<I8I1I8', t, 0, t + rw), 'PX', px(rw))\n"
"  return 1, delay\n"
"end\n"
/* kv - the other tenants' operations (store.h), on plain Redis strings that any client can read:
 * admitted, and the value (GET) or the new number (INCR) */
"kv = function(typ, key, operand, num, ttl, nx)\n"
"  local v = rcall('GET', key)\n"
"  if typ == 16 then\n"
"    if v then return 1, v end\n"
"    return 0, 0\n"
"  elseif typ == 17 or typ == 19 then\n"
"    if v and (typ == 19 or nx) then return 0, 0 end\n"
"    if ttl > 0 then rcall('SET', key, operand, 'PX', ttl) else rcall('SET', key, operand) end\n"
"    return 1, 0\n"
"  elseif typ == 18 then\n"
"    if not v then\n"
"      if ttl > 0 then rcall('SET', key, num, 'PX', ttl) else rcall('SET', key, num) end\n"
"      return 1, num\n"
"    end\n"
         /* a number in a form INCRBY does not read (+5, 007) is written in its plain form first */
"    local sign, digits = string.match(v, '^([+-]?)(%d+)$')\n"
"    if not digits then return 0, 0 end\n"
"    digits = (string.gsub(digits, '^0+', ''))\n"
"    if digits == '' or sign == '+' then sign = '' end\n"
"    if digits == '' then digits = '0' end\n"
"    local lim = '9223372036854775807'\n"
"    if sign == '-' then lim = '9223372036854775808' end\n"
"    if #digits > 19 or (#digits == 19 and digits > lim) then return 0, 0 end\n"
"    if sign .. digits ~= v then rcall('SET', key, sign .. digits, 'KEEPTTL') end\n"
"    if pcall(redis.call, 'INCRBY', key, num) then return 1, rcall('GET', key) end\n"
         /* what is left is an overflow: saturate, as the embedded store does */
"    local n = '9223372036854775807'\n"
"    if string.sub(num, 1, 1) == '-' then n = '-9223372036854775808' end\n"
"    rcall('SET', key, n, 'KEEPTTL')\n"
"    return 1, n\n"
"  elseif typ == 20 then\n"
"    if v and v == operand then return rcall('DEL', key), 0 end\n"
"    return 0, 0\n"
"  elseif typ == 21 then\n"
"    if not (v and v == operand) then return 0, 0 end\n"
"    if ttl > 0 then rcall('PEXPIRE', key, ttl) else rcall('PERSIST', key) end\n"
"    return 1, 0\n"
"  end\n"
"  return 0, 0\n"
"end\n"
"end\n"
/* the windows after the first of several-window operations, then the kv operands (of every part) */
"local wi = 5\n"
"local oi = wi\n"
"if slow then\n"
"  for i = 0, nops - 1 do\n"
"    local nw = sunpack('<i8', OPS, 49 + 48 * i) % 16\n"
"    if nw > 1 then oi = oi + (nw - 1) * 3 end\n"
"  end\n"
"end\n"
/* the one-window operations' states, every key of the call read by one MGET: a redis.call costs Redis
 * ~6,000 instructions (its arguments, the command's lookup, the reply's conversion), whatever it reads. A
 * key's value stays in sv until the call writes it (bounded: unpack takes at most ~8,000 values) */
"local read = not slow and #KEYS > 0 and #KEYS <= 1000\n"
/* DUP - the keys that more than one operation of the call has (false: none) */
"local DUP = false\n"
"if read then\n"
"  local vs = rcall('MGET', unpack(KEYS))\n"
"  for i = 1, #KEYS do\n"
"    local k = KEYS[i]\n"
"    if sv[k] ~= nil then DUP = DUP or {}; DUP[k] = true end\n"
"    sv[k] = vs[i]\n"
"  end\n"
"end\n"
"local ki = 1\n"
"local base = 0\n"
"local rfmts = {[22] = '<i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8'}\n"
/* fast parts: a committed part of one-window counts (type 1, flags 0) whose every state is its shape's state of
 * now's bucket (head, per, k and expiry: a 26-byte prefix) under its count, or none. That is the usual request,
 * and all it needs is each state's total and newest count, so it skips the general loop below (~19,000
 * instructions an operation): its operations' records are parsed once per call (a plan per distinct run of
 * records), the check compares the prefix (an interned string: a pointer once made), and a count rewrites the
 * total and the newest count in place (one SETRANGE of 12 bytes) from the numbers the check read. The counts of
 * a key that several operations of the call have (DUP) are kept in PT and PC (total, newest count by key) and
 * written once per call (flush), where each count cost a GET and a SETRANGE; a part that is not fast first writes
 * what is kept (so the general loop reads every state from Redis), then runs the general loop. Its reply is
 * "<i8" numbers: -2 (the fast form), now, each operation's total after the count (admitted, no retry, counted
 * in now's bucket: redis_reply_apply knows the rest) */
"local ssub = string.sub\n"
"local FAST = read and not ro\n"
"local PL, PT, PC, X\n"
"local pend = false\n"
"if FAST then PL, X = {}, {} end\n"
"if FAST and DUP then PT, PC = {}, {} end\n"
/* plan - the fast form of a run of n records: {count, value length, prefix, new state, its PX} each, or false */
"local function plan(rec, n)\n"
"  local pl = {}\n"
"  for i = 1, n do\n"
"    local typ, per, count, k, _, fl = sunpack('<i8i8i8i8i8i8', rec, 48 * i - 47)\n"
"    if typ ~= 1 or fl ~= 0 then return false end\n"
"    local m = bnew(per, k)\n"
"    pl[i] = {count, 38 + 4 * k, m[5], m[4], m[3]}\n"
"  end\n"
"  return pl\n"
"end\n"
/* flush - write the counts kept, and forget those states (the general loop reads them again) */
"local function flush()\n"
"  for key, t in next, PT do\n"
"    rcall('SETRANGE', key, '26', spack('<I8I4', t, PC[key]))\n"
"    PT[key] = nil; PC[key] = nil; sv[key] = nil\n"
"  end\n"
"  pend = false\n"
"end\n"
/* tables every part of the call reuses, made at the size of 4 operations (a table costs ~1,000 instructions to
 * make and collect, and more each time it grows) */
"local OPS0 = {false, false, false, false}\n"
"local W0 = {false, false, false, false, false, false, false, false, false, false, false, false, false, false, false, false,\n"
"            false, false, false, false, false, false, false, false, false, false, false, false, false, false, false, false}\n"
"local outs = nparts > 1 and {}\n"
/* each part as if it were a call of its own: check, then count only if nothing refused */
"for part = 1, nparts do\n"
"local commit, nops = CM == '1', nops\n"
"if outs then commit = string.byte(CM, part) == 49; nops = counts[part] end\n"
"local fres = nil\n"
"if FAST and commit then\n"
"  local rec = ssub(OPS, 9 + 48 * base, 8 + 48 * (base + nops))\n"
"  local pl = PL[rec]\n"
"  if pl == nil then pl = plan(rec, nops); PL[rec] = pl end\n"
"  fres = pl\n"
   /* the check, as the general loop's: every operation sees the states as the part found them */
"  if pl then\n"
"    for i = 1, nops do\n"
"      local s, key = pl[i], KEYS[ki + i - 1]\n"
"      local v, t = sv[key], 0\n"
"      if v then\n"
"        if #v ~= s[2] or ssub(v, 1, 26) ~= s[3] then fres = false; break end\n"
"        local c\n"
"        t = DUP and PT[key]\n"
"        if t then c = PC[key] else t, c = sunpack('<I8I4', v, 27) end\n"
"        if t >= s[1] or c >= 4294967295 then fres = false; break end\n"
"        X[2 * nops + i] = c\n"
"      elseif v == nil or s[1] <= 0 then fres = false; break end\n"
"      X[i], X[nops + i] = t, v\n"
"    end\n"
"  end\n"
   /* the count, as sadd's: in place, or a new state. A key no other operation of the call has is counted at once
    * from the numbers its check read; a key an earlier operation of the part made anew is counted on in it if it
    * has this shape, else made anew again */
"  if fres then\n"
"    for i = 1, nops do\n"
"      local s, key = pl[i], KEYS[ki]\n"
"      local v = sv[key]\n"
"      if v and not (DUP and DUP[key]) then\n"
"        rcall('SETRANGE', key, '26', spack('<I8I4', X[i] + 1, X[2 * nops + i] + 1))\n"
"      elseif v and (v == X[nops + i] or (#v == s[2] and ssub(v, 1, 26) == s[3])) then\n"
"        local t, c = PT[key], PC[key]\n"
"        if not t then t, c = sunpack('<I8I4', v, 27) end\n"
"        if c < 4294967295 then PT[key], PC[key] = t + 1, c + 1; pend = true end\n"
"      else\n"
"        rcall('SET', key, s[4], 'PX', s[5])\n"
"        sv[key] = s[4]\n"
"        if DUP then PT[key], PC[key] = nil, nil end\n"
"      end\n"
"      X[i] = X[i] + 1\n"
"      ki = ki + 1\n"
"    end\n"
"    local f = rfmts[-nops]\n"
"    if not f then f = '<i8i8' .. string.rep('i8', nops); rfmts[-nops] = f end\n"
"    fres = spack(f, -2, now, unpack(X, 1, nops))\n"
"  end\n"
"end\n"
"if fres then\n"
"  if not outs then\n"
"    if pend then flush() end\n"
"    return fres\n"
"  end\n"
"  outs[part] = fres\n"
"else\n"
"if pend then flush() end\n"
/* the reply (2 + 5 per operation, then the several-window tails), made at its size for up to 4 operations
 * (a table that grows is copied at each power of two) and cut after its last number by a nil */
"local res\n"
"if nops <= 4 then\n"
"  res = {-1, now, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1}\n"
"else\n"
"  res = {-1, now}\n"
"  for i = 0, nops - 1 do\n"
"    local r = 3 + i * 5\n"
"    res[r], res[r + 1], res[r + 2], res[r + 3], res[r + 4] = 0, 0, 0, 0, -1\n"
"  end\n"
"end\n"
"local nres = 2 + 5 * nops\n"
"local ops, W = OPS0, W0\n"
"local denied = -1\n"
"local tail = nil\n"
"if slow then tail = {} end\n"
"for i = 0, nops - 1 do\n"
"  local typ, p1, p2, p3, p4, fl = sunpack('<i8i8i8i8i8i8', OPS, 9 + 48 * (base + i))\n"
"  local dst = fl >= 32\n"
"  if dst then fl = fl - 32 end\n"
"  local nw, dry = fl % 16, fl >= 16\n"
"  local ws = nil\n"
"  if nw > 1 then\n"
"    ws = {{p1, p2, p3}}\n"
"    for j = 2, nw do\n"
"      ws[j] = {ARGV[wi] + 0, ARGV[wi + 1] + 0, ARGV[wi + 2] + 0}\n"
"      wi = wi + 3\n"
"    end\n"
"  end\n"
"  local key = KEYS[ki]\n"
"  ki = ki + 1\n"
"  local r = 3 + i * 5\n"
"  local fp, d6 = nil, nil\n"
"  local v, head, total, c0, exp, b\n"
"  if dst then fp = ARGV[oi]; oi = oi + 1 end\n"
"  if typ == 4 then\n"
"    local key2 = KEYS[ki]\n"
"    ki = ki + 1\n"
"    sv[key2] = nil\n"
"    if denied < 0 then\n"
"      local g, retry = grey(key, key2, p1, p2, p3, p4, now)\n"
"      res[r + 3], res[r + 2] = g, retry\n"
"      if g >= 3 then res[r] = 1 elseif not dry then denied = i end\n"
"    end\n"
"  elseif denied >= 0 then\n"
"  elseif (typ == 1 or typ == 2) and dst then\n"
"    local ds = dload(key, p1, p3, now)\n"
"    local ok, n, retry, sn = dcheck(ds, fp, p1, p2, p3, now)\n"
"    res[r], res[r + 1], res[r + 2], res[r + 3] = ok, n, retry, sn\n"
"    d6 = {nil, fp}\n"
"    if typ == 1 and ok == 0 and not dry then denied = i end\n"
"  elseif (typ == 1 or typ == 2) and ws then\n"
"    local ok, tot, ret, which = mcheck(ws, mget(key, ws, now), now)\n"
"    res[r], res[r + 1], res[r + 2] = ok, tot[which], ret[which]\n"
"    tail[i] = {tot, ret}\n"
"    if typ == 1 and ok == 0 and not dry then denied = i end\n"
"  elseif typ == 1 or typ == 2 then\n"
"    v = sv[key]\n"
     /* sload inline when the call's MGET read the key: a function call costs ~600 instructions */
"    if v == nil or (v and #v ~= 38 + 4 * p3) then v, head, total, c0, exp = sload(key, p1, p3, now)\n"
"    elseif v then\n"
"      local vper, vk\n"
"      head, vper, vk, exp, total, c0 = sunpack(SH, v)\n"
"      if vper ~= p1 or vk ~= p3 or exp <= now then v, head, total, c0, exp = sload(key, p1, p3, now) end\n"
"    end\n"
"    local m = bns[p1 * 65536 + p3] or bnow(p1, p3)\n"
"    b = m[1]\n"
     /* the usual answers without scheck: a state whose head is now's bucket, or none */
"    if v and head >= b and total < p2 then res[r], res[r + 1] = 1, total\n"
"    elseif not v and p2 > 0 then res[r] = 1\n"
"    else\n"
"      local ok, n, retry = scheck(p1, p2, p3, now, b, v, head, total)\n"
"      res[r], res[r + 1], res[r + 2] = ok, n, retry\n"
"      if typ == 1 and ok == 0 and not dry then denied = i end\n"
"    end\n"
"    v = v or false\n"
"  elseif typ == 3 then\n"
"    res[r] = rcall('DEL', key)\n"
"    sv[key] = false\n"
"    if mseen then mseen[key] = nil end\n"
"  elseif typ == 9 and ws then\n"
"    mundo(key, ws, p4, now)\n"
"    res[r] = 1\n"
"  elseif typ == 9 then\n"
"    sundo(key, p1, p3, p4, now)\n"
"    res[r] = 1\n"
"  end\n"
"  if typ >= 16 then\n"
"    local operand, num = ARGV[oi], ARGV[oi + 1]\n"
"    oi = oi + 2\n"
"    if denied < 0 then res[r], res[r + 1] = kv(typ, key, operand, num, p2, p3 == 1) end\n"
"  end\n"
   /* a key that a slow operation read or wrote is read again by the next one-window operation */
"  if slow and (ws or dst or typ >= 16 or typ == 4) then sv[key] = nil end\n"
   /* what the count needs: a table for a slow operation; for a one-window count, true and 8 numbers in W */
"  if ws or d6 then ops[i + 1] = {typ, key, p1, p3, ws, d6}\n"
"  elseif typ == 1 then\n"
"    ops[i + 1] = true\n"
"    local o = 8 * i\n"
"    W[o + 1], W[o + 2], W[o + 3], W[o + 4], W[o + 5], W[o + 6], W[o + 7], W[o + 8] = key, p1, p3, v, head, total, c0, exp\n"
"  else ops[i + 1] = false end\n"
"end\n"
"if denied < 0 and commit then\n"
"  for i = 0, nops - 1 do\n"
"    local op = ops[i + 1]\n"
"    local r = 3 + i * 5\n"
     /* a dry-run window that would refuse is not counted, as if it had refused */
"    if op == true then\n"
"      if res[r] == 1 then\n"
         /* the state the check read, unless an earlier operation of this call wrote the key since */
"        local o = 8 * i\n"
"        local key, per, k, v = W[o + 1], W[o + 2], W[o + 3], W[o + 4]\n"
"        local m = bns[per * 65536 + k]\n"
"        if sv[key] == v then\n"
"          local head, c0 = W[o + 5], W[o + 7]\n"
          /* sadd's first case inline: the same bucket and expiry */
"          if v and m[1] <= head and m[2] == W[o + 8] and c0 < 4294967295 then\n"
"            rcall('SETRANGE', key, '26', spack('<I8I4', W[o + 6] + 1, c0 + 1))\n"
"            sv[key] = nil\n"
"            res[r + 4] = head\n"
"          else\n"
"            res[r + 4] = sadd(key, per, k, now, m[1], m[2], v, head, W[o + 6], c0, W[o + 8])\n"
"          end\n"
"        else\n"
"          local v, head, total, c0, exp = sload(key, per, k, now)\n"
"          res[r + 4] = sadd(key, per, k, now, m[1], m[2], v, head, total, c0, exp)\n"
"        end\n"
"        res[r + 1] = res[r + 1] + 1\n"
"      end\n"
"    elseif not op then\n"
"    elseif op[1] == 1 and res[r] == 1 and op[6] then\n"
"      dadd(op[2], dload(op[2], op[3], op[4], now), op[6][2], op[3], op[4], now)\n"
"      sv[op[2]] = nil\n"
"      if res[r + 3] == 0 then res[r + 1] = res[r + 1] + 1 end\n"
"    elseif op[1] == 1 and res[r] == 1 and op[5] then\n"
"      madd(op[2], op[5], now)\n"
"      sv[op[2]] = nil\n"
"      res[r + 4] = now\n"
"      res[r + 1] = res[r + 1] + 1\n"
"      for j = 1, #op[5] do tail[i][1][j] = tail[i][1][j] + 1 end\n"
"    end\n"
"  end\n"
"end\n"
/* each several-window operation's windows: total and retry_ms of each, after the fixed part */
"if slow then\n"
"  for i = 0, nops - 1 do\n"
"    local op = ops[i + 1]\n"
"    local ws = op and op ~= true and op[5]\n"
"    if ws and (op[1] == 1 or op[1] == 2) then\n"
"      for j = 1, #ws do\n"
"        if tail[i] then res[nres + 1] = tail[i][1][j]; res[nres + 2] = tail[i][2][j]\n"
"        else res[nres + 1] = 0; res[nres + 2] = 0 end\n"
"        nres = nres + 2\n"
"      end\n"
"    end\n"
"  end\n"
"end\n"
"res[1] = denied\n"
"res[nres + 1] = nil\n"
/* a call of one-window operations only (the usual): the reply is its numbers packed, "<i8" each (a table of
 * numbers costs Redis ~600 instructions a number to convert, 22 numbers for a request of 4 limits; a string
 * one copy); otherwise (a kv operation's value is a string) the table */
"if not slow then\n"
"  local f = rfmts[nres]\n"
"  if not f then f = '<' .. string.rep('i8', nres); rfmts[nres] = f end\n"
"  res = spack(f, unpack(res, 1, nres))\n"
"end\n"
/* one part: its reply; several: an array of their replies */
"if not outs then return res end\n"
"outs[part] = res\n"
"end\n"
"base = base + nops\n"
"end\n"
"if pend then flush() end\n"
"return outs\n";
/* clang-format on */

_Static_assert(STORE_KV_GET == 16 && STORE_KV_SET == 17 && STORE_KV_INCR == 18 && STORE_LOCK == 19 &&
                   STORE_UNLOCK == 20 && STORE_RENEW == 21,
               "the script knows the kv operation types by number");
_Static_assert(STORE_WINDOW == 1 && STORE_PEEK == 2 && STORE_DEL == 3 && STORE_GREYLIST == 4,
               "the script knows the operation types by number");

/* redis_fnv1a64 - FNV-1a 64 */
uint64_t redis_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 14695981039346656037ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* crc16_table - the CRC of each byte value (polynomial 0x1021), a byte at a time instead of a bit */
static const uint16_t crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
    0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
    0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
    0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
    0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
    0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
    0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
    0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
    0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
    0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
    0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
    0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
    0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
    0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
    0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
    0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
    0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

/* redis_crc16 - CRC16-CCITT XModem (polynomial 0x1021, init 0), as Redis Cluster's keyHashSlot computes it */
uint16_t redis_crc16(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint16_t crc = 0;

    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ p[i]) & 0xff]);
    return crc;
}

/* redis_slot - Redis Cluster's keyHashSlot: the bytes between the first { and the next } if not empty */
uint16_t redis_slot(const void *name, size_t len)
{
    const unsigned char *k = name;
    size_t s, e;

    for (s = 0; s < len && k[s] != '{'; s++)
        ;
    if (s < len) {
        for (e = s + 1; e < len && k[e] != '}'; e++)
            ;
        if (e < len && e != s + 1)
            return redis_crc16(k + s + 1, e - s - 1) & (REDIS_SLOTS - 1);
    }
    return redis_crc16(k, len) & (REDIS_SLOTS - 1);
}

/* redis_op_identity - the bytes that place an operation */
const unsigned char *redis_op_identity(const store_batch *b, const store_op *op, size_t *len)
{
    if (op->type == STORE_GREYLIST) {
        *len = op->key2_len;
        return batch_key2(b, op);
    }
    *len = op->key_len;
    return batch_key(b, op);
}

/* redis_tag - "{" 16 hex "}" */
void redis_tag(uint64_t h, char out[REDIS_TAG_LEN])
{
    static const char hex[] = "0123456789abcdef";

    out[0] = '{';
    for (int i = 0; i < 16; i++)
        out[1 + i] = hex[(h >> (60 - 4 * i)) & 15];
    out[17] = '}';
}

/* args_reserve - room for n more bytes and one more argument */
static void args_reserve(redis_args *a, size_t n)
{
    if (a->len + n > a->cap) {
        while (a->len + n > a->cap)
            a->cap = a->cap ? a->cap * 2 : 1024;
        a->buf = fg_realloc(a->buf, a->cap);
    }
    if (a->argc == a->argv_cap) {
        a->argv_cap = a->argv_cap ? a->argv_cap * 2 : 64;
        a->off = fg_realloc(a->off, a->argv_cap * sizeof *a->off);
        a->lens = fg_realloc(a->lens, a->argv_cap * sizeof *a->lens);
        a->argv = fg_realloc(a->argv, a->argv_cap * sizeof *a->argv);
    }
}

/* args_add - one argument from parts: a prefix (may be empty) and bytes */
static void args_add(redis_args *a, const void *pre, size_t plen, const void *data, size_t len)
{
    args_reserve(a, plen + len);
    a->off[a->argc] = a->len;
    a->lens[a->argc] = plen + len;
    if (plen)
        memcpy(a->buf + a->len, pre, plen);
    if (len)
        memcpy(a->buf + a->len + plen, data, len);
    a->len += plen + len;
    a->argc++;
}

/* args_num - one decimal argument (without printf: a script call has some thirty of them) */
static void args_num(redis_args *a, long long v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    args_add(a, NULL, 0, p, (size_t)(tmp + sizeof tmp - p));
}

/* args_key - the Redis name of a key whose identity's hash is h */
static void args_key(redis_args *a, uint64_t h, const unsigned char *key, size_t len)
{
    char tag[REDIS_TAG_LEN];
    redis_tag(h, tag);
    args_add(a, tag, sizeof tag, key, len);
}

/* multi_windows - the windows of a several-window operation, 0 for the one-window form (its value is
 * the same as a one-window record) */
static unsigned multi_windows(const store_op *op)
{
    return op->nwin > 1 && (op->type == STORE_WINDOW || op->type == STORE_PEEK) ? op->nwin : 0;
}

/* distinct_op - an operation that counts distinct values (never a compensation: none is sent for them) */
static int distinct_op(const store_op *op, int type)
{
    return (op->flags & STORE_DISTINCT) && (type == STORE_WINDOW || type == STORE_PEEK);
}

/* ops_slow - a part with an operation other than a one-window WINDOW, PEEK, DEL or UNDO: the script makes the
 * functions of the other operations (greylist, kv, several windows, distinct counts) only for such a part */
static int ops_slow(const store_batch *b, const uint32_t *idx, size_t n, const uint8_t *types)
{
    for (size_t i = 0; i < n; i++) {
        const store_op *op = &b->ops[idx[i]];
        int type = types ? types[idx[i]] : op->type;
        if (!(type == STORE_WINDOW || type == STORE_PEEK || type == STORE_DEL || type == STORE_UNDO) ||
            multi_windows(op) || distinct_op(op, type))
            return 1;
    }
    return 0;
}

/* put_i64 - v as 8 bytes, little-endian (two's complement) */
static unsigned char *put_i64(unsigned char *p, long long v)
{
    unsigned long long u = (unsigned long long)v;
    for (int i = 0; i < 8; i++)
        *p++ = (unsigned char)(u >> (8 * i));
    return p;
}

/* redis_args_script - the script call for a part of a batch */
void redis_args_script(redis_args *a, const char *cmd, const char *body, const store_batch *b, const uint32_t *idx,
                       size_t n, const uint8_t *types, const int64_t *bucket, uint64_t now_ms, int commit)
{
    redis_part p = {b, idx, n, types, bucket, commit, NULL, 0};
    redis_args_parts(a, cmd, body, &p, 1, now_ms);
}

/* redis_args_parts - one script call for the parts of several batches, each run as a call of its own */
void redis_args_parts(redis_args *a, const char *cmd, const char *body, const redis_part *parts, size_t np,
                      uint64_t now_ms)
{
    size_t nkeys = 0, id_len, n = 0;
    uint64_t deadline = 0;
    int slow = 0;

    a->len = 0;
    a->argc = 0;
    for (size_t pi = 0; pi < np; pi++) {
        const redis_part *pt = &parts[pi];
        for (size_t i = 0; i < pt->n; i++)
            nkeys += pt->b->ops[pt->idx[i]].type == STORE_GREYLIST ? 2 : 1;
        n += pt->n;
        slow |= ops_slow(pt->b, pt->idx, pt->n, pt->types);
        if (pt->deadline_ms && (!deadline || pt->deadline_ms < deadline))
            deadline = pt->deadline_ms;
    }
    args_add(a, NULL, 0, cmd, strlen(cmd));
    args_add(a, NULL, 0, body, strlen(body));
    args_num(a, (long long)nkeys);
    for (size_t pi = 0; pi < np; pi++) {
        const redis_part *pt = &parts[pi];
        for (size_t i = 0; i < pt->n; i++) {
            const store_op *op = &pt->b->ops[pt->idx[i]];
            uint64_t h;
            if (pt->hash) {
                h = pt->hash[pt->idx[i]];
            } else {
                const unsigned char *id = redis_op_identity(pt->b, op, &id_len);
                h = redis_fnv1a64(id, id_len);
            }
            args_key(a, h, batch_key(pt->b, op), op->key_len);
            if (op->type == STORE_GREYLIST)
                args_key(a, h, batch_key2(pt->b, op), op->key2_len);
        }
    }
    /* now and the deadline, "<i8i8" */
    unsigned char clock[16];
    put_i64(put_i64(clock, (long long)now_ms), (long long)deadline);
    args_add(a, NULL, 0, clock, sizeof clock);
    if (np == 1) {
        args_num(a, parts[0].commit);
        args_num(a, (long long)parts[0].n);
    } else {
        /* a commit flag per part, then the parts' sizes, comma-separated */
        char flags[REDIS_PARTS_MAX];
        for (size_t pi = 0; pi < np; pi++)
            flags[pi] = (char)('0' + parts[pi].commit);
        args_add(a, NULL, 0, flags, np);
        args_reserve(a, 21 * np);
        size_t at = a->len;
        for (size_t pi = 0; pi < np; pi++) {
            char tmp[24];
            int len = snprintf(tmp, sizeof tmp, pi ? ",%zu" : "%zu", parts[pi].n);
            memcpy(a->buf + a->len, tmp, (size_t)len);
            a->len += (size_t)len;
        }
        a->off[a->argc] = at;
        a->lens[a->argc] = a->len - at;
        a->argc++;
    }
    /* the operations' numbers: one argument of 8 + 48 n bytes, written in place */
    size_t blen = 8 + REDIS_OP_BYTES * n;
    args_reserve(a, blen);
    unsigned char *p = (unsigned char *)a->buf + a->len;
    a->off[a->argc] = a->len;
    a->lens[a->argc] = blen;
    a->len += blen;
    a->argc++;
    p = put_i64(p, slow);
    for (size_t pi = 0; pi < np; pi++) {
        const redis_part *pt = &parts[pi];
        for (size_t i = 0; i < pt->n; i++) {
            const store_op *op = &pt->b->ops[pt->idx[i]];
            int type = pt->types ? pt->types[pt->idx[i]] : op->type;
            long long q[4] = {0, 0, 0, 0};
            if (type >= STORE_KV_GET) {
                q[1] = (long long)op->ttl_ms; /* the amount of an INCR is an operand, in decimal */
                q[2] = op->flags & STORE_NX ? 1 : 0;
            } else if (type == STORE_GREYLIST) {
                q[0] = (long long)op->grey.delay_ms;
                q[1] = (long long)op->grey.retry_window_ms;
                q[2] = (long long)op->grey.pass_lifetime_ms;
                q[3] = op->grey.auto_allow;
            } else if (type != STORE_DEL) {
                unsigned nw;
                const window_spec *w = op_windows(op, &nw);
                q[0] = (long long)w[0].per_ms;
                q[1] = w[0].count;
                q[2] = w[0].k;
                q[3] = type == STORE_UNDO && pt->bucket ? pt->bucket[pt->idx[i]] : 0;
            }
            p = put_i64(p, type);
            for (int j = 0; j < 4; j++)
                p = put_i64(p, q[j]);
            p = put_i64(p,
                        (type == STORE_WINDOW || type == STORE_PEEK || type == STORE_UNDO ? multi_windows(op) : 0) |
                            (op->flags & STORE_DRY ? 16 : 0) | (distinct_op(op, type) ? 32 : 0));
        }
    }
    /* the windows after the first of the several-window operations */
    for (size_t pi = 0; pi < np; pi++) {
        const redis_part *pt = &parts[pi];
        for (size_t i = 0; i < pt->n; i++) {
            const store_op *op = &pt->b->ops[pt->idx[i]];
            int type = pt->types ? pt->types[pt->idx[i]] : op->type;
            if (!(type == STORE_WINDOW || type == STORE_PEEK || type == STORE_UNDO) || !multi_windows(op))
                continue;
            for (unsigned w = 1; w < op->nwin; w++) {
                args_num(a, (long long)op->wins[w].per_ms);
                args_num(a, op->wins[w].count);
                args_num(a, op->wins[w].k);
            }
        }
    }
    /* the operands of the kv operations (a value, a lock's token, then the amount of an INCR in decimal) and
     * the fingerprints of the distinct ones (8 bytes, little-endian), in order */
    for (size_t pi = 0; pi < np; pi++) {
        const redis_part *pt = &parts[pi];
        for (size_t i = 0; i < pt->n; i++) {
            const store_op *op = &pt->b->ops[pt->idx[i]];
            if (op->type >= STORE_KV_GET) {
                args_add(a, NULL, 0, batch_key2(pt->b, op), op->key2_len);
                args_num(a, op->num);
            }
            if (distinct_op(op, pt->types ? pt->types[pt->idx[i]] : op->type)) {
                unsigned char fp[8];
                for (int k = 0; k < 8; k++)
                    fp[k] = (unsigned char)(op->fp >> (8 * k));
                args_add(a, NULL, 0, fp, sizeof fp);
            }
        }
    }
    for (size_t i = 0; i < a->argc; i++)
        a->argv[i] = a->buf + a->off[i];
}

/* redis_args_release - free the buffers */
void redis_args_release(redis_args *a)
{
    fg_free(a->buf);
    fg_free(a->off);
    fg_free(a->lens);
    fg_free(a->argv);
    memset(a, 0, sizeof *a);
}

/* le64 - a "<i8" of the packed reply */
static int64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v;
}

/* redis_reply_time - the time a reply says its script ran at */
int redis_reply_time(const redisReply *r, int64_t *now_ms)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= REDIS_REPLY_HEAD && r->element[1]->type == REDIS_REPLY_INTEGER)
        *now_ms = r->element[1]->integer;
    else if (r->type == REDIS_REPLY_STRING && r->len >= 8 * REDIS_REPLY_HEAD)
        *now_ms = le64((const unsigned char *)r->str + 8);
    else if (r->type == REDIS_REPLY_ERROR && r->len > 5 && !memcmp(r->str, "LATE ", 5))
        *now_ms = strtoll(r->str + 5, NULL, 10);
    else
        return -1;
    return 0;
}

/* op_apply - an operation's five numbers: admitted, total, retry_ms, greylist result (of a distinct operation:
 * seen), and the bucket counted in (to *bucket, if not NULL) */
static void op_apply(store_op *op, const int64_t v[REDIS_REPLY_PER_OP], int64_t *bucket)
{
    op->admitted = v[0] != 0;
    op->peek.total = v[1] > 0 ? (uint64_t)v[1] : 0;
    op->peek.retry_ms = v[2] > 0 ? (uint64_t)v[2] : 0;
    op->grey_result = (uint8_t)(v[3] > 0 && v[3] < 256 ? v[3] : 0);
    if (op->flags & STORE_DISTINCT) {
        op->seen = op->grey_result != 0;
        op->grey_result = 0;
    }
    if (bucket)
        *bucket = v[4];
    op->which = 0;
    op->wpeek[0] = op->peek;
}

/* reply_apply_fast - a fast part's reply (the script's fast path): -2, now, then each operation's total after
 * its count, "<i8" each; every operation was admitted and counted in now's bucket. 1, or -1 for another shape */
static int reply_apply_fast(const unsigned char *p, size_t len, store_batch *b, const uint32_t *idx, size_t n,
                            int64_t *bucket, long *denied)
{
    if (len != 8 * (2 + n))
        return -1;
    int64_t now = le64(p + 8);
    if (now < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        store_op *op = &b->ops[idx[i]];
        int64_t v[REDIS_REPLY_PER_OP] = {1, le64(p + 16 + 8 * i), 0, 0,
                                         (int64_t)window_bucket(&op->win, (uint64_t)now)};
        op_apply(op, v, bucket ? &bucket[idx[i]] : NULL);
    }
    *denied = -1;
    return 1;
}

/* reply_apply_packed - the reply of a call of one-window operations only: its 2 + 5n numbers, "<i8" each, or
 * the fast form */
static int reply_apply_packed(const redisReply *r, store_batch *b, const uint32_t *idx, size_t n, int64_t *bucket,
                              long *denied)
{
    const unsigned char *p = (const unsigned char *)r->str;
    int fast = b->commit; /* what the fast path answers: a committed batch's one-window counts (type 1, flags 0
                           * in ARGV[4]) of a window with a length and buckets (window_bucket divides) */

    for (size_t i = 0; i < n; i++) {
        const store_op *op = &b->ops[idx[i]];
        if (op->type >= STORE_KV_GET || multi_windows(op) || (op->flags & STORE_DISTINCT))
            return -1; /* those have the table reply */
        fast &= op->type == STORE_WINDOW && !(op->flags & STORE_DRY) && op->win.per_ms && op->win.k;
    }
    if (r->len >= 8 && le64(p) == -2)
        return fast ? reply_apply_fast(p, r->len, b, idx, n, bucket, denied) : -1;
    if (r->len != 8 * (REDIS_REPLY_HEAD + REDIS_REPLY_PER_OP * n))
        return -1;
    int64_t d = le64(p);
    if (d < -1 || d >= (int64_t)n)
        return -1;
    *denied = d < 0 ? -1 : (long)idx[d];
    for (size_t i = 0; i < n; i++) {
        const unsigned char *e = p + 8 * (REDIS_REPLY_HEAD + REDIS_REPLY_PER_OP * i);
        int64_t v[REDIS_REPLY_PER_OP];
        for (size_t k = 0; k < REDIS_REPLY_PER_OP; k++)
            v[k] = le64(e + 8 * k);
        op_apply(&b->ops[idx[i]], v, bucket ? &bucket[idx[i]] : NULL);
    }
    return 0;
}

/* redis_reply_apply - copy a script reply into the ops */
int redis_reply_apply(const redisReply *r, store_batch *b, const uint32_t *idx, size_t n, int64_t *bucket,
                      long *denied)
{
    size_t fixed = REDIS_REPLY_HEAD + REDIS_REPLY_PER_OP * n, extra = 0;

    for (size_t i = 0; i < n; i++)
        extra += 2 * multi_windows(&b->ops[idx[i]]);
    if (r && r->type == REDIS_REPLY_STRING)
        return reply_apply_packed(r, b, idx, n, bucket, denied);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != fixed + extra)
        return -1;
    for (size_t i = 0; i < r->elements; i++) {
        /* a kv operation's value is a string where a window's total is */
        size_t at = i >= REDIS_REPLY_HEAD ? (i - REDIS_REPLY_HEAD) % REDIS_REPLY_PER_OP : 0;
        int kv = i >= REDIS_REPLY_HEAD && i < fixed &&
                 b->ops[idx[(i - REDIS_REPLY_HEAD) / REDIS_REPLY_PER_OP]].type >= STORE_KV_GET;
        if (r->element[i]->type != REDIS_REPLY_INTEGER && !(kv && at == 1 && r->element[i]->type == REDIS_REPLY_STRING))
            return -1;
    }
    long long d = r->element[0]->integer;
    if (d < -1 || d >= (long long)n)
        return -1;
    *denied = d < 0 ? -1 : (long)idx[d];
    for (size_t i = 0; i < n; i++) {
        store_op *op = &b->ops[idx[i]];
        redisReply **e = r->element + REDIS_REPLY_HEAD + REDIS_REPLY_PER_OP * i;
        int64_t v[REDIS_REPLY_PER_OP];
        for (size_t k = 0; k < REDIS_REPLY_PER_OP; k++)
            v[k] = e[k]->integer;
        op_apply(op, v, bucket ? &bucket[idx[i]] : NULL);
        unsigned nw = multi_windows(op);
        if (nw) {
            /* each window's total and retry; the deciding window by the rule every store shares */
            for (unsigned w = 0; w < nw; w++, fixed += 2) {
                long long t = r->element[fixed]->integer, rt = r->element[fixed + 1]->integer;
                op->wpeek[w].total = t > 0 ? (uint64_t)t : 0;
                op->wpeek[w].retry_ms = rt > 0 ? (uint64_t)rt : 0;
            }
            unsigned which = 0;
            if (!op->admitted) /* an admitted op's totals may include the event just counted */
                windows_decide(op->wins, nw, op->wpeek, &which);
            op->which = (uint8_t)which;
            op->peek = op->wpeek[which];
        }
        if (op->type >= STORE_KV_GET && e[1]->type == REDIS_REPLY_STRING) {
            op->peek.total = 0;
            if (op->type == STORE_KV_GET && op->admitted) {
                batch_set_result(b, op, e[1]->str, e[1]->len);
            } else if (op->type == STORE_KV_INCR && op->admitted) {
                int64_t v;
                const char *why;
                if (num_parse_i64(e[1]->str, e[1]->len, &v, &why) < 0)
                    return -1;
                op->num = v;
            }
        }
    }
    return 0;
}
