/** Fault 4: the controller SIGKILLed at random points of a run, again and again, and resumed each
 * time (`fleetpatch resume RUN`). CI scale: 8 hosts, 5 kills; FP_RELIABILITY_SCALE=full: 50 hosts,
 * 20 kills. When a run finishes before every kill is spent, a rollback run is started and killed
 * in turn. At the end every host must be applied or rolled back, and the database and the hosts'
 * journals and dpkg must agree. The kill delays come from a seeded generator (FP_RELIABILITY_SEED). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SKIP, bundle, controller, dbState, fault, markDead, sleep, startLab, stopLab, type Lab } from './support.ts';


const FULL = process.env.FP_RELIABILITY_SCALE === 'full';
const HOSTS = FULL ? 50 : 8;
const KILLS = FULL ? 20 : 5;
const FORKS = FULL ? 5 : 2;
const SEED = Number(process.env.FP_RELIABILITY_SEED ?? 20261127);

/** mulberry32: a small seeded generator, so a failing sequence of kill points can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FINAL = new Set(['succeeded', 'failed', 'halted', 'cancelled']);
const maxRunId = (lab: Lab) => {
  try {
    return Math.max(0, ...dbState(lab.database).runs.map((r) => r.id));
  } catch {
    return 0; // no database yet
  }
};
const runState = (lab: Lab, id: number) => {
  try {
    return dbState(lab.database).runs.find((r) => r.id === id)?.state;
  } catch {
    return undefined; // no database yet
  }
};

export async function killAndResume(lab: Lab, kills: number, forks: number, random: () => number, minMs = 500, spanMs = 5_000): Promise<string[]> {
  const notes: string[] = [];
  let current: { id: number; kind: 'run' | 'rollback' } | null = null;
  let kind: 'run' | 'rollback' = 'run';
  let done = 0;
  while (done < kills) {
    const before = maxRunId(lab);
    if (current) await markDead(lab);
    const c = current
      ? controller(lab, 'resume', String(current.id))
      : controller(lab, kind, '-i', lab.inventory, '--bundle', bundle(lab, 'pkg-good'), '--forks', String(forks), '--waves', '1,25%,100%');
    // the random delay counts from when the controller is at work on the run (its row exists, or
    // resume has taken it over): on a loaded machine node alone can take seconds to start
    let exited = false;
    void c.exited.then(() => (exited = true));
    const atWork = () => exited || (current ? runState(lab, current.id) === 'running' : maxRunId(lab) > before);
    const t0 = Date.now();
    while (!atWork() && Date.now() - t0 < 120_000) await sleep(100);
    const delay = Math.round(minMs + random() * spanMs);
    const exitedFirst = await Promise.race([c.exited.then(() => true), sleep(delay).then(() => false)]);
    if (!exitedFirst) {
      c.p.kill('SIGKILL');
      await c.exited;
      done++;
    }
    if (!current) {
      const id = maxRunId(lab);
      if (id > before) current = { id, kind };
    }
    const state = current ? runState(lab, current.id) : undefined;
    notes.push(`${exitedFirst ? 'finished before the kill' : `kill ${done} ${(delay / 1000).toFixed(1)} s into its work`}: ${current ? `${current.kind} ${current.id} ${state}` : 'no run created yet'}${exitedFirst ? ` (exit ${await c.exited}${c.stderr() ? `: ${c.stderr().trim().split('\n').pop()}` : ''})` : ''}`);
    if (current && state && FINAL.has(state)) {
      // finished: the next kills hit a run the other way
      kind = current.kind === 'run' ? 'rollback' : 'run';
      current = null;
    }
  }
  // resume until the last run is finished
  for (let i = 0; current && i < 5; i++) {
    const state = runState(lab, current.id);
    if (state && FINAL.has(state)) break;
    await markDead(lab);
    const c = controller(lab, 'resume', String(current.id));
    const code = await c.exited;
    notes.push(`final resume of ${current.kind} ${current.id}: exit ${code}, ${runState(lab, current.id)}${code === 0 || code === 1 ? '' : ` (${c.stderr().trim().split('\n').pop()})`}`);
  }
  return notes;
}

describe(`reliability: controller SIGKILLed ${KILLS} times, resumed each time (${HOSTS} hosts)`, { timeout: FULL ? 3_600_000 : 900_000, skip: SKIP }, () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab(HOSTS);
  });
  after(async () => {
    if (lab) await stopLab(lab);
  });

  it(`SIGKILL × ${KILLS} at random points, resume each time`, async () => {
    const random = rng(SEED);
    const v = await fault(FULL ? '4b' : '4a', `controller SIGKILLed ×${KILLS}, resumed (${HOSTS} hosts${FULL ? ', full scale' : ''})`, `all ${HOSTS}`, null, lab, async () => {
      const notes = await killAndResume(lab, KILLS, FORKS, random, 500, FULL ? 10_000 : 5_000);
      return [`seed ${SEED}`, ...notes];
    });
    for (const [name, s] of Object.entries(v.states)) assert.match(s, /^(applied|already-applied|rolled-back|not-applicable) /, `${name} ends applied or rolled back: ${s}`);
  });

  it('no step record is left running once every run is finished', () => {
    const s = dbState(lab.database);
    const finished = new Set(s.runs.filter((r) => FINAL.has(r.state)).map((r) => r.id));
    assert.deepEqual(s.runningSteps.filter((x) => finished.has(x.run_id)), [], 'steps of finished runs still marked running');
  });
});
