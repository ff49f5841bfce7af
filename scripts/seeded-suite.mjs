#!/usr/bin/env node
// The seeded suites outside npm test's default counts:
//   npm run simulate -- [--histories N] [--seed S] [--replay SEED] [--keep-going] [--json]
//   npm run chaos    -- [--histories N] [--seed S] [--replay SEED] [--keep-going]
// (node scripts/seeded-suite.mjs simulation|chaos …). Options become the suite's environment
// (SIM_* or CHAOS_*), and jest runs the suite's folder alone.
import { spawnSync } from 'node:child_process';

const SUITES = {
  simulation: { prefix: 'SIM', project: 'integration', folder: 'test/simulation/', command: 'simulate' },
  // The chaos suite starts and kills hundreds of processes: an unattended run must end when its
  // test does, even if a handle of one of them outlived it (it once held jest open after a pass).
  chaos: { prefix: 'CHAOS', project: 'chaos', folder: 'test/chaos/', command: 'chaos', jestArgs: ['--forceExit'] },
};
const [name, ...args] = process.argv.slice(2);
const suite = SUITES[name];
if (!suite) usage(`unknown suite ${name ?? '(none)'}: ${Object.keys(SUITES).join(' or ')}`);

const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim() };
const set = (key, value) => (env[`${suite.prefix}_${key}`] = value);
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  const value = () => {
    const v = args[++i];
    if (v === undefined) usage(`${arg} needs a value`);
    return v;
  };
  if (arg === '--histories') {
    const n = Number.parseInt(value(), 10);
    if (!(n > 0)) usage('--histories takes a positive number');
    set('HISTORIES', String(n));
  } else if (arg === '--seed') set('SEED', value());
  else if (arg === '--replay') set('REPLAY', value());
  else if (arg === '--keep-going') set('KEEP_GOING', '1');
  else if (arg === '--json') set('JSON', '1');
  else usage(`unknown option ${arg}`);
}

function usage(why) {
  process.stderr.write(
    `${why}\nusage: npm run ${suite?.command ?? 'simulate|chaos'} -- [--histories N] [--seed S] [--replay SEED] [--keep-going] [--json]\n`,
  );
  process.exit(2);
}

const result = spawnSync(
  'npx',
  [
    'jest',
    '--selectProjects',
    suite.project,
    '--testPathPatterns',
    suite.folder,
    '--verbose=false',
    ...(suite.jestArgs ?? []),
  ],
  { stdio: 'inherit', env },
);
process.exit(result.status ?? 1);
