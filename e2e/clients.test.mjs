// Real third-party STOMP clients from npm against the real order-service:
// @stomp/stompjs 7 over a plain WebSocket, and the pair the original's
// Angular app used, sockjs-client + stompjs 2.3.3, over SockJS's websocket
// transport and its HTTP fallbacks. Each subscribes to /topic/orders, an
// order is created over REST, and it must receive exactly that one order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import { placeOrder, startSystem, waitFor } from './harness.mjs';

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
