// Turns bench/compare/results/*.json into the comparison tables of docs/benchmarks.md
// (replacing what is between <!-- compare:begin --> and <!-- compare:end -->).
// Usage: node report.js RESULTS_DIR DOCS_FILE DURABILITY PINNED NICENESS MODE
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execSync } = require('child_process');

const [dir, docs, durability, pinned, niceness, mode] = process.argv.slice(2);
const load = (name) => {
  const file = path.join(dir, `${name}.json`);
  if (!fs.existsSync(file)) return null;
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  return r.failed ? null : r;
};
const SERVERS = [['bayou', 'Bayou'], ['bayou-sync', 'Bayou, durability sync'], ['faye', 'faye 1.4.3'], ['cometd', 'cometd-nodejs-server 1.2.1']];
const TRANSPORTS = ['websocket', 'long-polling'];
const n = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '–' : Number(x).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const ms = (x) => (x === undefined || x === null ? '–' : x < 10 ? n(x, 2) : n(x, 1));
const mib = (b) => (b ? n(b / 1048576, 1) : '–');
const flag = (r) => (r.bench && r.bench.saturated ? ' ⚠' : '');
const clean = (r) => `${r.lost} / ${r.duplicated}${r.publish_failed || r.sessions_lost ? ` (${r.publish_failed} refused, ${r.sessions_lost} sessions lost)` : ''}`;

function machine() {
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || 'unknown';
  const mem = Number((fs.readFileSync('/proc/meminfo', 'utf8').match(/MemTotal:\s*(\d+)/) || [])[1] || 0);
  const nproc = execSync('nproc').toString().trim();
  return `${nproc} CPUs (\`nproc\`), ${cpu} (\`/proc/cpuinfo\`), ${n(mem / 1048576, 1)} GiB RAM, Linux ${os.release()}, Node ${process.version}`;
}

// The run with the median p99 among `label`, `label1`, `label2`, … (repeated runs), and the
// p99 of every run.
function pick(key, label, t) {
  const runs = ['', '1', '2', '3', '4', '5'].map((i) => load(`${key}.${label}${i}.${t}`)).filter(Boolean);
  if (!runs.length) return null;
  runs.sort((a, b) => a.latency_ms.p99 - b.latency_ms.p99);
  const median = runs[Math.floor((runs.length - 1) / 2)];
  return { r: median, p99s: runs.map((x) => ms(x.latency_ms.p99)).join(' / ') };
}

function latencyTable(label, title, note) {
  const rows = [];
  let repeated = false;
  for (const [key, name] of SERVERS) {
    for (const t of TRANSPORTS) {
      const picked = pick(key, label, t);
      if (!picked) continue;
      const r = picked.r;
      const p99 = picked.p99s.includes('/') ? `${ms(r.latency_ms.p99)} (${picked.p99s})` : ms(r.latency_ms.p99);
      repeated = repeated || picked.p99s.includes('/');
      const l = r.latency_ms;
      const s = r.server || {};
      rows.push(`| ${name} | ${t} | ${n(r.publish_rate)} | ${n(r.deliveries_per_s)} | ${ms(l.p50)} | ${ms(l.p90)} | ${p99} | ${ms(l.p99_9)} | ${ms(l.max)} | ${clean(r)} | ${n(s.cpu_cores, 2)} | ${mib(s.rss_max_bytes)} | ${n(r.bench.cpu_cores, 2)}${flag(r)} |`);
    }
  }
  if (!rows.length) return '';
  if (repeated) note += ' Each row is the median of three runs (by p99); the p99 column lists all three, lowest first.';
  return `### ${title}\n\n${note}\n\n| Server | Transport | msg/s in | deliveries/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | lost / dup | server CPU (cores) | server RSS MiB | bench CPU |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`;
}

function searchTable() {
  const best = {};
  const rows = [];
  for (const [key, name] of SERVERS) {
    for (const t of TRANSPORTS) {
      const r = load(`${key}.search1000.${t}`);
      if (!r) continue;
      const step = r.steps.filter((s) => s.sustained).sort((a, b) => b.rate - a.rate)[0];
      const firstBad = r.steps.filter((s) => !s.sustained).sort((a, b) => a.rate - b.rate)[0];
      best[`${key}.${t}`] = step ? step.result.deliveries_per_s : 0;
      const sat = r.steps.some((s) => s.result.bench.saturated) ? ' ⚠' : '';
      rows.push({ key, t, line: (ratio) => `| ${name} | ${t} | ${step ? n(step.rate) : '–'} | **${step ? n(step.result.deliveries_per_s) : 'none'}** | ${step ? ms(step.result.latency_ms.p50) : '–'} | ${step ? ms(step.result.latency_ms.p99) : '–'} | ${firstBad ? `${n(firstBad.rate)}: ${firstBad.reason}` : r.hit_max_rate ? 'reached --max-rate' : '–'} | ${step && step.result.server ? n(step.result.server.cpu_cores, 2) : '–'} | ${step ? n(step.result.bench.cpu_cores, 2) : '–'}${sat} | ${ratio} |` });
    }
  }
  if (!rows.length) return '';
  const lines = rows.map((row) => {
    if (row.key !== 'bayou') return row.line('');
    const mine = best[`bayou.${row.t}`];
    const parts = [];
    for (const peer of ['faye', 'cometd']) {
      const theirs = Math.max(best[`${peer}.websocket`] || 0, best[`${peer}.long-polling`] || 0);
      if (theirs > 0) parts.push(`${n(mine / theirs, 1)}× ${peer}`);
    }
    parts.push(`${n(mine / 91853, 2)}× CometD's 91,853/s`);
    return row.line(parts.join(', '));
  });
  return `### Highest sustained delivery rate at 1,000 subscribers (p99 ≤ 50 ms, nothing lost)\n\nCometD's chat layout (100 rooms, 10 rooms per client, so every message goes to 100 subscribers; 50-byte messages in batches of 10 from 10 publishers). \`bayou bench --search\` doubles the offered rate from 250 msg/s while a run stays sustained, then bisects; a rate that fails only on latency is run a second time (\`--attempts 2\`: on a shared machine one scheduling hiccup can put a single run over the bound). A run is sustained when p99 ≤ 50 ms, the offered rate was published (≥ 95 %), and nothing was lost, duplicated or refused. The ratios compare Bayou with the better transport of each peer.\n\n| Server | Transport | best msg/s in | deliveries/s | p50 ms | p99 ms | first rate not sustained: why | server CPU | bench CPU | Bayou's ratio |\n|---|---|---|---|---|---|---|---|---|---|\n${lines.join('\n')}\n`;
}

function holdTable() {
  const rows = [];
  for (const [key, name] of SERVERS) {
    for (const t of TRANSPORTS) {
      const file = fs.readdirSync(dir).find((f) => f.startsWith(`${key}.hold`) && f.endsWith(`.${t}.json`));
      if (!file) continue;
      const r = load(file.replace(/\.json$/, ''));
      if (!r) { rows.push(`| ${name} | ${t} | failed | | | | | | |`); continue; }
      const s = r.server || {};
      rows.push(`| ${name} | ${t} | ${n(r.subscribers)} | ${n(r.setup_s, 1)} | ${mib(s.rss_before_bytes)} → ${mib(s.rss_after_setup_bytes)} | **${s.rss_per_session_bytes ? n(s.rss_per_session_bytes / 1024, 1) : '–'}** | ${n(r.deliveries_per_s)} | ${ms(r.latency_ms.p99)} | ${clean(r)} |`);
    }
  }
  if (!rows.length) return '';
  return `### Many subscribers held\n\nAll subscribers on one channel, one publisher at 1 msg/s (each message goes to every subscriber). RSS per session = (server RSS after every session subscribed − RSS before) / sessions.\n\n| Server | Transport | subscribers | setup s | server RSS MiB | RSS per session KiB | deliveries/s | p99 ms | lost / dup |\n|---|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`;
}

const body = [
  `## Bayou, faye and cometd-nodejs-server compared\n`,
  `Produced by \`bench/compare/run.sh\` (${mode} run, ${new Date().toISOString().slice(0, 16)} UTC) on ${machine()}. Every server listens on 127.0.0.1; the load generator is \`bayou bench\` (release build) for all three. ${pinned === '1' ? 'The server is pinned to CPU 0 and the bench to CPU 1 (`taskset`), so each has one core: Bayou is measured on **one core**.' : 'Server and bench share the CPUs.'}${niceness !== '0' ? ` Both run at niceness ${niceness} (the machine is shared with other work).` : ''} Bayou runs \`serve --anonymous --durability ${durability}\`${durability === 'relaxed' ? ' (acknowledged once written to the OS, not fdatasync’d: faye and CometD keep nothing on disk at all)' : ' (fdatasync before every acknowledgement)'}; rows marked “durability sync” run Bayou's default, \`--durability sync\`: every publish is fdatasync'd before it is acknowledged and delivered. faye 1.4.3 and cometd-nodejs-server 1.2.1 run with their defaults (launchers in \`bench/compare/\`). Latency is publish-to-receive on the bench's clock. ⚠ marks a run whose load generator used ≥ 90 % of its core: the server may be faster than shown.\n`,
  latencyTable('fifty', 'The 50-client scenario', '50 subscribers on one channel, one publisher at 100 msg/s of 200 bytes (5,000 deliveries/s).'),
  latencyTable('chat1000', "CometD's chat benchmark at its documented rate", "1,000 clients, 100 rooms, 10 rooms each, 50-byte messages in batches of 10, 1,000 msg/s offered (100,000 deliveries/s). CometD's documented run (Jetty 9.2, hardware not stated): 91,853 deliveries/s at p50 22.3 ms, p99 51.9 ms."),
  searchTable(),
  holdTable(),
].filter(Boolean).join('\n');

let text = fs.existsSync(docs) ? fs.readFileSync(docs, 'utf8') : '# Benchmarks\n';
const begin = '<!-- compare:begin -->';
const end = '<!-- compare:end -->';
const block = `${begin}\n${body}\n${end}`;
if (text.includes(begin) && text.includes(end)) {
  text = text.slice(0, text.indexOf(begin)) + block + text.slice(text.indexOf(end) + end.length);
} else {
  text = `${text.trimEnd()}\n\n${block}\n`;
}
fs.writeFileSync(docs, text);
