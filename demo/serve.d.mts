import type { Server } from 'node:http';

/** Serves `dir` and `/config.json` (the JSON of `config`) on 127.0.0.1:`port` (0: any free port). */
export function serveDemo(opts: { dir: string; config: unknown; port: number }): Promise<Server>;
