// Real third-party STOMP clients from npm against the real order-service:
// @stomp/stompjs 7 over a plain WebSocket, and the pair the original's
// Angular app used, sockjs-client + stompjs 2.3.3, over SockJS's websocket
// transport and its HTTP fallbacks. Each subscribes to /topic/orders, an
// order is created over REST, and it must receive exactly that one order.
// Last, the same clients against the `live` crate's example server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import { ROOT, placeOrder, startSystem, waitFor } from './harness.mjs';

const require = createRequire(import.meta.url);
const SockJS = require('sockjs-client');
const { Stomp } = require('stompjs/lib/stomp.js');
// stomp.js 2.3.3 schedules heart-beats with window.setInterval; in Node
// its own stomp-node.js swaps in the global timers the same way.
Stomp.setInterval = (ms, f) => setInterval(f, ms);
Stomp.clearInterval = (id) => clearInterval(id);

let system;
before(async () => { system = await startSystem(); });
after(async () => { await system?.stop(); });

/** Collects the bodies of MESSAGE frames for a destination. */
function collector() {
  const received = [];
  return { received, push: (body) => received.push(JSON.parse(body)) };
}

async function expectExactlyOne(received, order) {
  await waitFor(() => received.some((o) => o.id === order.id), 10000, `order ${order.id} over STOMP`);
  // Give a duplicate the chance to show up before asserting "exactly one".
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(received.filter((o) => o.id === order.id), [order]);
}

describe('@stomp/stompjs 7 over WebSocket', () => {
  test('receives the created order and the new stock', async () => {
    const orders = collector();
    const products = collector();
    const client = new Client({
      brokerURL: `${system.wsBase}/ws-orders`,
      webSocketFactory: () => new WebSocket(`${system.wsBase}/ws-orders`, ['v12.stomp', 'v11.stomp', 'v10.stomp']),
      reconnectDelay: 0,
      heartbeatIncoming: 10000,
      heartbeatOutgoing: 10000,
    });
    const connected = new Promise((resolve, reject) => {
      client.onConnect = (frame) => resolve(frame);
      client.onStompError = (frame) => reject(new Error(frame.headers.message));
    });
    client.activate();
    const frame = await connected;
    assert.equal(frame.headers.version, '1.2');
    const subscribed = new Promise((resolve) => client.watchForReceipt('sub-1', resolve));
    client.subscribe('/topic/orders', (m) => {
      assert.equal(m.headers['content-type'], 'application/json');
      assert.ok(m.headers['message-id']);
      assert.equal(m.headers.destination, '/topic/orders');
      orders.push(m.body);
    }, { receipt: 'sub-1' });
    client.subscribe('/topic/products', (m) => products.push(m.body));
    await subscribed;

    const { status, body: order } = await placeOrder(system.base, 'Laptop', 2);
    assert.equal(status, 200);
    assert.equal(order.status, 'CREATED');
    await expectExactlyOne(orders.received, order);
    await waitFor(() => products.received.some((p) => p.name === 'Laptop' && p.stockQuantity === 8), 10000, 'stock event');
    await client.deactivate();
  });

  test('a client SEND to a topic gets an ERROR', async () => {
    const client = new Client({
      webSocketFactory: () => new WebSocket(`${system.wsBase}/ws-orders`),
      reconnectDelay: 0,
    });
    const error = new Promise((resolve) => { client.onStompError = resolve; });
    client.onConnect = () => client.publish({ destination: '/topic/orders', body: '{"id":666}' });
    client.activate();
    const frame = await error;
    assert.equal(frame.headers.message, 'clients cannot publish');
    await client.deactivate();
  });
});

/** stompjs 2.3.3 over a SockJS connection with the given transports. */
function sockjsClient(transports) {
  const sock = new SockJS(`${system.base}/ws-orders`, null, transports ? { transports } : {});
  const client = Stomp.over(sock);
  client.debug = null;
  return { client, sock };
}

for (const transports of [null, ['xhr-streaming'], ['xhr-polling'], ['eventsource']]) {
  const name = transports ? transports.join(',') : 'default transports (websocket)';
  describe(`sockjs-client 1.6 + stompjs 2.3.3, ${name}`, () => {
    test('receives the created order exactly once', async () => {
      const { client, sock } = sockjsClient(transports);
      const orders = collector();
      await new Promise((resolve, reject) => client.connect({}, resolve, reject));
      if (transports) assert.equal(sock.transport, transports[0]);
      else assert.equal(sock.transport, 'websocket');
      // A receipt is the only way to know the SUBSCRIBE has been processed.
      const receipt = new Promise((resolve) => { client.onreceipt = resolve; });
      client.subscribe('/topic/orders', (m) => orders.push(m.body), { receipt: 'subscribed' });
      assert.equal((await receipt).headers['receipt-id'], 'subscribed');
      const { body: order } = await placeOrder(system.base, 'Phone', 1);
      await expectExactlyOne(orders.received, order);
      await new Promise((resolve) => client.disconnect(resolve));
    });
  });
}

// The `live` crate on its own: its example server (`cargo build -p live
// --examples`), an axum app publishing a tick on /topic/ticks every second
// at /ws-ticks, with the newest ticks kept for clients that resume.
describe('live crate example (ticker)', () => {
  let ticker;
  before(async () => { ticker = await startTicker(); });
  after(async () => { await ticker?.stop(); });

  test('@stomp/stompjs over WebSocket receives ticks, and resumes from a seq', async () => {
    const url = `ws://${ticker.addr}/ws-ticks`;
    const client = new Client({
      webSocketFactory: () => new WebSocket(url, ['v12.stomp', 'v11.stomp', 'v10.stomp']),
      reconnectDelay: 0,
    });
    const connected = new Promise((resolve, reject) => {
      client.onConnect = resolve;
      client.onStompError = (frame) => reject(new Error(frame.headers.message));
    });
    client.activate();
    assert.equal((await connected).headers.version, '1.2');
    const live = [];
    client.subscribe('/topic/ticks', (m) => live.push(m));
    const first = await waitFor(() => live[0], 10000, 'a tick over WebSocket');
    assert.equal(first.headers.destination, '/topic/ticks');
    const seq = Number(first.headers.seq);
    assert.equal(JSON.parse(first.body).tick, seq);
    // A second subscription resuming after an earlier tick is replayed
    // from the example's history: the next seq comes first.
    const resumed = [];
    client.subscribe('/topic/ticks', (m) => resumed.push(m), { 'from-seq': String(seq - 1) });
    await waitFor(() => resumed[0], 10000, 'a replayed tick');
    assert.equal(Number(resumed[0].headers.seq), seq);
    await client.deactivate();
  });

  for (const transports of [null, ['xhr-streaming']]) {
    const name = transports ? transports.join(',') : 'default transports (websocket)';
    test(`sockjs-client + stompjs over SockJS, ${name}, receives a tick`, async () => {
      const sock = new SockJS(`http://${ticker.addr}/ws-ticks`, null, transports ? { transports } : {});
      const client = Stomp.over(sock);
      client.debug = null;
      await new Promise((resolve, reject) => client.connect({}, resolve, reject));
      assert.equal(sock.transport, transports ? transports[0] : 'websocket');
      const ticks = [];
      client.subscribe('/topic/ticks', (m) => ticks.push(JSON.parse(m.body)));
      const tick = await waitFor(() => ticks[0], 10000, 'a tick over SockJS');
      assert.ok(Number.isInteger(tick.tick) && tick.tick > 0, JSON.stringify(tick));
      await new Promise((resolve) => client.disconnect(resolve));
    });
  }
});

/** Starts the ticker example on a free port; resolves once it listens. */
function startTicker() {
  const bin = join(process.env.BIN_DIR ?? join(ROOT, 'target', 'debug'), 'examples', 'ticker');
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => reject(new Error('ticker not listening within 20 s')), 20000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^listening on http:\/\/([^/]+)\/ws-ticks$/.exec(line);
      if (!match) return;
      clearTimeout(timer);
      resolve({
        addr: match[1],
        stop: () => new Promise((done) => {
          if (child.exitCode !== null) return done();
          child.once('exit', done);
          child.kill('SIGTERM');
        }),
      });
    });
    child.on('error', reject);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`ticker exited with ${code}`)); });
  });
}
