// The frontend container's nginx without Docker, for tests that put the
// services behind it: Debian's real nginx running
// deploy/nginx/default.conf.template rendered as the image renders it, the
// service names resolved by dnsmasq (standing in for Docker's embedded DNS)
// from a hosts file the test rewrites, and each service's environment as
// docker-compose.yml sets it, adapted to this machine.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, freePort } from './harness.mjs';

const DNSMASQ = existsSync('/usr/sbin/dnsmasq') ? '/usr/sbin/dnsmasq' : 'dnsmasq';

/** What `deploy/check-compose --<what> <service>` prints: docker-compose.yml as compose reads it. */
export function composeSays(what, service) {
  return JSON.parse(execFileSync('/usr/bin/python3', [join(ROOT, 'deploy/check-compose'), `--${what}`, service], { encoding: 'utf8' }));
}

/** `service`'s compose environment on database `database` of the PostgreSQL server at `pg`, plus `local`. */
export function composeEnv(service, pg, database, local) {
  const env = composeSays('env', service);
  const db = new URL(env.DATABASE_URL);
  const server = new URL(pg);
  db.username = server.username;
  db.password = server.password;
  db.host = server.host;
  db.pathname = `/${database}`;
  return { ...env, DATABASE_URL: db.toString(), HTTP_PORT: '0', GRPC_PORT: '0', ...local };
}

/** Runs `sql` with psql on `database` of the server at `pg`; returns what it prints (unaligned, tuples only). */
export function psql(pg, sql, database = 'postgres') {
  const url = new URL(pg);
  url.pathname = `/${database}`;
  return execFileSync('psql', [url.toString(), '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql], { encoding: 'utf8' }).trim();
}

/** dnsmasq answering `names` (name -> addresses) from a hosts file in `dir`; `publish()` re-reads them. */
export async function startDns(dir, names) {
  const hosts = join(dir, 'hosts');
  const write = () => writeFileSync(hosts, `${Object.entries(names).flatMap(([name, addrs]) => addrs.map((a) => `${a} ${name}`)).join('\n')}\n`);
  write();
  const port = await freePort();
  const child = spawn(DNSMASQ, ['--keep-in-foreground', '--conf-file=/dev/null', `--port=${port}`, '--listen-address=127.0.0.1',
    '--bind-interfaces', '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`, '--pid-file=',
    `--user=${execFileSync('id', ['-un'], { encoding: 'utf8' }).trim()}`, '--log-facility=-'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return {
    resolver: `127.0.0.1:${port}`,
    publish() { write(); child.kill('SIGHUP'); },
    stop() { child.kill('SIGTERM'); },
  };
}

/**
 * nginx with the compose template rendered with `vars` (ORDER_SERVICE_HTTP,
 * INVENTORY_SERVICE_HTTP, SERVICE_RESOLVER; LISTEN_PORT and WEB_ROOT are
 * set here), its files under `dir`. Resolves to { base, log(), running(), stop() }:
 * log() is its error log so far (also echoed, less refused connections).
 */
export async function startNginx(dir, vars) {
  const port = await freePort();
  const all = { ...vars, LISTEN_PORT: `127.0.0.1:${port}`, WEB_ROOT: join(ROOT, 'frontend') };
  // Render exactly these variables, as the image's entrypoint does.
  const rendered = execFileSync('envsubst', [Object.keys(all).map((v) => `\${${v}}`).join(' ')], {
    input: readFileSync(join(ROOT, 'deploy/nginx/default.conf.template'), 'utf8'),
    env: { ...process.env, ...all },
    encoding: 'utf8',
  });
  writeFileSync(join(dir, 'default.conf'), rendered);
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
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
  const child = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'inherit', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk) => {
    log += chunk;
    // Refused connections are what moving or restarting a service provokes, many times a second.
    const shown = String(chunk).split('\n').filter((l) => l && !l.includes('(111: Connection refused)'));
    if (shown.length) process.stderr.write(`${shown.join('\n')}\n`);
  });
  return {
    base: `http://127.0.0.1:${port}`,
    log: () => log,
    running: () => child.exitCode === null && child.signalCode === null,
    stop() { child.kill('SIGTERM'); },
  };
}
