// Applies cnode's patches to installed dependencies (run by the root `postinstall`). Each patch is a
// set of exact text replacements; a patch is applied once (idempotent) and the script fails loudly
// when a target text is gone, so an upgrade that changes the code forces a review of the patch.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

const patches = [
  {
    // porsager/postgres 3.4.9, issues #1154 and #1208 (fix PRs #1168, #1176, #1209 open upstream): a
    // small write is flushed from a setImmediate; if the connection closed meanwhile, `socket` is
    // null and the flush throws an uncatchable TypeError that kills the process. Guard the flush
    // and settle the waiting query with a catchable CONNECTION_CLOSED; clear the scheduled flush
    // and its buffer whenever the connection goes away.
    name: 'postgres: guard writes on a closed connection',
    package: 'postgres',
    version: '3.4.9',
    files: ['src/connection.js', 'cjs/src/connection.js', 'cf/src/connection.js'],
    marker: 'cnode-patch: closed-socket-guard',
    replacements: [
      [
        '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
        "  function nextWrite(fn) {\n    // cnode-patch: closed-socket-guard\n    if (socket === null) {\n      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n    const x = socket.write(chunk, fn)",
      ],
      [
        '    clearImmediate(nextWriteTimer)\n    if (socket) {',
        '    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    if (socket) {',
      ],
      [
        '    remaining = 0\n    incomings = null\n    clearImmediate(nextWriteTimer)',
        '    remaining = 0\n    incomings = null\n    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null',
      ],
    ],
  },
  {
    // porsager/postgres 3.4.9, issues #1189 and #823 (fix PR #1218 open upstream): `sql.begin()`
    // reserves its connection in an `onexecute` hook at the tail of an `&&` chain; when BEGIN is the
    // query that fills the connection's pipeline the chain short-circuits, the hook never runs, and
    // the open transaction goes back to the pool (UNSAFE_TRANSACTION, or unrelated queries running
    // inside it). Run the hook whenever BEGIN was written, and take no more pipelined queries then.
    name: 'postgres: BEGIN always reserves its connection',
    package: 'postgres',
    version: '3.4.9',
    files: ['src/connection.js', 'cjs/src/connection.js', 'cf/src/connection.js'],
    marker: 'cnode-patch: begin-reserves',
    replacements: [
      [
        '      build(q)\n      return write(toBuffer(q))\n        && !q.describeFirst',
        '      build(q)\n      // cnode-patch: begin-reserves\n      const writable = write(toBuffer(q))\n      if (q.options.onexecute)\n        return q.options.onexecute(connection), false\n      return writable\n        && !q.describeFirst',
      ],
      [
        '        && sent.length < max_pipeline\n        && (!q.options.onexecute || q.options.onexecute(connection))\n',
        '        && sent.length < max_pipeline\n',
      ],
    ],
  },
  {
    // porsager/postgres 3.4.9: `sql.reserve()`'s `release()` puts the connection back in the open
    // queue without looking at it. A reserved connection whose socket closed (the server terminated
    // the backend mid-transaction) was already moved to the closed queue; releasing it then makes a
    // dead connection "open", and the next queries on it fail with CONNECTION_CLOSED. Leave a closed
    // or ended connection where it is: the pool reconnects it on demand.
    name: 'postgres: releasing a reserved connection that closed keeps it closed',
    package: 'postgres',
    version: '3.4.9',
    files: ['src/index.js', 'cjs/src/index.js', 'cf/src/index.js'],
    marker: 'cnode-patch: release-closed',
    replacements: [
      [
        '    sql.release = () => {\n      c.reserved = null\n      onopen(c)\n    }',
        '    sql.release = () => {\n      // cnode-patch: release-closed\n      if (c.queue === closed || c.queue === ended)\n        return\n      c.reserved = null\n      onopen(c)\n    }',
      ],
    ],
  },
  {
    // porsager/postgres 3.4.9: when the connection under a reservation (`sql.reserve()`) or a
    // transaction (`sql.begin()`) closes, the pool may connect the same connection object again to
    // serve a waiting query, and whatever the holder sends next runs on that new session: outside
    // the transaction, each statement committed on its own (a snapshot import that goes on after a
    // Postgres restart, the writes of a pipelined transaction sent after its connection broke). A
    // reservation or transaction whose connection closed now refuses every later statement, and
    // those queued behind a full pipeline, with CONNECTION_CLOSED; its release leaves the connection
    // to the pool.
    name: 'postgres: a lost reservation or transaction never runs statements on a new session',
    package: 'postgres',
    version: '3.4.9',
    files: ['src/index.js', 'cjs/src/index.js', 'cf/src/index.js'],
    marker: 'cnode-patch: reservation-lost',
    replacements: [
      [
        '    c.reserved.release = true\n',
        "    c.reserved.release = true\n    // cnode-patch: reservation-lost\n    let lost = null\n    c.onclose = e => {\n      lost = e || Errors.connection('CONNECTION_CLOSED', options)\n      while (queue.length)\n        queue.shift().reject(lost)\n    }\n",
      ],
      [
        '      if (c.queue === closed || c.queue === ended)\n        return\n      c.reserved = null\n',
        '      if (lost || c.queue === closed || c.queue === ended)\n        return\n      c.onclose = null\n      c.reserved = null\n',
      ],
      [
        '    function handler(q) {\n      c.queue === full\n        ? queue.push(q)\n',
        '    function handler(q) {\n      if (lost)\n        return q.reject(lost)\n      c.queue === full\n        ? queue.push(q)\n',
      ],
      [
        '      , connection\n      , prepare = null\n',
        '      , connection\n      , prepare = null\n      , lost = null\n',
      ],
      [
        '        new Promise((_, reject) => connection.onclose = reject)\n',
        "        new Promise((_, reject) => connection.onclose = e => {\n          lost = e || Errors.connection('CONNECTION_CLOSED', options)\n          while (queries.length)\n            queries.shift().reject(lost)\n          reject(lost)\n        })\n",
      ],
      [
        '        q.catch(e => uncaughtError || (uncaughtError = e))\n        c.queue === full\n',
        '        q.catch(e => uncaughtError || (uncaughtError = e))\n        if (lost)\n          return q.reject(lost)\n        c.queue === full\n',
      ],
    ],
  },
  {
    // @libp2p/gossipsub 17.1.1 (the follow-up libp2p/js-libp2p#3531 left open): gossipsub opens its
    // one outbound stream to a peer only when a connection to it opens or the peer opens a stream to
    // us. When that stream closes while another connection stays (two connections after
    // simultaneous dials, one closed later), or its creation failed (a protocol negotiation that
    // timed out or was reset), no outbound stream is ever opened again: our later subscriptions and
    // messages never reach that peer, which then never sees us on a new topic. Each heartbeat, a
    // peer without an outbound stream for 3 s gets one queued on an open connection (at most every
    // 3 s per peer; the queue runs one creation at a time and skips a peer that has one by then).
    // `outboundRepairs` counts the repairs queued (network_gossip_outbound_repairs_total).
    name: 'gossipsub: keep an outbound stream to every connected peer',
    package: '@libp2p/gossipsub',
    version: '17.1.1',
    files: ['dist/src/gossipsub.js'],
    marker: 'cnode-patch: repair-outbound-counted',
    replacements: [
      [
        '    async heartbeat() {\n        const { D, Dlo, Dhi, Dscore, Dout, fanoutTTL } = this.opts;',
        '    async heartbeat() {\n        // cnode-patch: repair-outbound-counted\n        this.repairOutboundStreams();\n        const { D, Dlo, Dhi, Dscore, Dout, fanoutTTL } = this.opts;',
      ],
      [
        '    createInboundStream(peerId, stream) {',
        "    repairOutboundStreams() {\n        const now = Date.now();\n        this.outboundMissingSince ??= new Map();\n        for (const id of this.outboundMissingSince.keys()) {\n            if (!this.peers.has(id) || this.streamsOutbound.has(id)) {\n                this.outboundMissingSince.delete(id);\n            }\n        }\n        for (const [id, peerId] of this.peers) {\n            if (this.streamsOutbound.has(id)) {\n                continue;\n            }\n            const since = this.outboundMissingSince.get(id);\n            if (since === undefined) {\n                this.outboundMissingSince.set(id, now);\n                continue;\n            }\n            if (now - since < 3000) {\n                continue;\n            }\n            this.outboundMissingSince.set(id, now);\n            const connection = this.components.connectionManager.getConnections(peerId).find((c) => c.status === 'open');\n            if (connection != null) {\n                this.log('repairing outbound stream %p', peerId);\n                this.outboundInflightQueue.push({ peerId, connection });\n                this.outboundRepairs = (this.outboundRepairs ?? 0) + 1;\n            }\n        }\n    }\n    createInboundStream(peerId, stream) {",
      ],
    ],
  },
  {
    // @nats-io/nats-core 3.4.0: a request that got its answer calls `cancel()` to leave the inbox
    // multiplexer, and `cancel()` rejects the (already settled) promise with a new RequestError: a
    // stack trace captured and thrown away on every successful request — each JetStream publish and
    // every request to the network service. Leave the multiplexer without building that error.
    name: 'nats-core: no error built for an answered request',
    package: '@nats-io/nats-core',
    version: '3.4.0',
    files: ['lib/request.js'],
    marker: 'cnode-patch: answered-request',
    replacements: [
      [
        '        else {\n            this.deferred.resolve(msg);\n        }\n        this.cancel();\n    }',
        '        else {\n            this.deferred.resolve(msg);\n        }\n        // cnode-patch: answered-request\n        this.mux.cancel(this);\n    }',
      ],
    ],
  },
];

let failed = false;
for (const patch of patches) {
  const pkgDir = `${root}node_modules/${patch.package}/`;
  if (!existsSync(`${pkgDir}package.json`)) continue;
  const version = JSON.parse(readFileSync(`${pkgDir}package.json`, 'utf8')).version;
  if (version !== patch.version) {
    console.error(
      `patch-dependencies: ${patch.name}: written for ${patch.package}@${patch.version}, found ${version}; review it`,
    );
    failed = true;
    continue;
  }
  for (const file of patch.files) {
    const path = `${pkgDir}${file}`;
    if (!existsSync(path)) continue;
    let text = readFileSync(path, 'utf8');
    if (text.includes(patch.marker)) continue;
    for (const [from, to] of patch.replacements) {
      if (!text.includes(from)) {
        console.error(`patch-dependencies: ${patch.name}: target text not found in ${file}`);
        failed = true;
        continue;
      }
      text = text.replace(from, to);
    }
    writeFileSync(path, text);
    console.log(`patch-dependencies: applied "${patch.name}" to ${patch.package}/${file}`);
  }
}
process.exit(failed ? 1 : 0);
