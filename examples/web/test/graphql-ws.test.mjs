// The `graphql-ws` client (the protocol's reference implementation) against a running
// customer-api: it connects with the token in connection_init, subscribes to a customer, and
// receives the change that a mutation makes; a bad token is closed with 4403 before any
// acknowledgement.
//
//   API=http://127.0.0.1:8080/graphql TOKEN=<a customer's access token> \
//   CUSTOMER_ID=<their id> node test/graphql-ws.test.mjs
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const { API, TOKEN, CUSTOMER_ID } = process.env;
if (!API || !TOKEN || !CUSTOMER_ID) {
  console.error('API, TOKEN and CUSTOMER_ID must be set');
  process.exit(2);
}
const url = API.replace(/^http/, 'ws');

const failures = [];
const check = (condition, message, detail = '') => {
  if (condition) console.log('ok: ' + message);
  else { failures.push(message); console.error(`FAIL: ${message} ${detail}`); }
};
const within = (ms, promise, what) => Promise.race([
  promise,
  new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)),
]);

async function graphql(query, variables) {
  const response = await fetch(API, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

try {
  // A good token: acknowledged, and a change arrives.
  let acknowledged = false;
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${TOKEN}` },
    retryAttempts: 0,
    on: { connected: () => { acknowledged = true; } },
  });
  const changes = client.iterate({
    query: 'subscription($id: ID!) { customerChanged(customerId: $id) { kind customerId customer { phone } } }',
    variables: { id: CUSTOMER_ID },
  });
  const first = changes.next();
  await within(5000, new Promise((resolve) => { const wait = () => (acknowledged ? resolve() : setTimeout(wait, 20)); wait(); }), 'connection_ack');
  check(acknowledged, 'graphql-ws connected and was acknowledged');
  // The subscription is in place once the server counts it (customer_api_live_subscriptions).
  const listening = async () => /^customer_api_live_subscriptions [1-9]/m.test(
    await fetch(new URL('/metrics', API)).then((response) => response.text()));
  await within(5000, new Promise((resolve) => {
    const wait = async () => ((await listening()) ? resolve() : setTimeout(wait, 20));
    wait();
  }), 'the subscription');
  const update = await graphql(
    'mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { phone } } }',
    { input: { customerId: CUSTOMER_ID, phone: '+1 555 0142' } },
  );
  check(!update.errors, 'the mutation ran', JSON.stringify(update.errors));
  const { value } = await within(5000, first, 'the change');
  const change = value?.data?.customerChanged;
  check(change?.kind === 'UPDATED' && change.customerId === CUSTOMER_ID && change.customer?.phone === '+1 555 0142',
    'the change arrived through the subscription', JSON.stringify(value));
  await changes.return();
  await client.dispose();

  // A bad token: closed with 4403, never acknowledged.
  let closedWith = null;
  let badAcknowledged = false;
  const refused = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: 'Bearer not-a-token' },
    retryAttempts: 0,
    on: { connected: () => { badAcknowledged = true; }, closed: (event) => { closedWith = event?.code; } },
  });
  const attempt = refused.iterate({ query: 'subscription { customerEvents { kind } }' });
  const outcome = await within(5000, attempt.next().then(() => 'value', (error) => error), 'the refusal');
  check(closedWith === 4403 && !badAcknowledged, 'a bad token was closed with 4403 before connection_ack',
    JSON.stringify({ closedWith, badAcknowledged, outcome: String(outcome?.code ?? outcome) }));
  await refused.dispose();
} catch (error) {
  failures.push(String(error));
  console.error(error);
}
console.log(`${failures.length ? 'FAILED' : 'PASSED'}: ${failures.length} failure(s)`);
process.exit(failures.length ? 1 : 0);
