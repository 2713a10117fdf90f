-- wrk script for bench/load.py: one GraphQL scenario per run (SCENARIO), every response
-- checked (HTTP 200, no "errors", the requested id in the answer). The requested id travels
-- as X-Request-Id, which the server returns on the response it belongs to, so responses can
-- be matched to requests with any number of connections per thread.

local scenario = os.getenv("SCENARIO")
local rows = tonumber(os.getenv("ROWS"))
local admin = "Bearer " .. os.getenv("ADMIN_TOKEN")
local password = os.getenv("PASSWORD")
local data_dir = os.getenv("BENCH_DATA")

local threads = {}

function setup(thread)
  thread:set("number", #threads + 1)
  table.insert(threads, thread)
end

local function lines(path)
  local found = {}
  for line in io.lines(path) do
    local key, value = line:match("^(%S+) (%S+)$")
    table.insert(found, { key, value })
  end
  return found
end

function init(args)
  math.randomseed(os.time() * 1000 + number)
  bad, checked, counter, shed, backoffs, retry_after = 0, 0, 0, 0, 0, 1
  if scenario == "me" then tokens = lines(data_dir .. "/tokens.txt") end
  if scenario == "login" then logins = lines(data_dir .. "/logins.txt") end
end

local function customer_id(n)
  return string.format("00000000-0000-7000-8000-%012x", n)
end

local function post(authorization, query, variables)
  local headers = { ["Content-Type"] = "application/json", ["X-Request-Id"] = expected }
  if authorization then headers["Authorization"] = authorization end
  return wrk.format("POST", "/graphql", headers,
    string.format('{"query":"%s","variables":%s}', query, variables))
end

local READ = "query($id: ID!) { customer(customerId: $id) { customerId name email phone address { city country } createdAt } }"
local ME = "{ me { customerId name email phone address { city country } createdAt } }"
local CREATE = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customerId } }"
local UPDATE = "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { customerId phone } } }"
local LOGIN = "mutation($email: String!, $password: String!) { authenticateCustomer(email: $email, password: $password) { customerId token } }"

local requests = {
  read = function()
    expected = customer_id(math.random(rows))
    return post(admin, READ, string.format('{"id":"%s"}', expected))
  end,
  me = function()
    local pick = tokens[math.random(#tokens)]
    expected = pick[1]
    return post("Bearer " .. pick[2], ME, "{}")
  end,
  create = function()
    counter = counter + 1
    expected = string.format("create-%d-%d", number, counter)
    local email = string.format("load-%d-%d-%d@bench.example", number, counter, math.random(1000000000))
    return post(admin, CREATE, string.format(
      '{"input":{"name":"Load Test %d","email":"%s","phone":"+1 555 0100","address":{"city":"Austin","country":"US"}}}',
      counter, email))
  end,
  update = function()
    expected = customer_id(math.random(rows))
    return post(admin, UPDATE, string.format(
      '{"input":{"customerId":"%s","phone":"+1 555 %04d"}}', expected, math.random(9999)))
  end,
  login = function()
    local pick = logins[math.random(#logins)]
    expected = pick[1]
    return post(nil, LOGIN, string.format('{"email":"%s","password":"%s"}', pick[2], password))
  end,
}

function request()
  if scenario == "mix" then
    return (math.random() < 0.9) and requests.read() or requests.update()
  end
  return requests[scenario]()
end

-- A login refused as busy (SERVICE_UNAVAILABLE: bcrypt has no room) is shed load, not an
-- error; the client waits `retryAfter` before its next login, as real clients should.
function delay()
  if backoffs > 0 then
    backoffs = backoffs - 1
    return 1000 * retry_after
  end
  return 0
end

function response(status, headers, body)
  checked = checked + 1
  if scenario == "login" and body:find('"SERVICE_UNAVAILABLE"', 1, true) then
    shed = shed + 1
    backoffs = backoffs + 1
    retry_after = tonumber(body:match('"retryAfter":(%d+)')) or 1
    return
  end
  local id = headers["x-request-id"] or ""
  local wanted = id:match("^create%-") and '"customerId":"' or id
  if status ~= 200 or body:find('"errors"', 1, true) or id == "" or not body:find(wanted, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad, total_checked, total_shed = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
    total_checked = total_checked + thread:get("checked")
    total_shed = total_shed + thread:get("shed")
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f,"bad":%d,"checked":%d,"shed":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, total_bad, total_checked, total_shed,
    e.connect + e.read + e.write + e.status + e.timeout))
end
