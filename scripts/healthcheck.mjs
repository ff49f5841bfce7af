// Container health check: exits 0 when the service on this port answers GET /readyz with 200.
// usage: node scripts/healthcheck.mjs <port>
const port = Number(process.argv[2]);
fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
  (res) => process.exit(res.ok ? 0 : 1),
  () => process.exit(1),
);
