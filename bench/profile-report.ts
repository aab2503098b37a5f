// Self time of a V8 .cpuprofile (node --cpu-prof) grouped by where the code lives: one line per
// package of node_modules, per file of src/, per area of Node's internals. Used for the per-layer
// breakdown in docs/performance.md:  node bench/profile-report.ts /tmp/ocsuite-prof/*.cpuprofile
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
}

function groupOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : `(native) ${fn || 'anonymous'}`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  if (url.startsWith('node:internal/')) {
    const area = url.slice('node:internal/'.length).split('/')[0]!.replace(/\.js$/, '');
    return `node:${area}`;
  }
  return url.replace(/^file:\/\//, '');
}

const totals = new Map<string, number>();
let all = 0;
for (const file of process.argv.slice(2)) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const group = groupOf(node.callFrame.url, node.callFrame.functionName);
    totals.set(group, (totals.get(group) ?? 0) + hits);
    all += hits;
  }
}
const busy = all - (totals.get('(idle)') ?? 0);
console.log(`samples ${all}, busy ${busy} (${((busy / all) * 100).toFixed(1)} %)`);
console.log('share of busy time  group');
for (const [group, hits] of [...totals].filter(([g]) => g !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 40))) {
  console.log(`${((hits / busy) * 100).toFixed(1).padStart(6)} %  ${group}`);
}
