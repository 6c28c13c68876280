// Hostile and broken clients against a running hearthd (started by
// run-e2e.mjs): each gets a clear error or close code, and the daemon keeps
// serving everyone else. Raw sockets where a well-behaved client library
// would refuse to send the bad bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';

const url = new URL(process.env.HEARTH_URL);
const host = url.hostname;
const port = Number(url.port);
const key = process.env.HEARTH_KEY;
const model = process.env.HEARTH_MODEL;
const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

async function post(path, body, headers = auth) {
  const res = await fetch(`${process.env.HEARTH_URL}${path}`, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text, json: (() => { try { return JSON.parse(text); } catch { return null; } })() };
}

// A normal request still gets a normal answer.
async function stillServing() {
  const r = await post('/v1/completions', JSON.stringify({ model, prompt: 'Hello', max_tokens: 2, temperature: 0 }));
  assert.equal(r.status, 200, `the daemon still serves: ${r.body}`);
}

async function metric(name) {
  const res = await fetch(`${process.env.HEARTH_URL}/metrics`, { headers: { authorization: `Bearer ${key}` } });
  const m = (await res.text()).match(new RegExp(`^${name}\\{model="[^"]+"\\} (\\d+)`, 'm'));
  return m ? Number(m[1]) : NaN;
}

async function until(pred, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

// Writes `bytes` on a TLS connection and collects everything until the server closes it.
function tlsExchange(bytes, { keepWriting } = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, servername: 'localhost' }, () => {
      if (bytes) s.write(bytes);
      if (keepWriting) keepWriting(s);
    });
    let data = '';
    const opened = Date.now();
    s.on('data', (d) => { data += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => resolve({ data, ms: Date.now() - opened }));
    s.setTimeout(60000, () => { s.destroy(); reject(new Error('no close within 60 s')); });
  });
}

test('malformed bodies: invalid UTF-8, invalid JSON, NaN and infinities are 400s naming the problem', async () => {
  const utf8 = await post('/v1/completions', Buffer.from(`{"model":"${model}","prompt":"\xff\xfe"}`, 'latin1'));
  assert.equal(utf8.status, 400);
  assert.match(utf8.json.error.message, /invalid UTF-8/);
  const json = await post('/v1/chat/completions', '{"model": "x", "messages": [');
  assert.equal(json.status, 400);
  assert.match(json.json.error.message, /invalid JSON/);
  const nan = await post('/v1/completions', `{"model":"${model}","prompt":"a","temperature":NaN}`);
  assert.equal(nan.status, 400);
  const inf = await post('/v1/completions', `{"model":"${model}","prompt":"a","top_p":1e999}`);
  assert.equal(inf.status, 400);
  const notObject = await post('/v1/completions', '[1,2,3]');
  assert.equal(notObject.status, 400);
  assert.match(notObject.json.error.message, /must be a JSON object/);
  await stillServing();
});

test('absurd and negative parameters are 400s naming the field', async () => {
  const cases = [
    [{ max_tokens: 1e12 }, 'max_tokens'],
    [{ max_tokens: -5 }, 'max_tokens'],
    [{ temperature: -0.5 }, 'temperature'],
    [{ top_p: -1 }, 'top_p'],
    [{ n: 1000 }, 'n'],
    [{ presence_penalty: 7 }, 'presence_penalty'],
    [{ logprobs: 99 }, 'logprobs'],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    [{ seed: 'x' }, 'seed'],
  ];
  for (const [extra, param] of cases) {
    const r = await post('/v1/completions', JSON.stringify({ model, prompt: 'a', ...extra }));
    assert.equal(r.status, 400, JSON.stringify(extra));
    assert.equal(r.json.error.param, param, JSON.stringify(extra));
    assert.equal(r.json.error.type, 'invalid_request_error');
  }
  await stillServing();
});

test('an oversized body is refused with 413 before it is read', async () => {
  const head = `POST /v1/completions HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${key}\r\n` +
    `content-type: application/json\r\ncontent-length: ${64 * 1024 * 1024}\r\n\r\n`;
  const { data } = await tlsExchange(head);
  assert.match(data, /^HTTP\/1\.1 413/);
  assert.match(data, /"type":"invalid_request_error"/);
  await stillServing();
});

test('plain HTTP and garbage bytes on the TLS port', async () => {
  const plain = await new Promise((resolve) => {
    const s = net.connect({ host, port }, () => s.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n'));
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('error', () => {});
    s.on('close', () => resolve(data));
  });
  assert.match(plain, /^HTTP\/1\.[01] 400/);
  assert.match(plain, /https:\/\//i, 'the answer tells the client to use TLS');
  const garbage = await new Promise((resolve) => {
    const s = net.connect({ host, port }, () => s.write(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, ...Array(300).fill(0x41)])));
    s.resume();  // read (and drop) the TLS alert: a paused socket would never see the close
    s.on('error', () => {});
    s.on('close', () => resolve(true));
    s.setTimeout(30000, () => { s.destroy(); resolve(false); });
  });
  assert.ok(garbage, 'the connection is closed');
  await stillServing();
});

test('a slow-loris connection is closed while others are served', { timeout: 60000 }, async () => {
  let timer;
  const loris = tlsExchange('POST /v1/completions HTTP/1.1\r\nhost: x\r\n', {
    keepWriting: (s) => { timer = setInterval(() => { if (!s.destroyed) s.write('x'); }, 500); },
  });
  await stillServing();
  const { ms } = await loris;
  clearInterval(timer);
  assert.ok(ms < 30000, `closed after ${ms} ms`);
  await stillServing();
});

test('a WebSocket message over the limit is closed with 1009', { timeout: 30000 }, async () => {
  const closeCodeFor = async (bytes) => {
    const socket = new WebSocket(`${process.env.HEARTH_URL.replace('https:', 'wss:')}/v1/ws`, { headers: { authorization: `Bearer ${key}` } });
    await new Promise((res, rej) => { socket.on('open', res); socket.on('error', rej); });
    return new Promise((resolve) => {
      socket.on('close', (c) => resolve(c));
      socket.on('error', () => {});
      socket.send('x'.repeat(bytes));
    });
  };
  // Over the 1 MiB limit: the daemon reads it, then closes with 1009 and a reason.
  assert.equal(await closeCodeFor(1536 * 1024), 1009);
  // Far over it: the daemon stops reading at once; the client may see 1009
  // or, with its own bytes still in flight, the TCP reset (1006).
  assert.ok([1009, 1006].includes(await closeCodeFor(16 * 1024 * 1024)));
  await stillServing();
});

test('an overfull queue answers 429 with Retry-After and never hangs', { timeout: 120000 }, async () => {
  const controllers = [];
  const body = JSON.stringify({ model, prompt: 'Once upon a time', max_tokens: 400, temperature: 0, ignore_eos: true, stream: true });
  const answers = await Promise.all(Array.from({ length: 120 }, async () => {
    const c = new AbortController();
    controllers.push(c);
    const res = await fetch(`${process.env.HEARTH_URL}/v1/completions`, { method: 'POST', headers: auth, body, signal: c.signal });
    if (res.status !== 200) return { status: res.status, retry: res.headers.get('retry-after'), body: await res.text() };
    return { status: 200, stream: res.body };
  }));
  const refused = answers.filter((a) => a.status === 429);
  assert.ok(refused.length > 0, 'some requests were refused');
  assert.ok(answers.every((a) => a.status === 200 || a.status === 429), `statuses: ${answers.map((a) => a.status)}`);
  for (const r of refused) {
    assert.ok(Number(r.retry) >= 1, 'Retry-After is set');
    assert.equal(JSON.parse(r.body).error.type, 'rate_limit_error');
  }
  for (const c of controllers) c.abort();
  // Every aborted client frees its slot: nothing stays queued or running.
  await until(async () => (await metric('hearth_running_sequences')) === 0 && (await metric('hearth_queue_depth')) === 0,
    30000, 'the aborted requests to be dropped');
  await stillServing();
});

test('a client killed mid-stream frees its slot', { timeout: 60000 }, async () => {
  // No max_tokens: up to the end of the context, far longer than the test.
  const body = JSON.stringify({ model, prompt: 'Once upon a time', temperature: 0, ignore_eos: true, stream: true });
  const head = `POST /v1/completions HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${key}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  await new Promise((resolve) => {
    const s = tls.connect({ host, port, servername: 'localhost' }, () => s.write(head));
    s.on('data', (d) => { if (d.toString().includes('data: ')) { s.destroy(); resolve(); } });
    s.on('error', () => {});
  });
  await until(async () => (await metric('hearth_running_sequences')) === 0, 10000, 'the killed client\'s sequence to stop');
  await stillServing();
});
