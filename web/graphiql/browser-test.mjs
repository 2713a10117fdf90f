// Proves the server's GraphiQL page works with no network: loads it from the running server in
// headless Chromium, fails on any request to another host, on any Content-Security-Policy
// violation and on any page error, then uses the editor, the headers editor and the docs
// explorer, runs `me` with an Authorization header typed into the headers editor, and a
// subscription over graphql-transport-ws that shows a change made elsewhere.
//
//   ORIGIN=http://127.0.0.1:8080 TOKEN=<a customer's access token> EMAIL=<that customer's email> \
//   OUT=<screenshot directory> node browser-test.mjs
//
// The Rust test `graphiql_works_offline_in_a_browser` runs it against a server of its own.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { ORIGIN, TOKEN, EMAIL } = process.env;
const OUT = process.env.OUT ?? 'out';
if (!ORIGIN || !TOKEN || !EMAIL) {
  console.error('ORIGIN, TOKEN and EMAIL must be set');
  process.exit(2);
}
const host = new URL(ORIGIN).host;
mkdirSync(OUT, { recursive: true });

const failures = [];
const fail = (message) => { failures.push(message); console.error('FAIL: ' + message); };
const ok = (message) => console.log('ok: ' + message);
let step = 0;
const screenshot = async (page, name) => {
  const path = join(OUT, `${String(++step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path });
  console.log('screenshot: ' + path);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // No host name resolves but the loopback address: a CDN URL could not load even if the
    // request filter below missed it.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
});
const page = await (await browser.newContext({ viewport: { width: 1400, height: 850 } })).newPage();

const offHost = [];
const consoleLines = [];
await page.route('**/*', (route) => {
  const url = new URL(route.request().url());
  if ((url.protocol === 'http:' || url.protocol === 'https:') && url.host === host) return route.continue();
  offHost.push(route.request().url());
  return route.abort('blockedbyclient');
});
const sockets = [];
page.on('websocket', (ws) => {
  sockets.push(ws.url());
  if (new URL(ws.url()).host !== host) offHost.push(ws.url());
});
page.on('console', (m) => consoleLines.push(`[console.${m.type()}] ${m.text()}`));
page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
await page.addInitScript(() => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) =>
    window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} ${e.sourceFile || ''}:${e.lineNumber}`));
});

const editorValue = (selector) => page.evaluate((s) => document.querySelector(s).CodeMirror.getValue(), selector);
// GraphiQL re-parses the editor after a short debounce.
const setEditor = async (selector, text) => {
  await page.evaluate(([s, t]) => document.querySelector(s).CodeMirror.setValue(t), [selector, text]);
  await page.waitForTimeout(700);
};
const HEADERS = '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';
const QUERY = '.graphiql-query-editor .CodeMirror';
const RESPONSE = '.graphiql-response .CodeMirror';

try {
  const response = await page.goto(ORIGIN + '/', { waitUntil: 'load' });
  const csp = response.headers()['content-security-policy'] ?? '';
  if (/script-src 'self'(;|$)/.test(csp) && csp.includes("default-src 'none'")) ok('CSP header: ' + csp);
  else fail('no strict Content-Security-Policy header: ' + csp);
  await page.waitForSelector('.graphiql-container', { timeout: 20000 });
  await page.waitForSelector(QUERY, { timeout: 20000 });
  ok('GraphiQL and its query editor are rendered');

  if (await page.getByRole('button', { name: 'Headers', exact: true }).count() !== 1) fail('no Headers tab');
  await page.locator(HEADERS).waitFor({ state: 'visible', timeout: 5000 });
  ok('the headers editor is open on load');

  await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().waitFor({ timeout: 10000 });
  await page.locator('.graphiql-doc-explorer-search input').fill('customerI');
  await page.locator('.graphiql-doc-explorer-search').getByText('customerId').first().waitFor();
  await page.keyboard.press('Escape');
  ok('the docs explorer shows the schema from introspection');
  await screenshot(page, 'docs-explorer');

  // Dialogs pull in more UI libraries (dialog, scroll lock): they too must run under the CSP.
  await page.getByRole('button', { name: 'Open settings dialog' }).click();
  await page.getByRole('dialog').waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });

  await setEditor(HEADERS, JSON.stringify({ Authorization: `Bearer ${TOKEN}` }));
  await setEditor(QUERY, '{ me { id customerId email } }');
  await page.locator('.graphiql-execute-button').click();
  await page.waitForFunction((s) => document.querySelector(s).CodeMirror.getValue().includes('"me"'), RESPONSE,
    { timeout: 10000 });
  const answer = JSON.parse(await editorValue(RESPONSE));
  if (answer.data?.me?.email === EMAIL) ok('`me` ran with the Authorization header from the headers editor');
  else fail('`me` answered ' + JSON.stringify(answer));
  await screenshot(page, 'me-with-token');

  // A subscription, over graphql-transport-ws with the same headers as connection_init: a
  // change made elsewhere appears in the response pane.
  const customerId = answer.data?.me?.customerId;
  await setEditor(QUERY, `subscription { customerChanged(customerId: "${customerId}") { kind customer { phone } } }`);
  await page.locator('.graphiql-execute-button').click();
  // In place once the server counts it (customer_api_live_subscriptions).
  for (let waited = 0; !/^customer_api_live_subscriptions [1-9]/m.test(
    await fetch(`${ORIGIN}/metrics`).then((response) => response.text())); waited += 20) {
    if (waited > 10000) { fail('the subscription did not start'); break; }
    await page.waitForTimeout(20);
  }
  const changed = await fetch(`${ORIGIN}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({
      query: 'mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { phone } } }',
      variables: { input: { customerId, phone: '+1 555 0177' } },
    }),
  }).then((response) => response.json());
  if (changed.errors) fail('the update failed: ' + JSON.stringify(changed.errors));
  await page.waitForFunction((s) => document.querySelector(s).CodeMirror.getValue().includes('+1 555 0177'), RESPONSE,
    { timeout: 10000 });
  if (sockets.some((url) => url === ORIGIN.replace(/^http/, 'ws') + '/graphql')) ok('a subscription streamed a change over graphql-transport-ws');
  else fail('no WebSocket to /graphql: ' + JSON.stringify(sockets));
  await screenshot(page, 'subscription');

  const violations = await page.evaluate(() => window.__csp);
  if (violations.length) fail('CSP violations:\n  ' + violations.join('\n  '));
  else ok('no Content-Security-Policy violations');
} catch (error) {
  fail(error.stack || String(error));
  await page.screenshot({ path: join(OUT, 'failure.png') }).catch(() => {});
}

if (offHost.length) fail('requests to other hosts:\n  ' + offHost.join('\n  '));
else ok(`no request left ${host}`);
const errors = consoleLines.filter((line) => /pageerror|Content Security Policy|Refused|error/i.test(line));
if (errors.length) fail('console errors:\n  ' + errors.join('\n  '));
await browser.close();
console.log(`${failures.length ? 'FAILED' : 'PASSED'}: ${failures.length} failure(s)`);
process.exit(failures.length ? 1 : 0);
