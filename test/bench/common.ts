/** Shared bench machinery: CPU accounting, interleaved rounds, medians, tables and JSON results. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli } from '../support/lab.ts';

export interface BenchOptions {
  hosts: number;
  forks: number;
  rounds: number;
  /** Comma-separated name fragments: run only the variants matching one (and their baselines). */
  only?: string;
}

/** CPU seconds of this process, and of its waited-for children (from /proc/self/stat). */
export function cpu(): { self: number; children: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  const tick = 100; // USER_HZ on Linux
  const u = process.cpuUsage();
  return { self: (u.user + u.system) / 1e6, children: (Number(fields[13]) + Number(fields[14])) / tick };
}

export interface Sample {
  wall: number;
  cpu: number;
  ratio: number;
  /** CPU seconds spent on the lab hosts during the run, when the suite can measure it. */
  hostCpu?: number;
}

export interface Variant {
  /** Outside the measurement, before each run (e.g. reset the hosts). */
  prepare?: () => Promise<void> | void;
  run: () => Promise<void>;
  /** Extra controller CPU seconds the run's own accounting cannot see (e.g. daemonized ssh masters). */
  extraCpu?: () => number;
  /** Outside the measurement, after each run: assert the end state. */
  verify?: () => Promise<void> | void;
  /** The variant this one's ratio is taken against in the same round (default: the first). */
  baseline?: string;
}

export async function measure(v: Variant): Promise<{ wall: number; cpu: number }> {
  const c0 = cpu();
  const t0 = performance.now();
  await v.run();
  const wall = (performance.now() - t0) / 1000;
  const c1 = cpu();
  return { wall, cpu: c1.self - c0.self + (c1.children - c0.children) + (v.extraCpu?.() ?? 0) };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs every variant once per round, in an order rotated each round; each ratio is taken against
 * the variant's `baseline` (default: the first variant) in the same round. */
export async function interleave(variants: Record<string, Variant>, rounds: number, opts: { only?: string; hostCpu?: () => number | Promise<number> } = {}, log: (t: string) => void = (t) => console.error(t)): Promise<Record<string, Sample[]>> {
  const only = opts.only?.split(',').filter(Boolean) ?? [];
  const picked = Object.keys(variants).filter((n, i) => i === 0 || !only.length || only.some((o) => n.toLowerCase().includes(o.toLowerCase())));
  // a picked variant's baseline runs too
  const names = Object.keys(variants).filter((n) => picked.includes(n) || picked.some((p) => variants[p]!.baseline === n));
  const samples: Record<string, Sample[]> = {};
  for (let r = 0; r < rounds; r++) {
    const order = [...names.slice(r % names.length), ...names.slice(0, r % names.length)];
    const round: Record<string, { wall: number; cpu: number; hostCpu?: number }> = {};
    for (const name of order) {
      const v = variants[name]!;
      await v.prepare?.();
      const h0 = await opts.hostCpu?.();
      const t0 = process.hrtime.bigint();
      const u0 = process.resourceUsage();
      round[name] = await measure(v);
      // BENCH_TIMELINE: each measured run's CLOCK_MONOTONIC span, for `perf report --time A,B`
      // of a system-wide `perf record -k CLOCK_MONOTONIC` (docs/benchmarks.md → Profiling), and
      // this process's own user and system CPU and minor page faults in it
      if (process.env.BENCH_TIMELINE) {
        const u1 = process.resourceUsage();
        log(`window ${name}: ${seconds(t0)},${seconds(process.hrtime.bigint())}; this process: user ${((u1.userCPUTime - u0.userCPUTime) / 1e3).toFixed(0)} ms, system ${((u1.systemCPUTime - u0.systemCPUTime) / 1e3).toFixed(0)} ms, ${u1.minorPageFault - u0.minorPageFault} minor page faults`);
      }
      if (h0 !== undefined) round[name]!.hostCpu = (await opts.hostCpu!()) - h0;
      await v.verify?.();
      log(`round ${r + 1}/${rounds}: ${name}: ${round[name]!.wall.toFixed(2)} s wall, ${round[name]!.cpu.toFixed(2)} controller CPU-s${h0 !== undefined ? `, ${round[name]!.hostCpu!.toFixed(2)} host CPU-s` : ''}`);
    }
    for (const name of names) (samples[name] ??= []).push({ ...round[name]!, ratio: round[name]!.wall / round[variants[name]!.baseline ?? names[0]!]!.wall });
  }
  return samples;
}

const seconds = (ns: bigint) => (Number(ns / 1000n) / 1e6).toFixed(6);
const range = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

export function table(samples: Record<string, Sample[]>, hosts: number): string {
  const withHost = Object.values(samples).every((xs) => xs.every((x) => x.hostCpu !== undefined));
  const lines = [`| variant | wall s (min–max) | controller CPU s | CPU ms/host |${withHost ? ' host CPU ms/host |' : ''} × floor (min–max) |`, `|---|---|---|---|${withHost ? '---|' : ''}---|`];
  for (const [name, xs] of Object.entries(samples)) {
    const cpuMed = median(xs.map((x) => x.cpu));
    const ratios = xs.map((x) => x.ratio);
    const host = withHost ? ` ${((median(xs.map((x) => x.hostCpu!)) / hosts) * 1000).toFixed(0)} |` : '';
    lines.push(`| ${name} | ${median(xs.map((x) => x.wall)).toFixed(2)} (${range(xs.map((x) => x.wall), 1)}) | ${cpuMed.toFixed(2)} | ${((cpuMed / hosts) * 1000).toFixed(1)} |${host} ${median(ratios).toFixed(2)} (${range(ratios, 2)}) |`);
  }
  return lines.join('\n');
}

/** test/bench/results/<suite>-<N>-<timestamp>.json (git-ignored). */
export function writeResults(suite: string, opts: BenchOptions, samples: Record<string, Sample[]>, extra: Record<string, unknown> = {}): string {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString();
  const file = join(dir, `${suite}-${opts.hosts}-${date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ suite, ...opts, date, cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, ...extra, samples }, null, 2)}\n`);
  return file;
}

/** `fleetpatch show RUN --json`: every host in `names` must be `state` with step records, every
 * step finished and not failed. Returns the median ms of every step over the hosts, of each host's
 * whole span, and from the run's creation to each host's start. */
export async function runStepMedians(config: string, id: number, names: string[], state: string): Promise<Record<string, number>> {
  const r = await cli(['show', String(id), '--config', config, '--json']);
  if (r.code !== 0) throw new Error(`bench: fleetpatch show ${id} exited ${r.code}: ${r.err}`);
  type Step = { name: string; status: string; startedAt: string; finishedAt: string | null };
  const shown = JSON.parse(r.out) as { run: { createdAt: string }; hosts: { inventoryName: string; state: string; startedAt: string; finishedAt: string; steps: Step[] }[] };
  const per: Record<string, number[]> = {};
  // BENCH_TIMELINE: the first hosts' steps (every host's with BENCH_TIMELINE=all) as start (ms
  // after the run's start) + duration
  if (process.env.BENCH_TIMELINE) {
    const t0 = Date.parse(shown.run.createdAt);
    const at = (t: string | null) => (t ? Date.parse(t) - t0 : NaN);
    for (const h of shown.hosts.slice(0, process.env.BENCH_TIMELINE === 'all' ? undefined : 4)) console.error(`timeline run ${id} ${h.inventoryName}: ${at(h.startedAt)}–${at(h.finishedAt)} ms ${h.steps.map((st) => `${st.name}@${at(st.startedAt)}+${at(st.finishedAt) - at(st.startedAt)}`).join(' ')}`);
  }
  for (const name of names) {
    const row = shown.hosts.find((x) => x.inventoryName === name);
    if (!row || !row.steps.length) throw new Error(`bench: run ${id} has no step records for ${name}`);
    if (row.state !== state) throw new Error(`bench: run ${id}: ${name} is ${row.state}, expected ${state}`);
    for (const st of row.steps) {
      if (!st.finishedAt || st.status === 'failed' || st.status === 'running') throw new Error(`bench: run ${id}: ${name} step ${st.name} is ${st.status}`);
      (per[st.name] ??= []).push(Date.parse(st.finishedAt) - Date.parse(st.startedAt));
    }
    (per['(host span)'] ??= []).push(Date.parse(row.finishedAt) - Date.parse(row.startedAt));
    (per['(run start → host start)'] ??= []).push(Date.parse(row.startedAt) - Date.parse(shown.run.createdAt));
  }
  return Object.fromEntries(Object.entries(per).map(([k, xs]) => [k, median(xs)]));
}
