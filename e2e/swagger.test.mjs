// Swagger UI in a real browser, on both services: headless Chromium from
// Debian, driven by playwright-core. The page lists every operation of the
// service's own document, "Try it out" on the product listing answers 200,
// and no request leaves this host (the UI's files are in the binary).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startSystem } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let system;
let browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (scripts/install-test-deps)`);
  system = await startSystem();
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

/** Every operation of the document at `base`, as "GET /path". */
async function operations(base) {
  const response = await fetch(`${base}/v3/api-docs`);
  assert.equal(response.status, 200);
  const doc = await response.json();
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).filter((m) => METHODS.includes(m)).map((m) => `${m.toUpperCase()} ${path}`));
}

/** Opens Swagger UI at springdoc's old path; fails the test on any request to another host. */
async function openSwaggerUi(base) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const elsewhere = [];
  const errors = [];
  const host = new URL(base).host;
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (!['data:', 'blob:'].includes(url.protocol) && url.host !== host) elsewhere.push(request.url());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  const response = await page.goto(`${base}/swagger-ui.html`);
  assert.equal(response.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/swagger-ui/index.html', 'redirected to the page');
  await page.locator('.opblock').first().waitFor();
  return { page, elsewhere, errors };
}

/** Every operation the page lists, as "GET /path". */
async function listed(page) {
  return page.locator('.opblock').evaluateAll((blocks) => blocks.map((block) => {
    const method = block.querySelector('.opblock-summary-method').textContent.trim();
    const path = block.querySelector('.opblock-summary-path').getAttribute('data-path');
    return `${method} ${path}`;
  }));
}

/** Expands `method path`, "Try it out", "Execute": the status the page shows. */
async function tryItOut(page, method, path) {
  const block = page.locator(`.opblock-${method.toLowerCase()}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
  assert.equal(await block.count(), 1, `${method} ${path} listed once`);
  await block.locator('.opblock-summary').first().click();
  await block.locator('button.try-out__btn').click();
  await block.locator('button.execute').click();
  const status = block.locator('.live-responses-table tr.response .response-col_status');
  await status.waitFor();
  return (await status.textContent()).trim();
}

for (const [service, listing] of [['order-service', '/products'], ['inventory-service', '/inventory/products']]) {
  test(`${service}: Swagger UI lists every operation, and "Try it out" on GET ${listing} answers 200`, async () => {
    const base = service === 'order-service' ? system.base : `http://${system.inventory.httpAddr}`;
    const expected = await operations(base);
    const { page, elsewhere, errors } = await openSwaggerUi(base);
    assert.deepEqual((await listed(page)).sort(), [...expected].sort());
    assert.equal(await tryItOut(page, 'GET', listing), '200');
    await page.close();
    assert.deepEqual(elsewhere, [], 'no request leaves this host');
    assert.deepEqual(errors, [], 'no script error');
  });
}
