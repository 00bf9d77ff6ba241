// Reading a V8 `.cpuprofile` (node --cpu-prof), shared by bench/profile.mjs and bench/profile-diff.mjs.
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './common.mjs';

/** A profile node's function as `name path:line`, files relative to the repository, `node:` modules as they are. */
export function functionName(node) {
  const { functionName: fn, url, lineNumber } = node.callFrame;
  const where = url.startsWith('file://') ? relative(ROOT, fileURLToPath(url)) : url;
  return `${fn || '(anonymous)'} ${where ? `${where}:${lineNumber + 1}` : ''}`.trim();
}

/** Self time per function (µs, summed over the profile's samples), keyed by {@link functionName}. */
export function selfTimeByFunction(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const key = functionName(byId.get(profile.samples[i]));
    out.set(key, (out.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  return out;
}
