#!/usr/bin/env node
// Prints the closing report of .ci/run: step timings, a table of test counts per runtime, the
// failures, and the final plain line `N passed, N failed` that CI reads.
//
// Usage: node .ci/summarize.mjs <reports-dir>
// <reports-dir>/results.tsv has one line per step, written by .ci/run:
//   kind <TAB> name <TAB> rc <TAB> milliseconds <TAB> version <TAB> note
// kind is `step` (setup; only timed), `check` (build/typecheck: a failure counts as one failed
// test) or `runtime` (its vitest JSON report is <reports-dir>/<name>.json). rc is `skip` for a
// runtime that was not run on purpose.
//
// Counting rules: passes and failures come from vitest's JSON (numPassedTests /
// numFailedTests; skipped and todo tests are not passes). A test file that failed without a
// failing test (it did not load) counts as one failure. A runtime with no readable JSON, or
// whose runner exited non-zero with nothing failed in its JSON, counts as one failure: either
// way something broke that the counts alone would hide.
// Exit status: 1 when anything failed, else 0. Plain Node 20 JavaScript, no dependencies.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node .ci/summarize.mjs <reports-dir>');
  process.exit(2);
}

const rows = existsSync(join(dir, 'results.tsv'))
  ? readFileSync(join(dir, 'results.tsv'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [kind, name, rc, ms, version = '', note = ''] = line.split('\t');
        return { kind, name, rc, ms: Number(ms), version, note };
      })
  : [];

const secs = (ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)}s` : '-');
const pad = (cells, widths) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
function table(header, body) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  return [pad(header, widths), pad(widths.map((w) => '-'.repeat(w)), widths), ...body.map((r) => pad(r, widths))].join('\n');
}

let passed = 0;
let failed = 0;
const problems = [];

// --- steps and checks --------------------------------------------------------------------------
const stepRows = rows
  .filter((r) => r.kind === 'step' || r.kind === 'check')
  .map((r) => {
    const ok = r.rc === '0';
    if (r.kind === 'check' && !ok) {
      failed += 1;
      problems.push(`${r.name}: failed (exit ${r.rc})${r.note ? ` ${r.note}` : ''}; counted as 1 failure`);
    }
    return [r.name, secs(r.ms), ok ? 'ok' : `FAILED (exit ${r.rc})`];
  });

// --- runtimes ------------------------------------------------------------------------------------
const runtimeRows = [];
for (const r of rows.filter((row) => row.kind === 'runtime')) {
  if (r.rc === 'skip') {
    runtimeRows.push([r.name, r.version || '-', '-', '-', '-', '-', secs(r.ms), `skipped: ${r.note}`]);
    continue;
  }
  const file = join(dir, `${r.name}.json`);
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    failed += 1;
    const why = r.rc === '124' ? 'timed out' : `exit ${r.rc}`;
    problems.push(`${r.name}: runner crashed (${why}), no usable JSON report (${err.code ?? err.message}); counted as 1 failure`);
    runtimeRows.push([r.name, r.version || '-', '-', '-', 1, '-', secs(r.ms), `CRASHED (${why})`]);
    continue;
  }
  let p = report.numPassedTests ?? 0;
  let f = report.numFailedTests ?? 0;
  const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  const files = report.testResults ?? [];
  const failedNames = [];
  for (const tf of files) {
    const rel = String(tf.name ?? '').replace(/^.*?\/(test\/)/, '$1');
    const failing = (tf.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of failing) failedNames.push(`${rel} > ${a.fullName ?? a.title}`);
    if (tf.status === 'failed' && failing.length === 0) {
      f += 1;
      const msg = String(tf.message ?? '').split('\n')[0].slice(0, 200);
      failedNames.push(`${rel}: the file failed without a failing test (did not load?): ${msg}`);
    }
  }
  let status = f ? 'FAILED' : 'ok';
  if (r.rc !== '0' && f === 0) {
    f += 1;
    status = r.rc === '124' ? 'FAILED (timed out)' : `FAILED (exit ${r.rc})`;
    failedNames.push(`the runner exited ${r.rc} although no test failed (an unhandled error, a timeout or a crash after the report); counted as 1 failure`);
  }
  passed += p;
  failed += f;
  if (failedNames.length) {
    const shown = failedNames.slice(0, 25);
    if (failedNames.length > shown.length) shown.push(`... and ${failedNames.length - shown.length} more`);
    problems.push(`${r.name}:\n    ${shown.join('\n    ')}`);
  }
  runtimeRows.push([r.name, r.version || '-', files.length, p, f, skipped, secs(r.ms), status + (r.note ? ` (${r.note})` : '')]);
}

console.log('');
console.log('== CI summary ==');
if (stepRows.length) {
  console.log('');
  console.log(table(['step', 'time', 'result'], stepRows));
}
console.log('');
console.log(table(['runtime', 'version', 'files', 'passed', 'failed', 'skipped', 'time', 'status'], runtimeRows));
if (problems.length) {
  console.log('');
  console.log('Failures:');
  for (const p of problems) console.log(`  ${p}`);
}
console.log('');
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
