// A small STOMP 1.2 client over a plain WebSocket: CONNECT with heart-beats,
// SUBSCRIBE, MESSAGE dispatch, RECEIPT. Frames are parsed from bytes, so
// content-length bodies and several frames per WebSocket message both work.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function indexOf(bytes, value, from = 0) {
  for (let i = from; i < bytes.length; i++) if (bytes[i] === value) return i;
  return -1;
}

function unescapeHeader(value) {
  return value.replace(/\\(.)/g, (_, c) => ({ n: '\n', r: '\r', c: ':', '\\': '\\' })[c] ?? c);
}

/** Takes whole frames off the front of `buffer`: returns [frames, rest]. */
function parseFrames(buffer) {
  const frames = [];
  let pos = 0;
  for (;;) {
    while (buffer[pos] === 10 || (buffer[pos] === 13 && buffer[pos + 1] === 10)) pos += buffer[pos] === 13 ? 2 : 1;
    if (pos >= buffer.length) break;
    // The header block ends at the first empty line.
    let end = -1;
    for (let i = pos; i < buffer.length - 1; i++) {
      if (buffer[i] === 10 && (buffer[i + 1] === 10 || (buffer[i + 1] === 13 && buffer[i + 2] === 10))) {
        end = i;
        break;
      }
    }
    if (end < 0) break;
    const bodyStart = end + (buffer[end + 1] === 13 ? 3 : 2);
    const lines = decoder.decode(buffer.subarray(pos, end)).split('\n').map((l) => l.replace(/\r$/, ''));
    const command = lines.shift();
    const headers = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = unescapeHeader(line.slice(0, colon));
      if (!(name in headers)) headers[name] = unescapeHeader(line.slice(colon + 1));
    }
    let bodyEnd;
    if (headers['content-length'] !== undefined) {
      bodyEnd = bodyStart + Number(headers['content-length']);
      if (buffer.length <= bodyEnd) break;
    } else {
      bodyEnd = indexOf(buffer, 0, bodyStart);
      if (bodyEnd < 0) break;
    }
    frames.push({ command, headers, body: decoder.decode(buffer.subarray(bodyStart, bodyEnd)) });
    pos = bodyEnd + 1;
  }
  return [frames, buffer.subarray(pos)];
}

/** Serialises a client frame (STOMP 1.2 header escaping). */
function frame(command, headers = {}, body = '') {
  const escape = (v) => String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/:/g, '\\c');
  const lines = [command];
  for (const [k, v] of Object.entries(headers)) lines.push(command === 'CONNECT' ? `${k}:${v}` : `${escape(k)}:${escape(v)}`);
  return `${lines.join('\n')}\n\n${body}\0`;
}

/**
 * One STOMP session over one WebSocket. `onConnected` runs once CONNECTED
 * arrives; `onClose` when the socket closes for any reason (the caller
 * decides whether to reconnect).
 */
export class StompSession {
  constructor(url, { onConnected, onClose, heartbeat = 10000 } = {}) {
    this.handlers = new Map();
    this.receipts = new Map();
    this.nextId = 0;
    this.buffer = new Uint8Array(0);
    this.lastSeen = Date.now();
    this.timers = [];
    this.ws = new WebSocket(url, ['v12.stomp', 'v11.stomp']);
    this.ws.onopen = () => {
      this.ws.send(frame('CONNECT', { 'accept-version': '1.2,1.1', host: location.hostname, 'heart-beat': `${heartbeat},${heartbeat}` }));
    };
    this.ws.onmessage = (event) => {
      this.lastSeen = Date.now();
      const bytes = typeof event.data === 'string' ? encoder.encode(event.data) : new Uint8Array(event.data);
      const [frames, rest] = parseFrames(concat(this.buffer, bytes));
      this.buffer = rest;
      for (const f of frames) this.dispatch(f, heartbeat, onConnected);
    };
    this.ws.onclose = () => {
      this.timers.forEach(clearInterval);
      onClose?.();
    };
    this.ws.onerror = () => this.ws.close();
  }

  dispatch(f, heartbeat, onConnected) {
    if (f.command === 'CONNECTED') {
      const [sx, sy] = (f.headers['heart-beat'] ?? '0,0').split(',').map(Number);
      // We send every max(ours, theirs); silence for twice their period is death.
      if (sy > 0) this.timers.push(setInterval(() => this.ws.readyState === 1 && this.ws.send('\n'), Math.max(heartbeat, sy)));
      if (sx > 0) {
        const limit = 2 * Math.max(heartbeat, sx);
        this.timers.push(setInterval(() => { if (Date.now() - this.lastSeen > limit) this.ws.close(); }, limit / 2));
      }
      onConnected?.(f);
    } else if (f.command === 'MESSAGE') {
      // A `resync: required` message has no body: the handler gets null.
      this.handlers.get(f.headers.subscription)?.(f.body ? JSON.parse(f.body) : null, f);
    } else if (f.command === 'RECEIPT') {
      this.receipts.get(f.headers['receipt-id'])?.();
      this.receipts.delete(f.headers['receipt-id']);
    } else if (f.command === 'ERROR') {
      console.warn('STOMP error:', f.headers.message, f.body);
    }
  }

  /**
   * Subscribes, resuming after `fromSeq` when it is a number (the server
   * first replays what followed it); resolves once the server confirmed it
   * (a receipt).
   */
  subscribe(destination, handler, fromSeq = null) {
    const id = `sub-${this.nextId++}`;
    this.handlers.set(id, handler);
    const headers = { id, destination, receipt: id };
    if (fromSeq !== null) headers['from-seq'] = fromSeq;
    return new Promise((resolve) => {
      this.receipts.set(id, resolve);
      this.ws.send(frame('SUBSCRIBE', headers));
    });
  }
}
