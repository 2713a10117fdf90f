// urql, as a web or React Native app sets it up, against a running customer-api (in Node: the
// same client code, without a page): Graphcache with no keys configured, and
// @urql/exchange-persisted sending hashed queries over GET. Checks that the server's answers
// are what urql expects: the persisted-query miss it understands (it retries with the text,
// adding `miss: true`), later queries by hash alone, and a mutation's answer merged into the
// cached `me` through `id`, with no request for `me`.
//
//   API=http://127.0.0.1:8080/graphql EMAIL=<a customer's email> TOKEN=<their access token> \
//   node test/urql.test.mjs
import { Client, fetchExchange, gql } from '@urql/core';
import { cacheExchange } from '@urql/exchange-graphcache';
import { persistedExchange } from '@urql/exchange-persisted';

const { API, EMAIL, TOKEN } = process.env;
if (!API || !EMAIL || !TOKEN) {
  console.error('API, EMAIL and TOKEN must be set');
  process.exit(2);
}

const failures = [];
const check = (condition, message, detail = '') => {
  if (condition) console.log('ok: ' + message);
  else { failures.push(message); console.error(`FAIL: ${message} ${detail}`); }
};

// Every exchange on the wire, as urql's fetch sends it.
const wire = [];
async function recordingFetch(input, init) {
  const response = await fetch(input, init);
  const url = new URL(typeof input === 'string' ? input : input.url);
  const sent = init?.method === 'POST' ? JSON.parse(init.body) : {
    query: url.searchParams.get('query') ?? undefined,
    operationName: url.searchParams.get('operationName') ?? undefined,
    extensions: JSON.parse(url.searchParams.get('extensions') ?? 'null') ?? undefined,
  };
  const body = await response.clone().json().catch(() => null);
  wire.push({ method: init?.method ?? 'GET', sent, status: response.status, body });
  return response;
}

const client = new Client({
  url: API,
  fetch: recordingFetch,
  fetchOptions: () => ({ headers: { authorization: `Bearer ${TOKEN}` } }),
  exchanges: [cacheExchange({}), persistedExchange({ preferGetForPersistedQueries: true }), fetchExchange],
});

const ME = gql`query Me { me { id customerId email phone } }`;
const SET_PHONE = gql`
  mutation SetPhone($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { id phone } } }
`;

try {
  const first = await client.query(ME, {}).toPromise();
  check(first.data?.me?.email === EMAIL, '`me` through urql', JSON.stringify(first.error ?? first.data));
  const [miss, retry] = wire;
  check(miss?.method === 'GET' && miss.sent.extensions?.persistedQuery && !miss.sent.query
      && miss.body?.errors?.[0]?.message === 'PersistedQueryNotFound',
    'urql sent the hash alone over GET and read the miss', JSON.stringify(miss));
  check(retry?.sent.query && retry.sent.extensions?.persistedQuery?.miss === true && retry.status === 200,
    'urql retried with the text and `miss: true`, which the server accepted', JSON.stringify(retry?.sent));

  const requests = wire.length;
  const again = await client.query(ME, {}, { requestPolicy: 'network-only' }).toPromise();
  const byHash = wire.slice(requests);
  check(again.data?.me?.email === EMAIL && byHash.length === 1 && !byHash[0].sent.query,
    'the same query later went by hash alone', JSON.stringify(byHash.map((e) => e.sent)));

  const customerId = first.data.me.customerId;
  const updated = await client.mutation(SET_PHONE, { input: { customerId, phone: '+1 555 0177' } }).toPromise();
  check(updated.data?.updateCustomer?.customer?.phone === '+1 555 0177', 'the mutation ran', JSON.stringify(updated.error));
  const before = wire.length;
  const cached = await client.query(ME, {}, { requestPolicy: 'cache-only' }).toPromise();
  check(cached.data?.me?.phone === '+1 555 0177' && wire.length === before,
    'Graphcache merged the mutation\'s answer into `me` by `id`, with no request',
    JSON.stringify({ cached: cached.data, requests: wire.length - before }));
} catch (error) {
  failures.push(String(error));
  console.error(error);
}
console.log(`${failures.length ? 'FAILED' : 'PASSED'}: ${failures.length} failure(s)`);
process.exit(failures.length ? 1 : 0);
