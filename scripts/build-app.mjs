// npm run app:build -- <app dir> [out.wasm]: compiles an AssemblyScript application
// (<dir>/assembly/index.ts, described by <dir>/app.json) to the module a node runs, its ABI
// embedded (default <dir>/build/app.wasm). `cnode app build <dir>` does the same and also writes a
// (signed) bundle. Uses the built CLI (npm run build).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compileApp, readAppSpec } from '../packages/cli/dist/app-build.js';

const [dir, out] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: npm run app:build -- <app dir> [out.wasm]\n');
  process.exit(2);
}
try {
  const wasm = await compileApp(dir, await readAppSpec(dir));
  const output = resolve(out ?? join(dir, 'build', 'app.wasm'));
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, wasm);
  process.stdout.write(`${output}\n`);
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
