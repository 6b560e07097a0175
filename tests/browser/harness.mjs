// The browser tests' harness (run.mjs, demo_view.mjs): named checks, counted, and the
// "N passed, N failed" line the suite ends with (exit status 1 on any failure).
let passed = 0, failed = 0;

export async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${(e && e.message ? e.message : String(e)).split('\n')[0]}`);
  }
}

export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// A run that stopped before its checks ended counts as a failure.
export function aborted(e) {
  failed++;
  console.log(`FAIL (aborted) ${e.message}`);
}

export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
