// npm run app:build -- <app dir> [out.wasm]: compiles an AssemblyScript application
// (<dir>/assembly/index.ts) to a WebAssembly module the node accepts (default <dir>/build/app.wasm):
// the stub runtime (each call runs on a fresh instance, so nothing needs collecting), no `abort`
// import (an abort traps), optimized.
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import asc from 'assemblyscript/asc';

const [dir, out] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: npm run app:build -- <app dir> [out.wasm]\n');
  process.exit(2);
}
const entry = join(resolve(dir), 'assembly', 'index.ts');
const output = resolve(out ?? join(dir, 'build', 'app.wasm'));
mkdirSync(dirname(output), { recursive: true });
const { error, stderr } = await asc.main([entry, '--outFile', output, '--runtime', 'stub', '--use', 'abort=', '-O3']);
if (error) {
  process.stderr.write(`${stderr.toString()}\n${error.message}\n`);
  process.exit(1);
}
process.stdout.write(`${output}\n`);
