// The page: products with live stock, the order form, the order history
// kept current over STOMP, and the connection indicator.
import {
  ApiError, MAX_QUANTITY, MIN_QUANTITY, PAGE_SIZE, cancelOrder, listOrders, listProducts, newKey, placeOrder,
} from './api.js';
import { StompSession } from './stomp.js';

const $ = (id) => document.getElementById(id);
const products = new Map(); // name -> stock
const orders = new Map(); // id -> order
let oldestLoaded = null;
// Live events are numbered per topic (their `seq`), and lists say how far
// into their topic they are (`Event-Seq`). `last` is the newest seq applied,
// where a reconnect resumes; `shown` is the seq of each item's shown state,
// so neither a late list nor a replayed event puts an older state over a
// newer one.
const topics = {
  orders: { last: null, shown: new Map() },
  products: { last: null, shown: new Map() },
};
let pendingKey = null; // reused if the same submission is retried

// ---- rendering -----------------------------------------------------------

function renderProducts() {
  const select = $('product');
  const chosen = select.value;
  select.replaceChildren(...[...products].map(([name, stock]) => {
    const option = new Option(`${name} (${stock} in stock)`, name);
    option.dataset.product = name;
    option.dataset.stock = stock;
    return option;
  }));
  if (products.has(chosen)) select.value = chosen;
  const list = $('products');
  if (products.size === 0) {
    list.innerHTML = '<li class="empty">No products.</li>';
    return;
  }
  list.replaceChildren(...[...products].map(([name, stock]) => {
    const li = document.createElement('li');
    li.dataset.testid = 'product';
    li.dataset.product = name;
    const label = document.createElement('span');
    label.textContent = name;
    const count = document.createElement('span');
    count.className = `count${stock < 5 ? ' low' : ''}`;
    count.dataset.testid = 'stock';
    count.textContent = `${stock} in stock`;
    li.append(label, count);
    return li;
  }));
}

function setStock(name, stock) {
  const before = products.get(name);
  products.set(name, stock);
  renderProducts();
  if (before !== undefined && before !== stock) {
    document.querySelector(`#products li[data-product="${CSS.escape(name)}"]`)?.classList.add('flash');
  }
}

function orderRow(order) {
  const tr = document.createElement('tr');
  tr.dataset.orderId = order.id;
  tr.dataset.status = order.status;
  const cell = (text, cls) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  };
  const status = document.createElement('td');
  const badge = document.createElement('span');
  badge.className = `badge ${order.status}`;
  badge.dataset.testid = 'status';
  badge.textContent = order.status;
  status.append(badge);
  const action = document.createElement('td');
  if (order.status === 'CREATED') {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'cancel';
    button.textContent = 'Cancel';
    button.dataset.testid = 'cancel';
    button.setAttribute('aria-label', `Cancel order ${order.id}`);
    button.addEventListener('click', () => cancel(order.id, button));
    action.append(button);
  }
  const time = order.createdAt ? new Date(order.createdAt).toLocaleTimeString() : '';
  tr.append(cell(order.id, 'num'), cell(order.product), cell(order.quantity, 'num'), status, cell(order.reason ?? '', 'reason'), cell(time), action);
  return tr;
}

function renderOrders() {
  const sorted = [...orders.values()].sort((a, b) => b.id - a.id);
  $('orders').replaceChildren(...sorted.map(orderRow));
  $('orders-empty').hidden = sorted.length > 0;
}

/** Inserts or updates an order: each id appears exactly once. */
function upsert(order) {
  orders.set(order.id, order);
  renderOrders();
}

// An order only moves forward: created or rejected, then maybe cancelled.
const STAGE = { PENDING: 0, CREATED: 1, REJECTED: 1, CANCELLED: 2 };

/**
 * An order from a REST answer (placing, cancelling): it carries no seq, and
 * a live event may already have shown a later state (another page cancelled
 * it meanwhile), which it must not undo.
 */
function answered(order) {
  const shown = orders.get(order.id);
  if (!shown || STAGE[order.status] >= STAGE[shown.status]) upsert(order);
}

function say(text, kind = '') {
  const m = $('form-message');
  m.textContent = text;
  m.className = `message ${kind}`;
}

// ---- loading -------------------------------------------------------------

/** Whether a list read at `seq` is at least as new as what is shown for `key`. */
function fresher(topic, key, seq) {
  const shown = topics[topic].shown.get(key);
  return seq === null || shown === undefined || shown <= seq;
}

/** Merges a list read at `seq` into what is shown. */
function merge(topic, items, keyOf, seq, set) {
  const { shown } = topics[topic];
  for (const item of items) {
    const key = keyOf(item);
    if (!fresher(topic, key, seq)) continue;
    set(item);
    if (seq !== null) shown.set(key, seq);
  }
}

/** A list read at `seq` covers the topic's events up to it. */
function listed(topic, seq) {
  const t = topics[topic];
  if (seq !== null && (t.last === null || seq > t.last)) t.last = seq;
}

async function loadProducts() {
  try {
    const { items, seq } = await listProducts();
    merge('products', items, (p) => p.name, seq, (p) => products.set(p.name, p.stockQuantity));
    listed('products', seq);
    renderProducts();
  } catch (e) {
    $('products').innerHTML = '';
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = `Products unavailable: ${e.message}`;
    $('products').append(li);
  }
}

async function loadOrders() {
  try {
    const { items: page, seq } = await listOrders();
    // Merged into what is shown: older pages already loaded stay.
    merge('orders', page, (o) => o.id, seq, (o) => orders.set(o.id, o));
    listed('orders', seq);
    if (oldestLoaded === null && page.length) oldestLoaded = page[page.length - 1].id;
    $('older').hidden = page.length < PAGE_SIZE;
    $('orders-error').hidden = true;
    renderOrders();
  } catch (e) {
    $('orders-error').textContent = `Orders unavailable: ${e.message}`;
    $('orders-error').hidden = false;
  }
}

/** The next page below what is shown. On failure the button stays, to retry. */
async function loadOlder() {
  const button = $('older');
  const error = $('older-error');
  if (oldestLoaded === null || button.disabled) return;
  button.disabled = true;
  try {
    const { items: page, seq } = await listOrders(oldestLoaded);
    merge('orders', page, (o) => o.id, seq, (o) => orders.set(o.id, o));
    if (page.length) oldestLoaded = page[page.length - 1].id;
    button.hidden = page.length < PAGE_SIZE;
    error.hidden = true;
    renderOrders();
  } catch (e) {
    error.textContent = `Older orders unavailable: ${e.message}`;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

// ---- actions -------------------------------------------------------------

const QUANTITY_RANGE = `from ${MIN_QUANTITY} to ${MAX_QUANTITY}`;

function validQuantity() {
  const input = $('quantity');
  const n = Number(input.value);
  const ok = Number.isInteger(n) && n >= MIN_QUANTITY && n <= MAX_QUANTITY;
  input.setAttribute('aria-invalid', String(!ok));
  return ok ? n : null;
}

async function submit(event) {
  event.preventDefault();
  const button = $('submit');
  if (button.disabled) return;
  const product = $('product').value;
  const quantity = validQuantity();
  if (!product) return say('Choose a product.', 'error');
  if (quantity === null) return say(`Quantity must be a whole number ${QUANTITY_RANGE}.`, 'error');
  pendingKey ??= newKey();
  button.disabled = true;
  button.textContent = 'Placing…';
  say('');
  try {
    const order = await placeOrder(product, quantity, pendingKey);
    pendingKey = null;
    answered(order);
    if (order.status === 'CREATED') say(`Order #${order.id} created: ${order.quantity} × ${order.product}.`, 'ok');
    else say(`Order #${order.id} rejected: ${order.reason ?? 'no reason given'}.`, 'error');
  } catch (e) {
    // After a network failure or a proxy's 502/504 the outcome is unknown:
    // the retry keeps the key, so it cannot order twice. Any other answer is
    // order-service's own, and nothing stays held under the key (a 503 was
    // recorded REJECTED), so the next try is a new order.
    if (e instanceof ApiError && ![0, 502, 504].includes(e.status)) pendingKey = null;
    say(e.message, 'error');
  } finally {
    button.disabled = false;
    button.textContent = 'Place order';
  }
}

async function cancel(id, button) {
  button.disabled = true;
  try {
    answered(await cancelOrder(id));
    say(`Order #${id} cancelled.`, 'ok');
  } catch (e) {
    say(e.message, 'error');
    button.disabled = false;
  }
}

// ---- live updates --------------------------------------------------------

let attempt = 0;

/**
 * Applies a live event of `topic` about `key`, unless it was applied
 * already. A gap in the seqs means events were missed, and `resync:
 * required` that the server no longer has them: either way the list is
 * reloaded. Events without a seq (stock values after inventory had to be
 * re-read from scratch) are state, and applied as they come.
 */
function onEvent(topic, key, frame, apply, reload) {
  const t = topics[topic];
  // The trace of the request behind the change: the same id as in the
  // services' logs and traces.
  if (frame.headers.trace_id !== undefined) {
    console.debug(`${topic} ${key} seq ${frame.headers.seq} trace_id ${frame.headers.trace_id}`);
  }
  if (frame.headers.resync === 'required') {
    t.last = null;
    reload();
    return;
  }
  if (frame.headers.seq === undefined) {
    apply();
    return;
  }
  const seq = Number(frame.headers.seq);
  if (t.last !== null && seq <= t.last) return;
  const gap = t.last !== null && seq > t.last + 1;
  t.last = seq;
  t.shown.set(key, seq);
  apply();
  if (gap) reload();
}

function setConnection(state) {
  const pill = $('connection');
  pill.dataset.state = state;
  pill.textContent = state;
}

// Orders and products, loaded once at start-up; a (re)connection subscribes
// from where they, and every event since, left off.
const started = Promise.all([loadOrders(), loadProducts()]);

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const session = new StompSession(`${scheme}://${location.host}/ws-orders`, {
    onConnected: async () => {
      await started;
      const resume = { orders: topics.orders.last, products: topics.products.last };
      await Promise.all([
        session.subscribe('/topic/orders', (o, f) => onEvent('orders', o?.id, f, () => upsert(o), loadOrders), resume.orders),
        session.subscribe('/topic/products', (p, f) => onEvent('products', p?.name, f, () => setStock(p.name, p.stockQuantity), loadProducts), resume.products),
      ]);
      // Without a place to resume from (a list failed to load), the only
      // way to catch up is to load it now.
      await Promise.all([resume.orders === null && loadOrders(), resume.products === null && loadProducts()]);
      attempt = 0;
      setConnection('live');
    },
    onClose: () => {
      setConnection(navigator.onLine === false ? 'offline' : 'reconnecting');
      // Exponential back-off with jitter, capped at 10 s.
      const delay = Math.min(10000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      attempt += 1;
      setTimeout(connect, delay);
    },
  });
}

window.addEventListener('offline', () => setConnection('offline'));

$('quantity').min = MIN_QUANTITY;
$('quantity').max = MAX_QUANTITY;
$('quantity-hint').textContent = `Whole number ${QUANTITY_RANGE}.`;
$('order-form').addEventListener('submit', submit);
$('quantity').addEventListener('input', () => validQuantity());
$('product').addEventListener('change', () => { pendingKey = null; });
$('quantity').addEventListener('change', () => { pendingKey = null; });
$('older').addEventListener('click', loadOlder);

connect();
