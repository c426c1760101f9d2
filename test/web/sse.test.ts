import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { updateHostResult, updateRun } from '../../server/db/runs.ts';
import { browser, login, webFixture } from './fixture.ts';

interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

function parseSse(text: string): SseMessage[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const m: SseMessage = { data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        const [field, ...rest] = line.split(':');
        const value = rest.join(':').replace(/^ /, '');
        if (field === 'id') m.id = value;
        else if (field === 'event') m.event = value;
        else if (field === 'data') data.push(value);
      }
      m.data = data.join('\n');
      return m;
    });
}

describe('live run stream (SSE)', () => {
  it('resumes with Last-Event-ID: the newest event of each row after that id, in order, then ends for a finished run', async () => {
    const { app, db, run, hostA, hostB, event } = await webFixture();
    // run, A, B, A, run: one batch for a stream that starts now
    const ids = [event(null, 'run'), event(hostA.id), event(hostB.id), event(hostA.id), event(null, 'run')].map((e) => e.id);
    updateRun(db, run.id, { state: 'succeeded', finishedAt: new Date() });
    const { cookie } = await login(app, 'viewer');
    const want: [number, number[]][] = [
      // the older event of a row is superseded by its newest (the row is re-rendered as it is now)
      [0, [ids[2]!, ids[3]!, ids[4]!]],
      [ids[0]!, [ids[2]!, ids[3]!, ids[4]!]],
      [ids[2]!, [ids[3]!, ids[4]!]],
      [ids[3]!, [ids[4]!]],
      [ids[4]!, []],
    ];
    for (const [after, expected] of want) {
      const res = await app.request('/runs/1/events', { headers: browser({ cookie, 'last-event-id': String(after) }) });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
      const messages = parseSse(await res.text());
      assert.deepEqual(messages.filter((m) => m.id).map((m) => Number(m.id)), expected, `after ${after}`);
      assert.deepEqual(messages.filter((m) => m.id).map((m) => m.event), expected.map((id) => (id === ids[4] ? 'run' : id === ids[2] ? `host-${hostB.id}` : `host-${hostA.id}`)), `after ${after}`);
      assert.equal(messages.at(-1)?.event, 'end');
    }
  });

  it('names each host event after its row and sends the row\'s current cells, escaped', async () => {
    const { app, db, run, hostA, event } = await webFixture();
    updateHostResult(db, hostA.id, { state: 'applied' });
    event(hostA.id);
    updateRun(db, run.id, { state: 'succeeded', finishedAt: new Date() });
    const { cookie } = await login(app, 'viewer');
    const messages = parseSse(await (await app.request('/runs/1/events', { headers: browser({ cookie }) })).text());
    const host = messages.find((m) => m.event === `host-${hostA.id}`);
    assert.ok(host);
    assert.match(host.data, /<td role="cell" class="state state-applied">applied<\/td>/);
    assert.doesNotMatch(host.data, /<script>/);
  });

  it('sends wave progress and the failure budget after every batch of events, without an id, so resume is unchanged', async () => {
    const { app, db, run, hostA, hostB, event } = await webFixture();
    updateRun(db, run.id, { strategy: { forks: 2, maxFailures: 0, maxFailPercentage: null } });
    updateHostResult(db, hostA.id, { state: 'failed' });
    const first = event(hostA.id);
    updateHostResult(db, hostB.id, { state: 'applied' });
    event(hostB.id);
    updateRun(db, run.id, { state: 'halted', finishedAt: new Date() });
    const { cookie } = await login(app, 'viewer');
    const messages = parseSse(await (await app.request('/runs/1/events', { headers: browser({ cookie }) })).text());
    const progress = messages.filter((m) => m.event === 'progress');
    assert.ok(progress.length >= 1);
    assert.ok(progress.every((m) => m.id === undefined), 'a progress event carries no id');
    const lastProgress = progress.at(-1)!.data;
    assert.match(lastProgress, /<tr id="wave-1"><td>1<\/td><td>2<\/td><td>2 of 2<\/td><td class="bad">1<\/td><\/tr>/);
    assert.match(lastProgress, /<p id="budget" class="bad">Failure budget: 1 failed of 0 allowed/);
    // it comes after the host events of its batch, before the end
    const events = messages.map((m) => m.event);
    assert.ok(events.lastIndexOf('progress') > events.lastIndexOf(`host-${hostB.id}`));
    assert.equal(events.at(-1), 'end');
    // resuming after the first event: exactly the later database ids, and a progress again
    const resumed = parseSse(await (await app.request('/runs/1/events', { headers: browser({ cookie, 'last-event-id': String(first.id) }) })).text());
    assert.deepEqual(resumed.filter((m) => m.id).map((m) => Number(m.id)), [first.id + 1]);
    assert.ok(resumed.some((m) => m.event === 'progress'));
  });

  it('follows a running run: events inserted while connected arrive, none twice', async () => {
    const { app, db, run, hostA, hostB, event } = await webFixture();
    const before = event(hostA.id);
    const { cookie } = await login(app, 'viewer');
    const res = await app.request(`/runs/1/events?after=${before.id}`, { headers: browser({ cookie }) });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const later = [event(hostB.id).id, event(hostA.id).id];
    setTimeout(() => {
      later.push(event(null, 'run').id);
      updateRun(db, run.id, { state: 'failed', finishedAt: new Date() });
    }, 100);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const messages = parseSse(text);
    assert.deepEqual(messages.filter((m) => m.id).map((m) => Number(m.id)), later);
    // the progress re-rendered while connected: both hosts of wave 1, none finished yet
    assert.match(messages.find((m) => m.event === 'progress')?.data ?? '', /<tr id="wave-1"><td>1<\/td><td>2<\/td><td>0 of 2<\/td><td>0<\/td><\/tr>/);
  });

  it('wakes at once for a run this process writes: an event arrives long before the (1 h) poll', { timeout: 20_000 }, async () => {
    const { app, db, run, hostA, event } = await webFixture({ pollMs: 3_600_000 });
    const { cookie } = await login(app, 'viewer');
    const res = await app.request('/runs/1/events?after=0', { headers: browser({ cookie }) });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    // the stream found no event and waits on its 1 h poll; then this process writes events
    setTimeout(() => {
      event(hostA.id);
      updateRun(db, run.id, { state: 'failed', finishedAt: new Date() });
      event(null, 'run');
    }, 200);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    assert.ok(parseSse(text).some((m) => m.event === 'end'), 'the stream saw the run finish without waiting for its poll');
  });
});
