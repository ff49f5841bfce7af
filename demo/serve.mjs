// The demo's web server: the files of one directory (no listing, no parent paths) and the page's
// config.json from memory. Used by `npm run demo` and by the browser test.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
};

/**
 * Serves `dir` and `/config.json` (the JSON of `config`) on 127.0.0.1:`port` (0: any free port).
 * Resolves with the server once it listens; `server.address().port` is the port.
 */
export function serveDemo({ dir, config, port }) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://demo').pathname;
    if (path === '/config.json') {
      res.writeHead(200, { 'content-type': TYPES['.json'], 'cache-control': 'no-store' });
      return res.end(JSON.stringify(config));
    }
    const name = normalize(path === '/' ? '/index.html' : path);
    if (name.includes('..') || !TYPES[extname(name)]) {
      res.writeHead(404);
      return res.end('not found');
    }
    try {
      const body = await readFile(join(dir, name));
      res.writeHead(200, { 'content-type': TYPES[extname(name)], 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end('not found');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
