-- wrk: Dovecot's auth policy check, POST /?command=allow, 100,000 addresses and 10,000 logins
math.randomseed(7)
request = function()
  local n = math.random(0, 99999)
  local body = string.format('{"device_id":"","login":"user%d@example.com","protocol":"imap","pwhash":"%03x",' ..
    '"remote":"10.%d.%d.%d","session_id":"YEMwef9g9OJ/AAAB","tls":false}',
    math.random(0, 9999), math.random(0, 4095), math.floor(n / 65536), math.floor(n / 256) % 256, n % 256)
  return wrk.format("POST", "/?command=allow", {["Content-Type"] = "application/json"}, body)
end
