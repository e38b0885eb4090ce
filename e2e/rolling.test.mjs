// A rolling restart behind the real nginx, as `docker compose up --scale
// order-service=2` runs it: two order-service replicas answer to one name
// (dnsmasq standing in for Docker's DNS, each replica on its own loopback
// address and the same port, as containers are), one inventory-service,
// all on the test PostgreSQL server with the compose file's environment.
// 16 clients order through nginx without ever retrying, and a
// @stomp/stompjs subscriber follows /topic/orders through nginx,
// resuming with from-seq whenever its connection ends. Each replica in
// turn gets SIGTERM, exits and is started again. Nothing may be lost:
// every request answered 200, no order twice, stock conserved, and the
// subscriber sees each order's event exactly once, seqs without a gap.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import { freePort, startService, waitFor } from './harness.mjs';
import { composeEnv, psql, startDns, startNginx } from './nginx-harness.mjs';

const PG = process.env.TEST_DATABASE_URL;
// Concurrent clients ordering, as in the run (8 there; twice here).
const CLIENTS = 16;
// How long the load runs before, between and after the restarts, in ms:
// long enough for hundreds of orders on each side of every restart.
const SETTLE_MS = 3000;
// Stock per product, so that orders are CREATED throughout (the seed's
// 93 units would run out in a second and leave only rejections).
const STOCK = 1_000_000;
const PRODUCTS = ['Laptop', 'Phone', 'Tablet', 'Headphones', 'Monitor'];
// Each run its own databases: the PostgreSQL server is shared.
const DB = { orders: `rolling_orders_${process.pid}`, inventory: `rolling_inventory_${process.pid}` };
const REPLICAS = ['127.0.0.2', '127.0.0.4'];

let dir;
let dns;
let nginx;
let inventory;
const replicas = [];
let orderEnv;

/** Starts replica `i` on its address and the shared port. */
async function startReplica(i, port) {
  replicas[i] = await startService('order-service', { ...orderEnv, BIND_ADDR: REPLICAS[i], HTTP_PORT: String(port) });
}

before(async () => {
  assert.ok(PG, 'TEST_DATABASE_URL (a PostgreSQL server) is required: scripts/test-all starts one');
  for (const db of Object.values(DB)) {
    psql(PG, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    psql(PG, `CREATE DATABASE ${db}`);
  }
  dir = mkdtempSync(join(tmpdir(), 'rolling-e2e-'));
  inventory = await startService('inventory-service', composeEnv('inventory-service', PG, DB.inventory, { BIND_ADDR: '127.0.0.3' }));
  psql(PG, `UPDATE products SET stock = ${STOCK}`, DB.inventory);
  orderEnv = composeEnv('order-service', PG, DB.orders, {
    INVENTORY_URL: `http://${inventory.grpcAddr}`,
    FRONTEND_DIR: join(process.cwd(), '..', 'frontend'),
    // nginx's address here, as compose's is there.
    TRUSTED_PROXIES: '127.0.0.1',
  });
  const port = await freePort();
  await startReplica(0, port);
  await startReplica(1, port);
  dns = await startDns(dir, { 'order-service': REPLICAS, 'inventory-service': ['127.0.0.3'] });
  nginx = await startNginx(dir, {
    ORDER_SERVICE_HTTP: `order-service:${port}`,
    INVENTORY_SERVICE_HTTP: `inventory-service:${inventory.httpAddr.split(':')[1]}`,
    SERVICE_RESOLVER: dns.resolver,
  });
  await waitFor(async () => (await fetch(`${nginx.base}/health`).catch(() => null))?.ok, 10000, 'nginx and the services');
});

after(async () => {
  nginx?.stop();
  dns?.stop();
  for (const replica of replicas) await replica?.stop();
  await inventory?.stop();
  for (const db of Object.values(DB)) psql(PG, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Stock per product, as inventory reports it through nginx. */
async function stock() {
  const products = await (await fetch(`${nginx.base}/inventory/products`)).json();
  return Object.fromEntries(products.map((p) => [p.name, p.stockQuantity]));
}

/**
 * A @stomp/stompjs client on /topic/orders through nginx that resumes with
 * `from-seq` after every reconnect: `events` holds { seq, id, status } in
 * arrival order, `errors` the ERROR frames' messages, `connects` how often
 * it connected.
 */
function subscriber(fromSeq) {
  const seen = { events: [], errors: [], connects: 0, last: fromSeq };
  const client = new Client({
    webSocketFactory: () => new WebSocket(`${nginx.base.replace('http', 'ws')}/ws-orders`),
    reconnectDelay: 100,
    heartbeatIncoming: 10000,
    heartbeatOutgoing: 10000,
  });
  client.onConnect = () => {
    seen.connects += 1;
    client.subscribe('/topic/orders', (m) => {
      const seq = Number(m.headers.seq);
      const order = JSON.parse(m.body);
      seen.events.push({ seq, id: order.id, status: order.status });
      seen.last = seq;
    }, { 'from-seq': String(seen.last) });
  };
  client.onStompError = (frame) => seen.errors.push(frame.headers.message);
  client.activate();
  return { seen, stop: () => client.deactivate() };
}

/** `CLIENTS` loops posting orders until `running.done`; each request's outcome in `results`. */
function load(running, results) {
  return Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    for (let n = 0; !running.done; n++) {
      const product = PRODUCTS[(c + n) % PRODUCTS.length];
      const quantity = 1 + (n % 3);
      const start = performance.now();
      try {
        const r = await fetch(`${nginx.base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ product, quantity }) });
        const body = await r.text();
        results.push({ status: r.status, body, start, ms: performance.now() - start, product, quantity });
      } catch (e) {
        results.push({ status: 0, body: String(e.cause ?? e), start, ms: performance.now() - start, product, quantity });
      }
    }
  }));
}

/** SIGTERM to replica `i`, wait for it to exit, start it again on the same address and port. */
async function restart(i) {
  const port = replicas[i].httpAddr.split(':')[1];
  const t0 = performance.now();
  await replicas[i].stop();
  const stopped = performance.now() - t0;
  await startReplica(i, port);
  return { at: t0, stoppedMs: Math.round(stopped), restartedMs: Math.round(performance.now() - t0) };
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

test('rolling restart of two order-service replicas behind nginx: nothing lost, nothing twice', { timeout: 180000 }, async () => {
  const before = await stock();
  const listed = await fetch(`${nginx.base}/orders?limit=1`);
  await listed.arrayBuffer();
  const startSeq = Number(listed.headers.get('event-seq'));
  const sub = subscriber(startSeq);
  await waitFor(() => sub.seen.connects > 0, 10000, 'the subscriber to connect');

  const running = { done: false };
  const results = [];
  const began = performance.now();
  const loading = load(running, results);
  await pause(SETTLE_MS);
  const restarts = [];
  for (const i of [0, 1]) {
    restarts.push(await restart(i));
    await pause(SETTLE_MS);
  }
  running.done = true;
  await loading;
  const seconds = (performance.now() - began) / 1000;

  const failed = results.filter((r) => r.status !== 200);
  const slowest = results.reduce((a, b) => (b.ms > a.ms ? b : a));
  // Where the slowest request began, relative to the nearest restart.
  const near = restarts.reduce((a, b) => (Math.abs(b.at - slowest.start) < Math.abs(a.at - slowest.start) ? b : a));
  console.log(`rolling restart: ${results.length} orders in ${seconds.toFixed(1)} s (${Math.round(results.length / seconds)}/s), `
    + `${failed.length} failed, slowest ${Math.round(slowest.ms)} ms (began ${Math.round(slowest.start - near.at)} ms after a SIGTERM); `
    + `restarts (SIGTERM to exit, to ready): ${JSON.stringify(restarts.map(({ stoppedMs, restartedMs }) => ({ stoppedMs, restartedMs })))}; `
    + `subscriber connected ${sub.seen.connects} times, ERROR messages ${JSON.stringify([...new Set(sub.seen.errors)])}`);
  assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${results.length} requests failed`);

  const orders = results.map((r) => JSON.parse(r.body));
  const ids = orders.map((o) => o.id);
  assert.equal(new Set(ids).size, ids.length, 'an order id answered twice');
  assert.equal(Number(psql(PG, 'SELECT count(*) FROM orders', DB.orders)), orders.length, 'orders stored other than those answered');
  assert.ok(orders.every((o) => o.status === 'CREATED'), 'every order found its stock');

  // Stock conserved: what is gone from inventory is what the orders hold.
  const after = await stock();
  for (const product of PRODUCTS) {
    const held = results.filter((r, k) => r.product === product && orders[k].status === 'CREATED').reduce((sum, r) => sum + r.quantity, 0);
    assert.equal(before[product], after[product] + held, `${product}: stock not conserved`);
  }

  // The subscriber sees every order's event once, in seq order, no gap.
  const endSeq = Number(psql(PG, 'SELECT coalesce(max(seq), 0) FROM order_events', DB.orders));
  await waitFor(() => sub.seen.last >= endSeq, 20000, `the subscriber to reach seq ${endSeq}`);
  await sub.stop();
  const seqs = sub.seen.events.map((e) => e.seq);
  assert.deepEqual(seqs, Array.from({ length: endSeq - startSeq }, (_, k) => startSeq + 1 + k), 'events missed, repeated or out of order');
  const byId = new Map(sub.seen.events.map((e) => [e.id, e.status]));
  assert.equal(byId.size, orders.length);
  for (const o of orders) assert.equal(byId.get(o.id), o.status, `order ${o.id}'s event`);
  // It was on one of the replicas, so a restart ended its connection,
  // telling it to reconnect, and it resumed.
  assert.ok(sub.seen.connects >= 2, 'the subscriber never reconnected');
  assert.ok(sub.seen.errors.includes('Server restarting, please reconnect'), `ERROR frames: ${sub.seen.errors}`);
});
