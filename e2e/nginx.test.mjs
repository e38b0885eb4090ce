// The frontend container's path, without Docker: Debian's real nginx runs
// deploy/nginx/default.conf.template rendered for local addresses, in front
// of the services started with the compose file's environment against a
// real PostgreSQL. Real clients go through nginx: REST, STOMP over
// WebSocket, SockJS's xhr_streaming fallback, and the page in Chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import { chromium } from 'playwright-core';
import { ROOT, freePort, startService, waitFor } from './harness.mjs';

const require = createRequire(import.meta.url);
const SockJS = require('sockjs-client');
const { Stomp } = require('stompjs/lib/stomp.js');
Stomp.setInterval = (ms, f) => setInterval(f, ms);
Stomp.clearInterval = (id) => clearInterval(id);

const PG = process.env.TEST_DATABASE_URL;
let dir;
let nginx;
let inventory;
let order;
let base;

/** A service's environment in docker-compose.yml, adapted to this machine. */
function composeEnv(service, local) {
  const env = JSON.parse(execFileSync('/usr/bin/python3', [join(ROOT, 'deploy/check-compose'), '--env', service], { encoding: 'utf8' }));
  const db = new URL(env.DATABASE_URL);
  const server = new URL(PG);
  db.username = server.username;
  db.password = server.password;
  db.host = server.host;
  return { ...env, DATABASE_URL: db.toString(), HTTP_PORT: '0', GRPC_PORT: '0', ...local };
}

function psql(sql, database = 'postgres') {
  const url = new URL(PG);
  url.pathname = `/${database}`;
  execFileSync('psql', [url.toString(), '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { stdio: 'inherit' });
}

before(async () => {
  assert.ok(PG, 'TEST_DATABASE_URL (a PostgreSQL server) is required: scripts/test-all starts one');
  // The databases compose's init script creates, created the same way.
  psql('DROP DATABASE IF EXISTS inventory WITH (FORCE)');
  psql('DROP DATABASE IF EXISTS orders WITH (FORCE)');
  for (const statement of readFileSync(join(ROOT, 'deploy/postgres/init.sql'), 'utf8').split(';').map((s) => s.replace(/--.*$/gm, '').trim()).filter(Boolean)) {
    psql(statement);
  }
  inventory = await startService('inventory-service', composeEnv('inventory-service', {}));
  order = await startService('order-service', composeEnv('order-service', {
    INVENTORY_URL: `http://${inventory.grpcAddr}`,
    FRONTEND_DIR: join(ROOT, 'frontend'),
  }));

  dir = mkdtempSync(join(tmpdir(), 'nginx-e2e-'));
  const port = await freePort();
  const vars = {
    ORDER_SERVICE_HTTP: order.httpAddr,
    INVENTORY_SERVICE_HTTP: inventory.httpAddr,
    LISTEN_PORT: `127.0.0.1:${port}`,
    WEB_ROOT: join(ROOT, 'frontend'),
  };
  // Render exactly these variables, as the image's entrypoint does.
  const rendered = execFileSync('envsubst', [Object.keys(vars).map((v) => `\${${v}}`).join(' ')], {
    input: readFileSync(join(ROOT, 'deploy/nginx/default.conf.template'), 'utf8'),
    env: { ...process.env, ...vars },
    encoding: 'utf8',
  });
  writeFileSync(join(dir, 'default.conf'), rendered);
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/default.conf;
}
`);
  nginx = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'inherit' });
  base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/`).catch(() => null))?.ok, 10000, 'nginx');
});

after(async () => {
  nginx?.kill('SIGTERM');
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

test('the page through nginx goes live (same origin via the Host header)', async (t) => {
  if (!existsSync('/usr/bin/chromium')) return t.skip('chromium missing');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const page = await browser.newPage();
    await page.goto(base);
    await page.locator('[data-testid=connection-status][data-state=live]').waitFor();
    const created = await post('Headphones', 1);
    await page.locator(`#orders tr[data-order-id="${created.id}"]`).waitFor();
  } finally {
    await browser.close();
  }
});
