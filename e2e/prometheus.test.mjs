// The compose profile's monitoring, without Docker: the real Prometheus
// (Debian's package) runs deploy/prometheus/prometheus.yml with only its
// service discovery replaced, by static targets naming the test services
// (job names, metrics path and relabelling are the file's), scraping every
// second. The test places orders, some rejected, and cancels one; then the
// scrapes must show both targets up, every family typed, the order counters
// equal to what the test did, inventory's gRPC counters moving, every query
// of the Grafana dashboard must return data, and every alerting rule must
// evaluate without error and stay quiet. promtool checks each
// service's classic text output, Python's prometheus_client parser (strict
// OpenMetrics) its OpenMetrics output.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort, placeOrder, startSystem, waitFor } from './harness.mjs';

// Fast enough that the test waits seconds, not the 15 s of the compose file.
const SCRAPE_INTERVAL = '1s';
// Stands in for Grafana's $__rate_interval and $__range: longer than the
// whole test, so every rate() spans all of its orders.
const WINDOW = '5m';
// What Prometheus adds to every target by itself: series without metadata.
const SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling', 'scrape_series_added']);
// A family's samples carry its name plus one of these (OpenMetrics and the classic format).
const SUFFIXES = ['_total', '_created', '_bucket', '_sum', '_count', '_gcount', '_gsum', '_info'];
const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
const CLASSIC = 'text/plain; version=0.0.4; charset=utf-8';

let dir;
let system;
let prometheus;
let promBase;
let logPath;
// The orders this test placed, by the status the counter should show.
const did = { CREATED: 0, REJECTED: 0, CANCELLED: 0 };

/** A YAML file as data, read by Debian's python3-yaml (as deploy/check-compose does). */
function readYaml(path) {
  const script = 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))';
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, path], { encoding: 'utf8' }));
}

/** The compose configuration, its DNS discovery swapped for the test services' addresses. */
function testConfig(targets) {
  const config = readYaml(join(ROOT, 'deploy/prometheus/prometheus.yml'));
  config.global = { ...config.global, scrape_interval: SCRAPE_INTERVAL, scrape_timeout: SCRAPE_INTERVAL, evaluation_interval: SCRAPE_INTERVAL };
  for (const job of config.scrape_configs) {
    assert.ok(job.dns_sd_configs, `job ${job.job_name} finds its targets by DNS`);
    assert.ok(targets[job.job_name], `job ${job.job_name} scrapes a test service`);
    delete job.dns_sd_configs;
    job.static_configs = [{ targets: [targets[job.job_name]] }];
  }
  assert.deepEqual(config.scrape_configs.map((j) => j.job_name).sort(), Object.keys(targets).sort());
  // Relative to the configuration file, which the test writes elsewhere.
  config.rule_files = (config.rule_files ?? []).map((f) => join(ROOT, 'deploy/prometheus', f));
  return config;
}

/** Wraps a test so that a failure prints Prometheus' own log and its targets' state. */
function withLog(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      console.error(`--- prometheus log (${logPath}) ---\n${logPath ? readFileSync(logPath, 'utf8') : '(not started)'}`);
      const targets = await fetch(`${promBase}/api/v1/targets`).then((r) => r.json()).catch(() => null);
      for (const t of targets?.data?.activeTargets ?? []) {
        console.error(`target ${t.scrapeUrl}: ${t.health} ${t.lastError}`);
      }
      throw e;
    }
  };
}

async function api(path) {
  const r = await fetch(`${promBase}/api/v1/${path}`);
  const body = await r.json();
  assert.equal(body.status, 'success', `${path}: ${JSON.stringify(body)}`);
  return body.data;
}

/** An instant query's result vector. */
async function query(expr) {
  const data = await api(`query?query=${encodeURIComponent(expr)}`);
  assert.equal(data.resultType, 'vector', expr);
  return data.result;
}

/** The value of a query that sums to one number; 0 while it has no series. */
async function total(expr) {
  const [sample] = await query(expr);
  return sample ? Number(sample.value[1]) : 0;
}

/**
 * Resolves once Prometheus has scraped both services after everything the
 * test did so far: each target is scraped on its own schedule, so both are
 * waited for.
 */
async function scrapedAll() {
  const settled = Object.values(did).reduce((a, b) => a + b);
  await waitFor(async () => await total('sum(order_service_orders_total)') === settled
    // Every order is one reservation decided at inventory, every cancel one release.
    && await total('sum(inventory_service_reservations_total)') === did.CREATED + did.REJECTED
    && await total('sum(inventory_service_releases_total)') === did.CANCELLED,
  20000, `Prometheus to see ${settled} settled orders at both services`);
}

async function order(product, quantity, expected) {
  const { status, body } = await placeOrder(system.base, product, quantity);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.status, expected, JSON.stringify(body));
  did[expected] += 1;
  return body;
}

before(withLog(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prometheus-e2e-'));
  system = await startSystem();
  const config = testConfig({ 'order-service': system.order.httpAddr, 'inventory-service': system.inventory.httpAddr });
  // JSON is YAML: Prometheus reads it as its configuration file.
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  const port = await freePort();
  promBase = `http://127.0.0.1:${port}`;
  logPath = join(dir, 'prometheus.log');
  const log = openSync(logPath, 'a');
  prometheus = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', log, log] });
  closeSync(log);
  let failed = null;
  prometheus.on('error', (e) => { failed = e; });
  process.on('exit', () => prometheus.kill('SIGKILL'));
  await waitFor(async () => {
    if (failed) throw new Error(`prometheus (Debian's package; scripts/install-test-deps) did not start: ${failed.message}`);
    return (await fetch(`${promBase}/-/ready`).catch(() => null))?.ok;
  }, 20000, 'Prometheus ready');

  // Two rounds, each seen by a scrape, so every rate() has an increase to show.
  await order('Laptop', 1, 'CREATED');
  await order('Phone', 2, 'CREATED');
  await order('Tablet', 1, 'CREATED');
  await order('No such product', 1, 'REJECTED');
  await order('Monitor', 9, 'REJECTED'); // 8 in stock
  await scrapedAll();
  const cancelled = await order('Headphones', 3, 'CREATED');
  await order('Laptop', 2, 'CREATED');
  await order('Monitor', 9, 'REJECTED');
  const r = await fetch(`${system.base}/orders/${cancelled.id}/cancel`, { method: 'POST' });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).status, 'CANCELLED');
  did.CANCELLED += 1;
  await scrapedAll();
}));

after(async () => {
  if (prometheus && prometheus.exitCode === null) {
    await new Promise((done) => { prometheus.once('exit', done); prometheus.kill('SIGTERM'); });
  }
  await system?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('both services are scraped, one instance each, at the configured path', withLog(async () => {
  const { activeTargets } = await api('targets?state=active');
  const byJob = Object.fromEntries(activeTargets.map((t) => [t.labels.job, t]));
  assert.deepEqual(Object.keys(byJob).sort(), ['inventory-service', 'order-service']);
  for (const [job, addr] of [['order-service', system.order.httpAddr], ['inventory-service', system.inventory.httpAddr]]) {
    const target = byJob[job];
    assert.equal(target.health, 'up', `${job}: ${target.lastError}`);
    assert.equal(target.lastError, '');
    assert.equal(target.scrapeUrl, `http://${addr}/actuator/prometheus`);
    // The relabelling: an instance is the replica's address.
    assert.equal(target.labels.instance, addr.split(':')[0]);
  }
}));

test('every family each service exposes is typed', withLog(async () => {
  // Families each must have: the shared ones of support, and its own.
  const required = {
    'order-service': ['http_server_requests', 'http_server_request_duration_seconds', 'grpc_client_handled', 'process_cpu_seconds',
      'db_pool_connections', 'event_log_written_seq', 'order_service_orders', 'order_service_live_connections'],
    'inventory-service': ['http_server_requests', 'grpc_server_handled', 'grpc_server_handling_seconds', 'process_resident_memory_bytes',
      'db_pool_acquire_seconds', 'event_log_published_seq', 'inventory_service_reservations', 'inventory_service_stock'],
  };
  for (const [job, families] of Object.entries(required)) {
    const names = await api(`label/__name__/values?match[]=${encodeURIComponent(`{job="${job}"}`)}`);
    const types = Object.fromEntries((await api(`targets/metadata?match_target=${encodeURIComponent(`{job="${job}"}`)}`))
      .map((m) => [m.metric, m.type]));
    const untyped = names.filter((n) => !SYNTHETIC.has(n)).filter((name) => {
      const family = [name, ...SUFFIXES.filter((x) => name.endsWith(x)).map((x) => name.slice(0, -x.length))].find((f) => types[f]);
      return !family || types[family] === 'unknown';
    });
    assert.deepEqual(untyped, [], `${job}: series without a typed family`);
    for (const family of families) {
      assert.ok(types[family] ?? types[`${family}_total`], `${job}: family ${family} missing; it has ${Object.keys(types).join(', ')}`);
    }
  }
}));

test('the order counters are what the test did', withLog(async () => {
  const byStatus = Object.fromEntries((await query('sum by (status) (order_service_orders_total)'))
    .map((s) => [s.metric.status, Number(s.value[1])]));
  assert.deepEqual(byStatus, did);
  const reasons = Object.fromEntries((await query('sum by (reason) (order_service_orders_total{status="REJECTED"})'))
    .map((s) => [s.metric.reason, Number(s.value[1])]));
  assert.deepEqual(reasons, { unknown_product: 1, insufficient_stock: 2 });
}));

test("inventory's gRPC and reservation counters count order-service's calls", withLog(async () => {
  const byMethod = async (expr) => Object.fromEntries((await query(expr)).map((s) => [s.metric.grpc_method, Number(s.value[1])]));
  const served = await byMethod('sum by (grpc_method) (grpc_server_handled_total{job="inventory-service",grpc_code="OK"})');
  const called = await byMethod('sum by (grpc_method) (grpc_client_handled_total{job="order-service",grpc_code="OK"})');
  assert.ok(served.ReserveStockBatch > 0, JSON.stringify(served));
  // Every reservation call order-service made, inventory served: the same count on both sides.
  assert.equal(called.ReserveStockBatch, served.ReserveStockBatch);
  // Each order is one entry of a batch, decided once.
  const outcomes = Object.fromEntries((await query('sum by (outcome) (inventory_service_reservations_total)'))
    .map((s) => [s.metric.outcome, Number(s.value[1])]));
  assert.equal(outcomes.reserved, did.CREATED, JSON.stringify(outcomes));
  assert.equal(outcomes.insufficient_stock, 2, JSON.stringify(outcomes));
  assert.equal(Object.values(outcomes).reduce((a, b) => a + b), did.CREATED + did.REJECTED, JSON.stringify(outcomes));
}));

test('every query of the Grafana dashboard returns data', withLog(async () => {
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/dashboards/order-system.json'), 'utf8'));
  const panels = dashboard.panels.filter((p) => p.type !== 'row');
  assert.ok(panels.length > 0);
  const empty = [];
  for (const panel of panels) {
    assert.equal(panel.datasource?.uid, 'prometheus', panel.title);
    assert.ok(panel.targets?.length, `${panel.title} has no query`);
    for (const target of panel.targets) {
      const expr = target.expr
        .replaceAll('$__rate_interval', WINDOW).replaceAll('$__range', WINDOW).replaceAll('$__interval', SCRAPE_INTERVAL);
      assert.ok(!expr.includes('$'), `${panel.title}: a variable this test does not know: ${expr}`);
      const result = await query(expr);
      // NaN is what histogram_quantile gives for an empty histogram: no data either.
      if (!result.some((s) => Number.isFinite(Number(s.value[1])))) empty.push(`${panel.title}: ${expr}`);
    }
  }
  assert.deepEqual(empty, [], `queries without data:\n${empty.join('\n')}`);
}));

/** The body of a service's metrics path, checked to have the content type asked for. */
async function metricsBody(addr, path, accept, type) {
  const r = await fetch(`http://${addr}${path}`, { headers: accept ? { accept } : {} });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), type, `${path} with Accept ${accept}`);
  return r.text();
}

test('promtool finds no problem in the classic text, the OpenMetrics parser none in OpenMetrics', withLog(async () => {
  for (const addr of [system.order.httpAddr, system.inventory.httpAddr]) {
    for (const path of ['/metrics', '/actuator/prometheus']) {
      const classic = await metricsBody(addr, path, null, CLASSIC);
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: classic, encoding: 'utf8' });
      assert.equal(lint.status, 0, `promtool check metrics, ${addr}${path}:\n${lint.stdout}${lint.stderr}`);
      assert.equal(`${lint.stdout}${lint.stderr}`.trim(), '');

      // promtool reads only the classic format (it takes `# EOF` for a comment
      // and `foo_total` of a `foo` counter for another family): OpenMetrics
      // goes through prometheus_client's strict parser.
      const open = await metricsBody(addr, path, 'application/openmetrics-text; version=1.0.0', OPENMETRICS);
      const script = 'import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n'
        + 'print(len(list(p(sys.stdin.read()))))';
      const parsed = spawnSync('/usr/bin/python3', ['-c', script], { input: open, encoding: 'utf8' });
      assert.equal(parsed.status, 0, `OpenMetrics parser, ${addr}${path}:\n${parsed.stderr}`);
      assert.ok(Number(parsed.stdout) > 0, `no families in ${addr}${path}`);
    }
  }
}));

test('the alerting rules pass their unit tests, evaluate against the real series, and stay quiet', withLog(async () => {
  const unit = spawnSync('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: join(ROOT, 'deploy/prometheus'), encoding: 'utf8' });
  assert.equal(unit.status, 0, `promtool test rules:\n${unit.stdout}${unit.stderr}`);

  const rules = await waitFor(async () => {
    const { groups } = await api('rules?type=alert');
    const all = groups.flatMap((g) => g.rules);
    // Evaluated at least once (every SCRAPE_INTERVAL here); never evaluated says year 1.
    return all.length && all.every((r) => r.lastEvaluation && !r.lastEvaluation.startsWith('0001')) && all;
  }, 10000, 'every alerting rule evaluated');
  const expected = readYaml(join(ROOT, 'deploy/prometheus/alerts.yml')).groups.flatMap((g) => g.rules);
  assert.deepEqual(rules.map((r) => r.name).sort(), expected.map((r) => r.alert).sort());
  // A misspelt metric evaluates fine, to nothing: every metric a rule names
  // must be one the services expose. Label matchers, grouping lists and
  // function names are taken out first; what is left with an underscore is a metric.
  const exposed = new Set(await api('label/__name__/values'));
  for (const { alert, expr } of expected) {
    const bare = expr.replace(/\{[^}]*\}/g, '')
      .replace(/\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
      .replace(/\b[a-z_]+\s*\(/g, '(');
    const unknown = (bare.match(/\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b/g) ?? []).filter((m) => !exposed.has(m));
    assert.deepEqual(unknown, [], `${alert} names metrics nobody exposes`);
  }
  for (const rule of rules) {
    assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError}`);
    assert.equal(rule.state, 'inactive', `${rule.name} is ${rule.state} on a healthy system`);
  }
}));
