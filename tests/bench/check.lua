-- wrk: nginx's auth_request subrequest, GET /check/http, from 100,000 client addresses and 1,000 URIs
math.randomseed(7)
request = function()
  local n = math.random(0, 99999)
  local ip = string.format("10.%d.%d.%d", math.floor(n / 65536), math.floor(n / 256) % 256, n % 256)
  return wrk.format("GET", "/check/http", {
    ["X-Real-IP"] = ip,
    ["X-Original-Method"] = "GET",
    ["X-Original-URI"] = string.format("/page/%d.html", math.random(0, 999)),
  })
end
