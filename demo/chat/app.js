// A chat frontend for the `apps/chat` application that talks to one node through the app API only:
// JSON-RPC `execute` (post, get) and the WebSocket event stream. The page learns which node,
// context, identity and client token to use from config.json (written by `npm run demo`), and picks
// the node with `?node=N`. Messages of others arrive as `posted` events (id and author); their
// text is read with the `get` view.

const params = new URLSearchParams(location.search);
const config = await fetch('config.json').then((res) => res.json());
const node = config.nodes[Number(params.get('node') ?? '1') - 1];
if (!node) throw new Error(`no node ${params.get('node')} in config.json`);

const $ = (id) => document.getElementById(id);
const shown = new Set();
let accessToken = node.accessToken;
let refreshToken = node.refreshToken;
let nextId = 1;

$('node').textContent = `${node.name} as ${node.identityHex.slice(0, 8)}…`;

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

function show(id, from, text) {
  if (shown.has(id)) return;
  shown.add(id);
  const item = document.createElement('li');
  item.className = from === node.identityHex ? 'message mine' : 'message';
  item.dataset.id = id;
  const author = document.createElement('span');
  author.className = 'from';
  author.textContent = from === node.identityHex ? 'you' : `${from.slice(0, 8)}…`;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  item.append(author, body);
  $('messages').append(item);
}

/** Trades the refresh token for a new pair (the access token lasts an hour). */
async function refresh() {
  const res = await fetch(`${node.apiUrl}/admin-api/refresh-jwt-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refreshToken }),
  });
  if (!res.ok) throw new Error(`token refresh failed: ${res.status}`);
  ({ access_token: accessToken, refresh_token: refreshToken } = (await res.json()).data);
}

/** One JSON-RPC execute; refreshes the token once if it expired. */
async function call(method, argsJson, retried = false) {
  const res = await fetch(`${node.apiUrl}/jsonrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: nextId++,
      method: 'execute',
      params: { contextId: config.contextId, method, argsJson, executorPublicKey: node.identity },
    }),
  });
  if (res.status === 401 && res.headers.get('x-auth-error') === 'token_expired' && !retried) {
    await refresh();
    return call(method, argsJson, true);
  }
  if (!res.ok) throw new Error(`${res.status}: ${await res.text()}`);
  const answer = await res.json();
  if (answer.error) throw new Error(`${answer.error.type}: ${JSON.stringify(answer.error.data)}`);
  return answer.result.output;
}

function connect() {
  const ws = new WebSocket(`${node.apiUrl.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(accessToken)}`);
  ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { contextIds: [config.contextId] } }));
  ws.onmessage = async (frame) => {
    const message = JSON.parse(frame.data);
    if (message.id === 1 && message.result) {
      $('status').textContent = 'live';
      $('status').className = 'status live';
      return;
    }
    if (message.id !== null || message.result?.type !== 'ExecutionEvent') return;
    for (const event of message.result.data.events) {
      if (event.kind !== 'posted') continue;
      const posted = JSON.parse(new TextDecoder().decode(new Uint8Array(event.data)));
      if (shown.has(posted.id)) continue;
      try {
        show(posted.id, posted.from, await call('get', { id: posted.id }));
      } catch (err) {
        showError(String(err.message ?? err));
      }
    }
  };
  ws.onclose = async (event) => {
    $('status').textContent = `reconnecting (${event.code})`;
    $('status').className = 'status down';
    if (event.code === 4001) await refresh().catch((err) => showError(String(err.message ?? err)));
    setTimeout(connect, 1000);
  };
}

$('compose').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  const id = crypto.randomUUID();
  $('send').disabled = true;
  try {
    await call('post', { id, text });
    show(id, node.identityHex, text);
    $('text').value = '';
  } catch (err) {
    showError(String(err.message ?? err));
  } finally {
    $('send').disabled = false;
  }
});

connect();
