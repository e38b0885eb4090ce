// Starts the real services as processes (the debug binaries built by
// `cargo build`), each on free ports with a fresh SQLite database, and stops
// them. Used by every e2e test file.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import net from 'node:net';

export const ROOT = resolve(new URL('..', import.meta.url).pathname);
const BIN = process.env.BIN_DIR ?? join(ROOT, 'target', 'debug');
const running = new Set();

process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts one service; resolves with { child, httpAddr, grpcAddr, stop() }. */
export function startService(name, env) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(join(BIN, name), [], {
      env: { ...process.env, LOG_FORMAT: 'json', RUST_LOG: 'warn,order_service=info,live=info,inventory_service=info', BIND_ADDR: '127.0.0.1', HTTP_PORT: '0', GRPC_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    running.add(child);
    const timer = setTimeout(() => reject(new Error(`${name} not ready within 20 s`)), 20000);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let log;
      try { log = JSON.parse(line); } catch { return; }
      if (log.message === 'ready' || log.fields?.message === 'ready') {
        clearTimeout(timer);
        const fields = log.fields ?? log;
        resolvePromise({
          child,
          httpAddr: fields.http_addr,
          grpcAddr: fields.grpc_addr,
          stop: () => stopChild(child),
        });
      }
    });
    child.on('exit', (code) => {
      running.delete(child);
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready`));
    });
  });
}

function stopChild(child) {
  return new Promise((done) => {
    if (child.exitCode !== null) return done();
    child.once('exit', () => { running.delete(child); done(); });
    child.kill('SIGTERM');
  });
}

/** A free TCP port on loopback. */
export function freePort() {
  return new Promise((done, fail) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
    server.on('error', fail);
  });
}

/**
 * Both services on fresh SQLite files. `orderPort` fixes order-service's HTTP
 * port (for restarts); `orderEnv` adds variables.
 */
export async function startSystem({ orderPort = 0, orderEnv = {}, inventoryEnv = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'order-system-e2e-'));
  const inventory = await startService('inventory-service', { DATABASE_URL: `sqlite://${dir}/inventory.db`, ...inventoryEnv });
  const orderConfig = {
    DATABASE_URL: `sqlite://${dir}/orders.db`,
    INVENTORY_URL: `http://${inventory.grpcAddr}`,
    FRONTEND_DIR: join(ROOT, 'frontend'),
    HTTP_PORT: String(orderPort),
    ...orderEnv,
  };
  let order = await startService('order-service', orderConfig);
  const system = {
    dir,
    inventory,
    get order() { return order; },
    get base() { return `http://${order.httpAddr}`; },
    get wsBase() { return `ws://${order.httpAddr}`; },
    async stopOrder() { await order.stop(); },
    async startOrder() {
      order = await startService('order-service', { ...orderConfig, HTTP_PORT: order.httpAddr.split(':')[1] });
    },
    async stop() {
      await order.stop();
      await inventory.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return system;
}

/** POST /orders and return the parsed answer. */
export async function placeOrder(base, product, quantity) {
  const r = await fetch(`${base}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ product, quantity }),
  });
  return { status: r.status, body: await r.json() };
}

/** Resolves when `predicate()` is truthy; rejects after `ms`. */
export async function waitFor(predicate, ms = 10000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const value = await predicate();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
