// Drives the example app in headless Chromium against a running customer-api, with every
// request to any other host failing the test, and a screenshot of each step in $OUT:
// sign up, log in, `me`, a phone edit that shows without a refetch, a change made elsewhere
// that arrives over the WebSocket subscription, a token renewal after the access token
// expired, log out, and an admin paging through every customer. It reads
// the app's traffic to check that Apollo's persisted-query link and cache did the work.
//
//   API=http://127.0.0.1:8080/graphql APP_PORT=<free port, an allowed CORS origin>
//   ADMIN_TOKEN=<admin token> CUSTOMERS=<customers in the database before the test>
//   TOKEN_TTL_SECONDS=<the server's TOKEN_TTL> OUT=<screenshot folder> node test/app.test.mjs
//
// The Rust test `the_example_web_app_works_in_a_browser` runs it against a server of its own.
import { createServer } from 'node:http';
import { mkdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { chromium } from 'playwright-core';
import { buildApp } from '../build.mjs';

const { API, APP_PORT, ADMIN_TOKEN } = process.env;
const CUSTOMERS = Number(process.env.CUSTOMERS);
const TOKEN_TTL_SECONDS = Number(process.env.TOKEN_TTL_SECONDS);
const OUT = process.env.OUT ?? 'out';
if (!API || !APP_PORT || !ADMIN_TOKEN || !CUSTOMERS || !TOKEN_TTL_SECONDS) {
  console.error('API, APP_PORT, ADMIN_TOKEN, CUSTOMERS and TOKEN_TTL_SECONDS must be set');
  process.exit(2);
}
mkdirSync(OUT, { recursive: true });

const failures = [];
const fail = (message) => { failures.push(message); console.error('FAIL: ' + message); };
const ok = (message) => console.log('ok: ' + message);
const check = (condition, message, detail = '') => (condition ? ok(message) : fail(`${message} ${detail}`));

// The built app, served as any static host would.
const dist = await buildApp();
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };
const server = createServer((request, response) => {
  const path = new URL(request.url, 'http://x').pathname;
  const file = path === '/' ? 'index.html' : path.slice(1);
  if (!/^[\w.-]+$/.test(file)) { response.writeHead(404).end(); return; }
  try {
    const body = readFileSync(join(dist, file));
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch {
    response.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(Number(APP_PORT), '127.0.0.1', resolve));
const appOrigin = `http://127.0.0.1:${APP_PORT}`;
const apiOrigin = new URL(API).origin;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});
const page = await (await browser.newContext({ viewport: { width: 1000, height: 900 } })).newPage();

// The network: only the app's host and the API's; every GraphQL exchange is recorded.
const offHost = [];
const consoleLines = [];
const exchanges = [];
const sockets = [];
await page.route('**/*', (route) => {
  const origin = new URL(route.request().url()).origin;
  if (origin === appOrigin || origin === apiOrigin) return route.continue();
  offHost.push(route.request().url());
  return route.abort('blockedbyclient');
});
// When the app (re)subscribed over a WebSocket: a change is only pushed to a subscription
// that exists.
const subscribedAt = [];
page.on('websocket', (socket) => {
  sockets.push(socket.url());
  socket.on('framesent', ({ payload }) => {
    if (String(payload).includes('"type":"subscribe"')) subscribedAt.push(Date.now());
  });
  if (new URL(socket.url()).host !== new URL(apiOrigin).host) offHost.push(socket.url());
});
page.on('console', (m) => consoleLines.push(`[console.${m.type()}] ${m.text()}`));
page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
page.on('requestfinished', async (request) => {
  if (!request.url().startsWith(API)) return;
  const url = new URL(request.url());
  const sent = request.method() === 'POST' ? JSON.parse(request.postData() ?? '{}') : {
    operationName: url.searchParams.get('operationName'),
    query: url.searchParams.get('query') ?? undefined,
    extensions: JSON.parse(url.searchParams.get('extensions') ?? 'null') ?? undefined,
  };
  const response = await request.response();
  const body = await response.json().catch(() => null);
  exchanges.push({ at: Date.now(), method: request.method(), operation: sent.operationName, hashed: !!sent.extensions?.persistedQuery,
    withText: !!sent.query, status: response.status(), body });
});
const codes = (exchange) => (exchange.body?.errors ?? []).map((e) => e.extensions?.code);
const exchangesOf = (operation) => exchanges.filter((e) => e.operation === operation);
const settle = () => page.waitForTimeout(300); // the last response's 'requestfinished'
/// Waits until the app has subscribed since `since`, and the server counts the subscription
/// as listening (its `customer_api_live_subscriptions` gauge), so a change made next reaches it.
async function subscribedSince(since) {
  const deadline = Date.now() + 15000;
  const listening = async () => {
    const metrics = await fetch(`${apiOrigin}/metrics`).then((response) => response.text());
    return Number(metrics.match(/^customer_api_live_subscriptions (\d+)$/m)?.[1] ?? 0) >= 1;
  };
  while (!subscribedAt.some((at) => at >= since) || !(await listening())) {
    if (Date.now() > deadline) throw new Error('the app did not subscribe');
    await page.waitForTimeout(50);
  }
}

let step = 0;
const screenshot = async (name) => {
  const path = join(OUT, `${String(++step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log('screenshot: ' + path);
};
const statusIs = (text) => page.locator('#status').getByText(text).waitFor({ timeout: 15000 });

const email = `spa-${Date.now()}@example.io`;
const password = 'a long enough password';
try {
  await page.goto(`${appOrigin}/?api=${encodeURIComponent(API)}`);
  await screenshot('start');

  await page.fill('#signup-name', 'Grace Hopper');
  await page.fill('#signup-email', email);
  await page.fill('#signup-password', password);
  await page.click('#signup-form button');
  await statusIs(`Signed up as ${email}`);
  await screenshot('signed-up');
  ok('signed up (createCustomer without a token, across origins)');

  await page.fill('#login-email', email);
  await page.fill('#login-password', password);
  await page.click('#login-form button');
  await page.locator('#me-email').getByText(email).waitFor({ timeout: 15000 });
  await screenshot('logged-in');
  await settle();
  const [first, second] = exchangesOf('Me');
  check(first?.method === 'GET' && first.hashed && !first.withText && codes(first)[0] === 'PERSISTED_QUERY_NOT_FOUND',
    'Apollo sent `me` by hash alone over GET, and the server asked for the text', JSON.stringify(first));
  check(second?.hashed && second.withText && second.status === 200 && second.body?.data?.me?.email === email,
    'Apollo sent the text with the hash, and got `me`', JSON.stringify(second));

  const meRequests = exchangesOf('Me').length;
  await page.fill('#phone-input', '+1 555 0123');
  await page.click('#phone-form button');
  await page.locator('#me-phone').getByText('+1 555 0123').waitFor({ timeout: 15000 });
  await statusIs('Phone saved.');
  await screenshot('phone-edited');
  await settle();
  // Apollo hashes mutations too: the first UpdatePhone went by hash alone and was retried.
  const updates = exchangesOf('UpdatePhone').filter((e) => e.body?.data?.updateCustomer);
  check(updates.length === 1 && exchangesOf('Me').length === meRequests,
    'the edit showed in `me` from the mutation\'s answer: Apollo\'s default cache merged on `id`, no refetch',
    JSON.stringify({ updates: updates.length, meBefore: meRequests, meAfter: exchangesOf('Me').length }));

  // A change made elsewhere (here: an admin, over HTTP) arrives over the app's WebSocket
  // subscription and shows in `me`, again without asking for `me`.
  await subscribedSince(0);
  const meBeforeLive = exchangesOf('Me').length;
  const customerId = exchangesOf('Me').find((e) => e.body?.data?.me)?.body.data.me.customerId;
  const renamed = await fetch(API, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({
      query: 'mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { name } } }',
      variables: { input: { customerId, name: 'Grace Brewster Hopper' } },
    }),
  }).then((response) => response.json());
  check(renamed.data?.updateCustomer?.customer?.name === 'Grace Brewster Hopper', 'renamed by an admin, elsewhere',
    JSON.stringify(renamed));
  await page.locator('#me-name').getByText('Grace Brewster Hopper').waitFor({ timeout: 15000 });
  await screenshot('live-change');
  check(exchangesOf('Me').length === meBeforeLive && sockets.some((url) => url.startsWith(apiOrigin.replace(/^http/, 'ws'))),
    'the change arrived over the WebSocket subscription and showed in `me` without a refetch',
    JSON.stringify({ sockets, me: exchangesOf('Me').length - meBeforeLive }));

  // Past the access token's lifetime: the app renewed its tokens with the refresh token
  // before they expired (the server would have refused the next query, and ended the live
  // subscription), and reopened its WebSocket with the new token. A reload, and another
  // change made elsewhere, still reach the page.
  const before = exchanges.length;
  await page.waitForTimeout((TOKEN_TTL_SECONDS + 1) * 1000);
  await page.click('#reload-profile');
  await statusIs('Profile reloaded.');
  await settle();
  const renewal = exchanges.slice(before);
  const refreshed = renewal.filter((e) => e.operation === 'Refresh' && e.body?.data?.refreshSession?.token);
  const reloaded = renewal.filter((e) => e.operation === 'Me' && e.body?.data?.me?.email === email);
  check(refreshed.length >= 1 && reloaded.length >= 1 && renewal.every((e) => !codes(e).includes('UNAUTHENTICATED')),
    'the access token was renewed with the refresh token before it expired, and `me` reloaded',
    JSON.stringify(renewal.map((e) => [e.operation, e.status, codes(e)])));
  await subscribedSince(refreshed[0]?.at ?? Date.now());
  const renamedAgain = await fetch(API, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({
      query: 'mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { name } } }',
      variables: { input: { customerId, name: 'Rear Admiral Grace Hopper' } },
    }),
  }).then((response) => response.json());
  check(!renamedAgain.errors, 'renamed again, elsewhere', JSON.stringify(renamedAgain.errors));
  await page.locator('#me-name').getByText('Rear Admiral Grace Hopper').waitFor({ timeout: 15000 });
  await screenshot('token-renewed');
  ok('the subscription went on over a WebSocket opened with the renewed token');

  await page.click('#logout');
  await statusIs('Signed out.');
  await settle();
  const logout = exchangesOf('LogOut').at(-1);
  check(logout?.body?.data?.logout?.success === true, 'logged out (the session ended on the server)');
  await screenshot('logged-out');

  // Admin: every customer, page by page.
  await page.fill('#admin-token', ADMIN_TOKEN);
  await page.click('#admin-form button');
  await page.locator('#page-info').getByText('Page 1').waitFor({ timeout: 15000 });
  const seen = [];
  for (let pageNumber = 1; ; pageNumber++) {
    await page.locator('#page-info').getByText(`Page ${pageNumber}`).waitFor({ timeout: 15000 });
    seen.push(...await page.locator('#customers li').allTextContents());
    await screenshot(`customers-page-${pageNumber}`);
    if (await page.locator('#next-page').isDisabled()) break;
    await page.click('#next-page');
  }
  const expected = CUSTOMERS + 1;
  check(seen.length === expected && new Set(seen).size === expected && seen.some((s) => s.includes(email)),
    `paged through all ${expected} customers once each`, JSON.stringify(seen));
  await settle();
  const pages = exchangesOf('Customers');
  check(pages.slice(1).some((e) => e.hashed && !e.withText && e.status === 200 && e.body?.data),
    'later pages went by hash alone: the server kept the document', JSON.stringify(pages.map((e) => [e.withText, e.status])));
} catch (error) {
  fail(error.stack || String(error));
  await page.screenshot({ path: join(OUT, 'failure.png'), fullPage: true }).catch(() => {});
  console.error('exchanges: ' + JSON.stringify(exchanges.map((e) => [e.method, e.operation, e.status, codes(e)])));
}

check(offHost.length === 0, 'no request left the two origins', offHost.join(', '));
const errors = consoleLines.filter((line) => /pageerror|Refused|CORS|error/i.test(line));
check(errors.length === 0, 'no page or console errors', '\n  ' + errors.join('\n  '));
await browser.close();
server.close();
console.log(`${failures.length ? 'FAILED' : 'PASSED'}: ${failures.length} failure(s)`);
process.exit(failures.length ? 1 : 0);
