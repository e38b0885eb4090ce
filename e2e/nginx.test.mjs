// The frontend container's path, without Docker: Debian's real nginx runs
// deploy/nginx/default.conf.template rendered as in the image, in front of
// the services started with the compose file's environment against a real
// PostgreSQL. The service names resolve through dnsmasq, standing in for
// Docker's embedded DNS, and each service listens on its own loopback address
// (127.0.0.x), as each container has its own: so a service can move to
// another address, as a restarted, recreated or scaled container does. Real
// clients go through nginx: REST, STOMP over WebSocket, SockJS's
// xhr_streaming fallback, and the page in Chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import { chromium } from 'playwright-core';
import { ROOT, startService, waitFor } from './harness.mjs';
import { composeEnv, composeSays, psql, startDns, startNginx } from './nginx-harness.mjs';

const require = createRequire(import.meta.url);
const SockJS = require('sockjs-client');
const { Stomp } = require('stompjs/lib/stomp.js');
Stomp.setInterval = (ms, f) => setInterval(f, ms);
Stomp.clearInterval = (id) => clearInterval(id);

const PG = process.env.TEST_DATABASE_URL;
let dir;
let nginx;
let dns;
let inventory;
let order;
let base;
// Live connections without CONNECT one client may hold (order-service).
const HANDSHAKE_SHARE = 4;
// What the stand-in DNS answers: service name -> addresses.
const names = { 'order-service': ['127.0.0.2'], 'inventory-service': ['127.0.0.3'] };

/** Runs the postgres container's health check of docker-compose.yml against the test server. */
function postgresHealthy() {
  const config = composeSays('healthcheck', 'postgres');
  assert.equal(config[0], 'CMD-SHELL');
  const server = new URL(PG);
  // Compose leaves $$ (its escape of $) in the normalised file.
  const probe = spawnSync('sh', ['-c', config[1].replaceAll('$$', '$')], {
    env: { ...process.env, POSTGRES_USER: decodeURIComponent(server.username), POSTGRES_PASSWORD: decodeURIComponent(server.password), PGPORT: server.port || '5432' },
    stdio: 'ignore',
  });
  return probe.status === 0;
}

/** The service on a new address: stopped, then started on `addr` with the same ports and database. */
async function move(service, env, addr) {
  const current = service === 'order-service' ? order : inventory;
  const [, httpPort] = current.httpAddr.split(':');
  const [, grpcPort] = current.grpcAddr.split(':');
  await current.stop();
  const moved = await startService(service, { ...env, BIND_ADDR: addr, HTTP_PORT: httpPort, GRPC_PORT: grpcPort });
  if (service === 'order-service') order = moved; else inventory = moved;
  return moved;
}

let orderEnv;
let inventoryEnv;

before(async () => {
  assert.ok(PG, 'TEST_DATABASE_URL (a PostgreSQL server) is required: scripts/test-all starts one');
  // The databases compose's init script creates, created the same way; the
  // container's health check must fail until they exist.
  psql(PG, 'DROP DATABASE IF EXISTS inventory WITH (FORCE)');
  psql(PG, 'DROP DATABASE IF EXISTS orders WITH (FORCE)');
  assert.equal(postgresHealthy(), false, 'the postgres health check passed before init.sql ran');
  for (const statement of readFileSync(join(ROOT, 'deploy/postgres/init.sql'), 'utf8').split(';').map((s) => s.replace(/--.*$/gm, '').trim()).filter(Boolean)) {
    psql(PG, statement);
  }
  assert.equal(postgresHealthy(), true, 'the postgres health check failed once the databases exist');

  inventoryEnv = composeEnv('inventory-service', PG, 'inventory', { BIND_ADDR: names['inventory-service'][0] });
  inventory = await startService('inventory-service', inventoryEnv);
  orderEnv = composeEnv('order-service', PG, 'orders', {
    BIND_ADDR: names['order-service'][0],
    INVENTORY_URL: `http://${inventory.grpcAddr}`,
    FRONTEND_DIR: join(ROOT, 'frontend'),
    // nginx's address here, as compose's is there.
    TRUSTED_PROXIES: '127.0.0.1',
    MAX_LIVE_HANDSHAKES_PER_CLIENT: String(HANDSHAKE_SHARE),
  });
  order = await startService('order-service', orderEnv);

  dir = mkdtempSync(join(tmpdir(), 'nginx-e2e-'));
  dns = await startDns(dir, names);
  nginx = await startNginx(dir, {
    ORDER_SERVICE_HTTP: `order-service:${order.httpAddr.split(':')[1]}`,
    INVENTORY_SERVICE_HTTP: `inventory-service:${inventory.httpAddr.split(':')[1]}`,
    SERVICE_RESOLVER: dns.resolver,
  });
  base = nginx.base;
  await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.ok, 10000, 'nginx and the services');
});

after(async () => {
  nginx?.stop();
  dns?.stop();
  await order?.stop();
  await inventory?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function post(product, quantity) {
  const r = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ product, quantity }) });
  assert.equal(r.status, 200);
  return r.json();
}

test('REST through nginx: page, orders, products, inventory, errors', async () => {
  const page = await fetch(`${base}/`);
  assert.match(await page.text(), /Order Processing/);
  const created = await post('Laptop', 2);
  assert.equal(created.status, 'CREATED');
  const listed = await (await fetch(`${base}/orders`)).json();
  assert.deepEqual(listed[0], created);
  const products = await (await fetch(`${base}/products`)).json();
  assert.equal(products.find((p) => p.name === 'Laptop').stockQuantity, 8);
  const inventoryRest = await (await fetch(`${base}/inventory/products`)).json();
  assert.deepEqual(inventoryRest.find((p) => p.name === 'Laptop'), { id: 1, name: 'Laptop', stockQuantity: 8 });
  const bad = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"product":' });
  assert.equal(bad.status, 400);
  assert.ok((await bad.json()).message);
  const health = await (await fetch(`${base}/health`)).json();
  assert.deepEqual(health, { status: 'UP', database: 'UP', inventory: 'UP' });
});

test('STOMP over WebSocket through nginx receives the order created through nginx', async () => {
  const received = [];
  const client = new Client({ webSocketFactory: () => new WebSocket(`${base.replace('http', 'ws')}/ws-orders`), reconnectDelay: 0 });
  await new Promise((resolve, reject) => {
    client.onConnect = resolve;
    client.onStompError = (f) => reject(new Error(f.headers.message));
    client.activate();
  });
  const subscribed = new Promise((resolve) => client.watchForReceipt('s', resolve));
  client.subscribe('/topic/orders', (m) => received.push(JSON.parse(m.body)), { receipt: 's' });
  await subscribed;
  const created = await post('Phone', 1);
  await waitFor(() => received.some((o) => o.id === created.id), 10000, 'MESSAGE through nginx');
  assert.deepEqual(received.filter((o) => o.id === created.id), [created]);
  await client.deactivate();
});

test('SockJS xhr_streaming through nginx (unbuffered) receives the order', async () => {
  const sock = new SockJS(`${base}/ws-orders`, null, { transports: ['xhr-streaming'] });
  const client = Stomp.over(sock);
  client.debug = null;
  await new Promise((resolve, reject) => client.connect({}, resolve, reject));
  assert.equal(sock.transport, 'xhr-streaming');
  const received = [];
  const receipt = new Promise((resolve) => { client.onreceipt = resolve; });
  client.subscribe('/topic/orders', (m) => received.push(JSON.parse(m.body)), { receipt: 'r' });
  await receipt;
  const created = await post('Tablet', 1);
  await waitFor(() => received.some((o) => o.id === created.id), 10000, 'MESSAGE over xhr_streaming through nginx');
  assert.deepEqual(received.filter((o) => o.id === created.id), [created]);
  await new Promise((resolve) => client.disconnect(resolve));
});

/** A WebSocket to /ws-orders through nginx from `localAddress`: resolves to it and the upgrade's status. */
function liveFrom(localAddress) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws-orders`, { localAddress });
    ws.on('open', () => resolve({ ws, status: 101 }));
    ws.on('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      resolve({ ws: null, status: res.statusCode });
    });
    ws.on('error', (e) => reject(e));
  });
}

test('behind nginx, each client it forwards has its own share of live connections', async () => {
  // One client (127.0.0.4) opens WebSockets and never says CONNECT.
  const held = [];
  for (let i = 0; i < HANDSHAKE_SHARE; i++) {
    const { ws, status } = await liveFrom('127.0.0.4');
    assert.equal(status, 101);
    held.push(ws);
  }
  assert.equal((await liveFrom('127.0.0.4')).status, 503, 'beyond its share');
  // Everyone comes from nginx's address, yet another client is unaffected.
  const { ws, status } = await liveFrom('127.0.0.5');
  assert.equal(status, 101);
  const connected = new Promise((resolve) => ws.once('message', (m) => resolve(String(m))));
  ws.send('CONNECT\naccept-version:1.2\nhost:localhost\n\n\0');
  assert.match(await connected, /^CONNECTED/);
  for (const socket of [...held, ws]) socket.terminate();
});

/** Runs `body` with the page open through nginx and live; skipped without Chromium. */
async function withLivePage(t, body) {
  if (!existsSync('/usr/bin/chromium')) return t.skip('chromium missing');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const page = await browser.newPage();
    await page.goto(base);
    await page.locator('[data-testid=connection-status][data-state=live]').waitFor();
    await body(page);
  } finally {
    await browser.close();
  }
}

test('the page through nginx goes live (same origin via the Host header)', (t) => withLivePage(t, async (page) => {
  const created = await post('Headphones', 1);
  await page.locator(`#orders tr[data-order-id="${created.id}"]`).waitFor();
}));

/** Status of GET `path` through nginx (0 if nginx does not answer at all). */
async function statusOf(path) {
  const r = await fetch(`${base}${path}`).catch(() => null);
  if (r) await r.arrayBuffer();
  return r?.status ?? 0;
}

test('order-service moved to another address: the page and /orders keep working through the same nginx', (t) => withLivePage(t, async (page) => {
  // A restart or recreate: the container comes back on another address.
  await move('order-service', orderEnv, '127.0.0.4');
  // The old address is gone: nginx cannot have been using the new one yet.
  assert.equal(await statusOf('/orders'), 502);
  names['order-service'] = ['127.0.0.4'];
  dns.publish();
  await waitFor(async () => (await statusOf('/orders')) === 200, 10000, '/orders through nginx after the move');
  assert.ok(nginx.running(), 'nginx was restarted');

  // The page reconnects through the same nginx and is live again.
  await page.locator('[data-testid=connection-status][data-state=live]').waitFor({ timeout: 30000 });
  const created = await post('Tablet', 1);
  await page.locator(`#orders tr[data-order-id="${created.id}"]`).waitFor({ timeout: 30000 });
  assert.equal((await (await fetch(`${base}/health`)).json()).status, 'UP');
}));

test('a name with a vanished address and a live one (a replica gone): every request goes through', async () => {
  // 127.0.0.2 is where order-service was before it moved: nothing listens.
  const stock = async () => (await (await fetch(`${base}/products`)).json()).find((p) => p.name === 'Headphones').stockQuantity;
  const stockBefore = await stock();
  const logFrom = nginx.log().length;
  names['order-service'] = ['127.0.0.2', '127.0.0.4'];
  dns.publish();
  // Every request succeeds, before and after nginx's cached answer (2 s)
  // gives way to the new one; nginx rotates the addresses of an answer, so
  // it soon tries the vanished one, and then the next.
  await waitFor(async () => {
    assert.equal(await statusOf('/orders?limit=1'), 200);
    return /connect\(\) failed .*127\.0\.0\.2:/.test(nginx.log().slice(logFrom));
  }, 10000, 'nginx to try the vanished address');
  for (let i = 0; i < 20; i++) assert.equal(await statusOf('/orders?limit=1'), 200);
  // A POST whose connection was refused was never sent: it goes to the next
  // address, and is applied once.
  for (let i = 0; i < 5; i++) assert.equal((await post('Headphones', 1)).status, 'CREATED');
  assert.equal(await stock(), stockBefore - 5);
});

test('inventory-service moved: /inventory through nginx follows it', async () => {
  const before = await (await fetch(`${base}/inventory/products`)).json();
  await move('inventory-service', inventoryEnv, '127.0.0.5');
  assert.equal(await statusOf('/inventory/products'), 502);
  names['inventory-service'] = ['127.0.0.5'];
  dns.publish();
  await waitFor(async () => (await statusOf('/inventory/products')) === 200, 10000, '/inventory through nginx after the move');
  assert.deepEqual(await (await fetch(`${base}/inventory/products`)).json(), before);
});
