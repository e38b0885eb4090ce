// The REST API of order-service. Every error answer is JSON, Spring Boot's
// error body; the page shows its `message`.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Orders per page of the order list. */
export const PAGE_SIZE = 100;
/** The quantities an order may have (the server refuses any other). */
export const MIN_QUANTITY = 1;
export const MAX_QUANTITY = 1000;

/** The answer's JSON body, and the answer itself (for its headers). */
async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { accept: 'application/json', ...options.headers } });
  } catch {
    throw new ApiError(0, 'The server cannot be reached.');
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body?.message ?? `Request failed (${response.status})`);
  return { body, response };
}

const call = async (path, options) => (await request(path, options)).body;

/**
 * A list and its `Event-Seq`: the seq of the newest event of its topic the
 * list reflects (null when the server does not know one yet). Subscribing
 * with `from-seq` set to it misses nothing in between.
 */
async function list(path) {
  const { body, response } = await request(path);
  const seq = response.headers.get('event-seq');
  return { items: body, seq: seq === null ? null : Number(seq) };
}

export const listProducts = () => list('/products');

/** A page of orders, newest first: the newest, or those below id `before`. */
export function listOrders(before) {
  const query = new URLSearchParams({ limit: PAGE_SIZE });
  if (before) query.set('before', before);
  return list(`/orders?${query}`);
}

export const placeOrder = (product, quantity, idempotencyKey) =>
  call('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
    body: JSON.stringify({ product, quantity }),
  });

export const cancelOrder = (id) => call(`/orders/${id}/cancel`, { method: 'POST' });

/** A random key for Idempotency-Key. */
export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}
