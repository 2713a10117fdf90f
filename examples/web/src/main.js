// The page: sign up, log in, show `me`, edit the phone, log out; and, with an admin token,
// page through every customer. The API's address is ?api=<url> (default: /graphql on the
// page's own origin, as behind a reverse proxy).
import { createClient, Session } from './client.js';
import { CUSTOMERS, LOG_IN, LOG_OUT, ME, MY_CHANGES, SIGN_UP, UPDATE_PHONE } from './documents.js';

const PAGE_SIZE = 3;

const api = new URLSearchParams(window.location.search).get('api') ?? '/graphql';
const session = new Session();
const { client, reconnect } = createClient(api, session);

const $ = (id) => document.getElementById(id);
const say = (text) => { $('status').textContent = text; };
const report = (error) => say(`Error: ${error.message}`);

/// Runs a form's action on submit, reporting failures in the status line.
function onSubmit(id, action) {
  $(id).addEventListener('submit', (event) => {
    event.preventDefault();
    action().catch(report);
  });
}

onSubmit('signup-form', async () => {
  const input = { name: $('signup-name').value, email: $('signup-email').value, password: $('signup-password').value };
  const { data } = await client.mutate({ mutation: SIGN_UP, variables: { input } });
  say(`Signed up as ${data.createCustomer.customer.email}. Log in below.`);
});

onSubmit('login-form', async () => {
  const variables = { email: $('login-email').value, password: $('login-password').value };
  const { data } = await client.mutate({ mutation: LOG_IN, variables });
  session.store(data.authenticateCustomer);
  say(`Logged in as ${variables.email}.`);
  watchProfile();
  followChanges(data.authenticateCustomer.customerId);
});

// `me`, watched: whatever changes the cached customer (the phone edit below) re-renders it,
// without asking the server again.
let profile = null;
let profileSubscription = null;
function watchProfile() {
  profileSubscription?.unsubscribe();
  profile = client.watchQuery({ query: ME });
  profileSubscription = profile.subscribe({
    next: ({ data, error }) => {
      if (error) return report(error);
      const me = data?.me;
      if (!me) return;
      $('profile').hidden = false;
      $('me-name').textContent = me.name;
      $('me-email').textContent = me.email;
      $('me-phone').textContent = me.phone ?? '(none)';
    },
  });
}

// Live: the server pushes every change to this customer; Apollo merges it into the cache.
// The server ends a subscription when its token expires: with renewed tokens, the app opens
// a new socket and subscribes again.
let following = null;
let changes = null;
function followChanges(customerId) {
  following = customerId;
  changes?.unsubscribe();
  changes = null;
  if (customerId === null) return;
  changes = client.subscribe({ query: MY_CHANGES, variables: { id: customerId } }).subscribe({
    next: ({ data }) => {
      if (data?.customerChanged?.kind === 'DELETED') say('This account was deleted.');
    },
    error: report,
  });
}
session.onChange = () => {
  const customerId = following;
  followChanges(null);
  reconnect();
  if (session.canRefresh()) followChanges(customerId);
};

onSubmit('phone-form', async () => {
  const customerId = client.readQuery({ query: ME })?.me?.customerId;
  const input = { customerId, phone: $('phone-input').value };
  await client.mutate({ mutation: UPDATE_PHONE, variables: { input } });
  say('Phone saved.');
});

$('reload-profile').addEventListener('click', () => {
  profile?.refetch().then(() => say('Profile reloaded.'), report);
});

$('logout').addEventListener('click', async () => {
  try {
    await client.mutate({ mutation: LOG_OUT });
  } catch (error) {
    report(error);
  }
  profileSubscription?.unsubscribe();
  followChanges(null);
  session.clear();
  await client.clearStore();
  $('profile').hidden = true;
  say('Signed out.');
});

// Admin: pages of PAGE_SIZE customers, newest first, each page asked for by its cursor.
let nextCursor = null;
let pageNumber = 0;
async function showPage(after) {
  const { data } = await client.query({ query: CUSTOMERS, variables: { first: PAGE_SIZE, after } });
  const { edges, pageInfo } = data.customers;
  $('customers').replaceChildren(...edges.map(({ node }) => {
    const item = document.createElement('li');
    item.textContent = `${node.name} <${node.email}>`;
    return item;
  }));
  pageNumber = after ? pageNumber + 1 : 1;
  nextCursor = pageInfo.hasNextPage ? pageInfo.endCursor : null;
  $('next-page').disabled = nextCursor === null;
  $('page-info').textContent = `Page ${pageNumber}${nextCursor ? '' : ' (last)'}`;
}

onSubmit('admin-form', async () => {
  session.useAdminToken($('admin-token').value.trim());
  await client.clearStore();
  await showPage(null);
  say('Listing customers as an admin.');
});

$('next-page').addEventListener('click', () => {
  showPage(nextCursor).catch(report);
});
