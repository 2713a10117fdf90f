// The WebSocket side of bench/live.py: opens SUBSCRIBERS graphql-transport-ws connections,
// one subscription each (TARGET_SUBSCRIBERS of them to customer TARGET_ID, the rest to other
// customers, idle), then, on commands from stdin:
//   latency N   N updates of the target, one at a time: for each, the time from the
//               mutation's answer (the write has committed) to the last target subscriber's
//               message, and from sending it
//   flow S R    S seconds of updates of the target at R per second (while reads are measured)
// and reports JSON lines on stdout. Every message is checked: kind UPDATED, the phone just
// written.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const env = process.env;
const URL = env.API.replace(/^http/, 'ws');
const SUBSCRIBERS = Number(env.SUBSCRIBERS);
const TARGET_SUBSCRIBERS = Number(env.TARGET_SUBSCRIBERS);
const OTHERS = env.OTHER_IDS.split(',');
const say = (value) => console.log(JSON.stringify(value));

const QUERY = 'subscription($id: ID!) { customerChanged(customerId: $id) { kind customer { phone } } }';
let expectedPhone = null;
let waiting = null; // { remaining, resolve }
let bad = 0;

function connect(id, isTarget) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(URL, 'graphql-transport-ws');
    socket.on('open', () => socket.send(JSON.stringify({
      type: 'connection_init', payload: { Authorization: `Bearer ${env.ADMIN_TOKEN}` },
    })));
    socket.on('message', (data) => {
      const message = JSON.parse(data);
      if (message.type === 'connection_ack') {
        socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: QUERY, variables: { id } } }));
        resolve(socket);
      } else if (message.type === 'ping') {
        socket.send('{"type":"pong"}');
      } else if (message.type === 'next' && isTarget) {
        const change = message.payload?.data?.customerChanged;
        const stale = expectedPhone !== null && change?.customer?.phone !== expectedPhone;
        if (change?.kind !== 'UPDATED' || stale) bad += 1;
        if (waiting && --waiting.remaining === 0) waiting.resolve(performance.now());
      } else if (message.type !== 'next') {
        bad += 1;
      }
    });
    socket.on('error', reject);
    socket.on('close', (code) => { if (code !== 1000 && code !== 1005) bad += 1; });
  });
}

/// Sets the target's phone; `checked`: every target subscriber must receive exactly it.
async function update(phone, checked = true) {
  expectedPhone = checked ? phone : null;
  const response = await fetch(env.API, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${env.ADMIN_TOKEN}` },
    body: JSON.stringify({
      query: 'mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { phone } } }',
      variables: { input: { customerId: env.TARGET_ID, phone } },
    }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
}

const sockets = [];
for (let n = 0; n < SUBSCRIBERS; n += 100) {
  const batch = [];
  for (let k = n; k < Math.min(n + 100, SUBSCRIBERS); k++) {
    const isTarget = k < TARGET_SUBSCRIBERS;
    batch.push(connect(isTarget ? env.TARGET_ID : OTHERS[k % OTHERS.length], isTarget));
  }
  sockets.push(...await Promise.all(batch));
}
// Each subscription reads its customer once when it starts: let them all settle.
await new Promise((resolve) => setTimeout(resolve, 2000));
say({ ready: sockets.length, bad });

let phoneCounter = 0;
const nextPhone = () => `+1 555 ${String(1000 + (phoneCounter++ % 9000)).padStart(4, '0')}`;

for await (const line of createInterface({ input: process.stdin })) {
  const [command, ...args] = line.trim().split(' ');
  if (command === 'latency') {
    const fromCommit = [];
    const fromSend = [];
    for (let i = 0; i < Number(args[0]); i++) {
      const done = new Promise((resolve) => { waiting = { remaining: TARGET_SUBSCRIBERS, resolve }; });
      const sent = performance.now();
      await update(nextPhone());
      const committed = performance.now();
      const last = await done;
      fromCommit.push(Math.max(0, last - committed));
      fromSend.push(last - sent);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    say({ latency: { fromCommit, fromSend }, bad });
  } else if (command === 'flow') {
    const [seconds, rate] = args.map(Number);
    const end = performance.now() + seconds * 1000;
    let updates = 0;
    waiting = null;
    while (performance.now() < end) {
      const started = performance.now();
      await update(nextPhone(), false);
      updates += 1;
      const pause = 1000 / rate - (performance.now() - started);
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
    }
    say({ flow: { updates }, bad });
  } else if (command === 'quit') {
    break;
  }
}
for (const socket of sockets) socket.close(1000);
process.exit(0);
