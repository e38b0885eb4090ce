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

function say(text, kind = '') {
  const m = $('form-message');
  m.textContent = text;
  m.className = `message ${kind}`;
}

// ---- loading -------------------------------------------------------------

async function loadProducts() {
  try {
    const list = await listProducts();
    products.clear();
    for (const p of list) products.set(p.name, p.stockQuantity);
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
    const page = await listOrders();
    // Merged into what is shown: older pages already loaded stay.
    for (const o of page) orders.set(o.id, o);
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
    const page = await listOrders(oldestLoaded);
    for (const o of page) orders.set(o.id, o);
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
    upsert(order);
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
    upsert(await cancelOrder(id));
    say(`Order #${id} cancelled.`, 'ok');
  } catch (e) {
    say(e.message, 'error');
    button.disabled = false;
  }
}

// ---- live updates --------------------------------------------------------

let attempt = 0;
let loadedOnce = false;
/** How long the page waits for the live connection before loading without it. */
const LIVE_WAIT_MS = 5000;

/**
 * Orders and products from the REST API. Loaded once subscribed, so that no
 * change falls between the load and the live updates: at start-up this is
 * the first load, after a reconnect the resync of what happened meanwhile.
 */
function loadAll() {
  loadedOnce = true;
  return Promise.all([loadOrders(), loadProducts()]);
}

function setConnection(state) {
  const pill = $('connection');
  pill.dataset.state = state;
  pill.textContent = state;
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const session = new StompSession(`${scheme}://${location.host}/ws-orders`, {
    onConnected: async () => {
      await Promise.all([
        session.subscribe('/topic/orders', upsert),
        session.subscribe('/topic/products', (p) => setStock(p.name, p.stockQuantity)),
      ]);
      await loadAll();
      attempt = 0;
      setConnection('live');
    },
    onClose: () => {
      // No live updates yet: show what there is while we retry.
      if (!loadedOnce) loadAll();
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
// A connection that neither comes up nor fails must not leave the page empty.
setTimeout(() => loadedOnce || loadAll(), LIVE_WAIT_MS);
