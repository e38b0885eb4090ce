// The page in a real browser: headless Chromium from Debian (no browser
// download), driven by playwright-core. Two pages watch the same system.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, freePort, placeOrder, startSystem } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'e2e', 'artifacts');

let system;
let browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (scripts/install-test-deps)`);
  // A fixed port, so the restarted order-service is where the pages expect it.
  system = await startSystem({ orderPort: await freePort() });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await system?.stop();
});

/** A page showing the system, live; `setup` runs before it loads. */
async function openPage(setup) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('pageerror', (e) => console.error('page error:', e));
  await setup?.(page);
  await page.goto(system.base);
  await page.locator('[data-testid=connection-status][data-state=live]').waitFor();
  return page;
}

const stock = (page, product) => page.locator(`#products li[data-product="${product}"] [data-testid=stock]`);
const row = (page, id) => page.locator(`#orders tr[data-order-id="${id}"]`);

async function order(page, product, quantity) {
  await page.selectOption('[data-testid=product-select]', product);
  await page.fill('[data-testid=quantity]', String(quantity));
  await page.click('[data-testid=submit]');
  await page.locator('[data-testid=form-message]').filter({ hasText: /Order #\d+/ }).waitFor();
  const text = await page.locator('[data-testid=form-message]').textContent();
  return Number(/#(\d+)/.exec(text)[1]);
}

test('an order placed in one page appears live in both, and the stock drops in both', async () => {
  const [a, b] = [await openPage(), await openPage()];
  await stock(a, 'Laptop').filter({ hasText: '10 in stock' }).waitFor();
  await assert.doesNotReject(b.locator('option[data-product=Laptop]').filter({ hasText: 'Laptop (10 in stock)' }).waitFor({ state: 'attached' }));

  const id = await order(a, 'Laptop', 3);
  for (const page of [a, b]) {
    await row(page, id).locator('[data-testid=status]').filter({ hasText: 'CREATED' }).waitFor();
    await stock(page, 'Laptop').filter({ hasText: '7 in stock' }).waitFor();
    assert.equal(await row(page, id).count(), 1, 'exactly once');
    assert.equal(await row(page, id).locator('td').nth(1).textContent(), 'Laptop');
    assert.equal(await row(page, id).locator('td').nth(2).textContent(), '3');
  }
  // An order made elsewhere (curl) shows up too, once.
  const { body } = await placeOrder(system.base, 'Phone', 2);
  for (const page of [a, b]) {
    await row(page, body.id).waitFor();
    await stock(page, 'Phone').filter({ hasText: '18 in stock' }).waitFor();
    assert.equal(await row(page, body.id).count(), 1);
  }
  await a.close();
  await b.close();
});

test("the page's console names each live event's trace, as the request's traceparent gave it", async () => {
  const logged = [];
  const page = await openPage((p) => p.on('console', (m) => logged.push(m.text())));
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const r = await fetch(`${system.base}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${trace}-00f067aa0ba902b7-01` },
    body: JSON.stringify({ product: 'Headphones', quantity: 1 }),
  });
  assert.equal(r.status, 200);
  const { id } = await r.json();
  await row(page, id).waitFor();
  const line = logged.find((t) => t.startsWith(`orders ${id} `));
  assert.ok(line, `no console line for order ${id}: ${logged.join(' | ')}`);
  assert.match(line, new RegExp(`trace_id ${trace}$`));
  await page.close();
});

test('a rejected order shows its reason; bad quantities are refused before sending', async () => {
  const page = await openPage();
  const id = await order(page, 'Monitor', 9);
  await row(page, id).locator('[data-testid=status]').filter({ hasText: 'REJECTED' }).waitFor();
  assert.match(await row(page, id).textContent(), /Insufficient stock/);
  assert.match(await page.locator('[data-testid=form-message]').textContent(), /rejected: Insufficient stock/);
  const before = await page.locator('#orders tr').count();
  await page.fill('[data-testid=quantity]', '0');
  await page.click('[data-testid=submit]');
  await page.locator('[data-testid=form-message]').filter({ hasText: 'whole number' }).waitFor();
  assert.equal(await page.locator('[data-testid=quantity]').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#orders tr').count(), before, 'nothing was sent');
  await page.close();
});

test('cancel restores the stock shown', async () => {
  const page = await openPage();
  const id = await order(page, 'Tablet', 4);
  await stock(page, 'Tablet').filter({ hasText: '11 in stock' }).waitFor();
  await row(page, id).locator('[data-testid=cancel]').click();
  await row(page, id).locator('[data-testid=status]').filter({ hasText: 'CANCELLED' }).waitFor();
  await stock(page, 'Tablet').filter({ hasText: '15 in stock' }).waitFor();
  assert.equal(await row(page, id).locator('[data-testid=cancel]').count(), 0);
  await page.close();
});

test('the indicator follows order-service going away and coming back; nothing is missed', async () => {
  const page = await openPage();
  await system.stopOrder();
  await page.locator('[data-testid=connection-status][data-state=reconnecting]').waitFor();
  await system.startOrder();
  // Orders made while the page was disconnected (it cannot have heard of them).
  const missed = [];
  for (const qty of [1, 2]) missed.push((await placeOrder(system.base, 'Headphones', qty)).body.id);
  await page.locator('[data-testid=connection-status][data-state=live]').waitFor({ timeout: 20000 });
  for (const id of missed) await row(page, id).waitFor();
  // The list is complete: every order the server has, each once.
  const server = await (await fetch(`${system.base}/orders`)).json();
  const shown = await page.locator('#orders tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.orderId)));
  assert.deepEqual(shown, server.map((o) => o.id));

  mkdirSync(ARTIFACTS, { recursive: true });
  const desktop = join(ARTIFACTS, 'page.png');
  await page.screenshot({ path: desktop, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  // At phone width the orders are cards: nothing scrolls sideways, and
  // every order keeps its status and (when CREATED) its Cancel button.
  const overflow = await page.evaluate(() => {
    const wrap = document.querySelector('.table-wrap');
    return [document.documentElement.scrollWidth - innerWidth, wrap.scrollWidth - wrap.clientWidth];
  });
  assert.deepEqual(overflow, [0, 0], 'horizontal overflow at 390 px');
  await page.locator('[data-testid=cancel]').first().scrollIntoViewIfNeeded();
  assert.ok(await page.locator('[data-testid=cancel]').first().isVisible());
  const phone = join(ARTIFACTS, 'page-phone.png');
  await page.screenshot({ path: phone, fullPage: true });
  console.log(`screenshots: ${desktop} ${phone}`);
  await page.close();
});

test('a page whose socket drops resumes from the last event it saw: complete, without reloading', async () => {
  const gets = [];
  let refuse = false;
  const sockets = [];
  const page = await openPage(async (p) => {
    p.on('request', (r) => {
      const { pathname } = new URL(r.url());
      if (r.method() === 'GET' && ['/orders', '/products'].includes(pathname)) gets.push(pathname);
    });
    // The page's WebSockets pass through here, so the test can cut them.
    await p.routeWebSocket(/\/ws-orders$/, (ws) => {
      if (refuse) return ws.close();
      ws.connectToServer();
      sockets.push(ws);
    });
  });
  await stock(page, 'Headphones').waitFor();
  const startup = gets.length;
  refuse = true;
  await Promise.all(sockets.map((ws) => ws.close()));
  await page.locator('[data-testid=connection-status][data-state=reconnecting]').waitFor();
  // Orders placed while the page cannot hear of them.
  const missed = [];
  for (const qty of [1, 2, 1]) missed.push((await placeOrder(system.base, 'Headphones', qty)).body.id);
  const products = await (await fetch(`${system.base}/products`)).json();
  const headphones = products.find((p) => p.name === 'Headphones').stockQuantity;
  refuse = false;
  await page.locator('[data-testid=connection-status][data-state=live]').waitFor({ timeout: 20000 });
  for (const id of missed) await row(page, id).waitFor();
  await stock(page, 'Headphones').filter({ hasText: `${headphones} in stock` }).waitFor();
  const server = await (await fetch(`${system.base}/orders`)).json();
  const shown = await page.locator('#orders tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.orderId)));
  assert.deepEqual(shown, server.map((o) => o.id), 'every order, each once');
  assert.equal(gets.length, startup, `no list was reloaded: ${gets.slice(startup)}`);
  await page.close();
});

test('at start-up the page fetches the orders and the products once each', async () => {
  const gets = { '/orders': 0, '/products': 0 };
  const page = await openPage((p) => p.on('request', (r) => {
    const { pathname } = new URL(r.url());
    if (r.method() === 'GET' && Object.hasOwn(gets, pathname)) gets[pathname] += 1;
  }));
  // openPage waited for "live", which the page shows only once its start-up
  // loads are done: every start-up fetch has been made.
  await stock(page, 'Laptop').waitFor();
  assert.deepEqual(gets, { '/orders': 1, '/products': 1 });
  await page.close();
});

test('without the live connection the page still shows orders and products', async () => {
  const { body } = await placeOrder(system.base, 'Phone', 1);
  // The connection refused at once, or answering nothing at all: the page
  // loads its lists at start-up either way.
  for (const [refuse, wait] of [[(ws) => ws.close(), 4000], [() => {}, 4000]]) {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e));
    await page.routeWebSocket(/\/ws-orders$/, refuse);
    await page.goto(system.base);
    await row(page, body.id).waitFor({ timeout: wait });
    await stock(page, 'Laptop').waitFor();
    assert.notEqual(await page.locator('[data-testid=connection-status]').getAttribute('data-state'), 'live');
    await page.close();
  }
});

test('the quantity limits shown, enforced by the input and checked are the same', async () => {
  const page = await openPage();
  const input = page.locator('[data-testid=quantity]');
  assert.equal(await input.getAttribute('min'), '1');
  assert.equal(await input.getAttribute('max'), '1000');
  assert.match(await page.locator('#quantity-hint').textContent(), /from 1 to 1000\b/);
  await input.fill('1000');
  assert.equal(await input.getAttribute('aria-invalid'), 'false');
  const before = await page.locator('#orders tr').count();
  await input.fill('1001');
  await page.click('[data-testid=submit]');
  await page.locator('[data-testid=form-message]').filter({ hasText: /whole number from 1 to 1000\b/ }).waitFor();
  assert.equal(await input.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#orders tr').count(), before, 'nothing was sent');
  await page.close();
});

// Last: it leaves more than a page of orders behind.
test('a failed "load older" says so and keeps its button, which then works', async () => {
  const PAGE = 100; // orders per page, as the page asks for them
  const count = async () => (await (await fetch(`${system.base}/orders?limit=1000`)).json()).length;
  // More than a page of orders: rejected ones (too many), so stock is untouched.
  for (let have = await count(); have <= PAGE; have += 10) {
    await Promise.all(Array.from({ length: 10 }, () => placeOrder(system.base, 'Monitor', 1000)));
  }
  const server = (await (await fetch(`${system.base}/orders?limit=1000`)).json()).map((o) => o.id);

  const page = await openPage();
  const shown = () => page.locator('#orders tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.orderId)));
  const older = page.getByRole('button', { name: 'Load older orders' });
  await older.waitFor();
  assert.deepEqual(await shown(), server.slice(0, PAGE));
  const isOlder = (url) => url.pathname === '/orders' && url.searchParams.has('before');

  // The server fails...
  await page.route(isOlder, (route) => route.fulfill({
    status: 500, contentType: 'application/json', body: JSON.stringify({ message: 'Database unavailable' }),
  }));
  await older.click();
  await page.getByRole('alert').filter({ hasText: 'Database unavailable' }).waitFor({ timeout: 5000 });
  assert.ok(await older.isVisible(), 'the button stays');
  assert.ok(await older.isEnabled(), 'the button can be used again');
  assert.deepEqual(await shown(), server.slice(0, PAGE), 'the list is as it was');

  // ...or cannot be reached...
  await page.unroute(isOlder);
  await page.route(isOlder, (route) => route.abort('connectionrefused'));
  await older.click();
  await page.getByRole('alert').filter({ hasText: 'cannot be reached' }).waitFor({ timeout: 5000 });
  assert.ok(await older.isVisible(), 'the button stays');
  assert.deepEqual(await shown(), server.slice(0, PAGE), 'the list is as it was');

  // ...and a retry once it answers loads the next page and clears the error.
  await page.unroute(isOlder);
  await older.click();
  await row(page, server[Math.min(server.length, 2 * PAGE) - 1]).waitFor();
  assert.deepEqual(await shown(), server.slice(0, 2 * PAGE));
  assert.equal(await page.getByRole('alert').count(), 0, 'no error left');
  assert.equal(await older.isVisible(), server.length > 2 * PAGE);
  await page.close();
});
