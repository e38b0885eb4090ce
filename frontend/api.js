// The REST API of order-service. Every error answer is JSON {"message"}.

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

async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { accept: 'application/json', ...options.headers } });
  } catch {
    throw new ApiError(0, 'The server cannot be reached.');
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body?.message ?? `Request failed (${response.status})`);
  return body;
}

export const listProducts = () => call('/products');

/** A page of orders, newest first: the newest, or those below id `before`. */
export function listOrders(before) {
  const query = new URLSearchParams({ limit: PAGE_SIZE });
  if (before) query.set('before', before);
  return call(`/orders?${query}`);
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
