// The OpenAI client against a running hearthd (started by run-e2e.mjs):
// what an application team does after changing only the base URL and key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import OpenAI from 'openai';
import WebSocket from 'ws';

const baseURL = `${process.env.HEARTH_URL}/v1`;
const model = process.env.HEARTH_MODEL;
const client = new OpenAI({ baseURL, apiKey: process.env.HEARTH_KEY, maxRetries: 0, timeout: 120000 });

async function raw(path, init = {}) {
  const res = await fetch(`${process.env.HEARTH_URL}${path}`, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

test('health and readiness need no key', async () => {
  assert.equal((await raw('/health')).status, 200);
  assert.equal((await raw('/ready')).status, 200);
});

test('models list names the served model', async () => {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  assert.ok(ids.includes(model), `models: ${ids}`);
  const one = await client.models.retrieve(model);
  assert.equal(one.id, model);
  assert.equal(one.object, 'model');
});

test('completion: greedy text equals hearthctl generate', async () => {
  const prompt = 'Once upon a time';
  const r = await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices.length, 1);
  assert.ok(['length', 'stop'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  const cli = execFileSync(process.env.HEARTHCTL, ['generate', '--model', process.env.HEARTH_MODEL_FILE, '--prompt', prompt,
    '--max-tokens', '24', '--temperature', '0', '--threads', '1'], { encoding: 'utf8' });
  assert.equal(r.choices[0].text, cli);
});

test('completion: streaming chunks add up to the non-streamed text', async () => {
  const params = { model, prompt: 'The', max_tokens: 20, temperature: 0 };
  const whole = await client.completions.create(params);
  const stream = await client.completions.create({ ...params, stream: true });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, whole.choices[0].text);
  assert.ok(finish);
});

test('chat: non-streamed and streamed answers agree, usage included', async () => {
  const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say hello.' }];
  const r = await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  const stream = await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0, stream: true,
    stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, r.choices[0].message.content);
  assert.ok(usage && usage.completion_tokens === r.usage.completion_tokens);
});

test('sampling options: n, seed, stop and max_tokens', async () => {
  const a = await client.completions.create({ model, prompt: 'A', max_tokens: 8, temperature: 1, seed: 7, n: 2 });
  assert.equal(a.choices.length, 2);
  const b = await client.completions.create({ model, prompt: 'A', max_tokens: 8, temperature: 1, seed: 7, n: 2 });
  assert.equal(a.choices[0].text, b.choices[0].text);
  const long = await client.completions.create({ model, prompt: 'A', max_tokens: 5, temperature: 0 });
  assert.equal(long.choices[0].finish_reason, 'length');
  assert.equal(long.usage.completion_tokens, 5);
});

test('errors: bad key 401, unknown model 404, malformed JSON 400', async () => {
  const bad = new OpenAI({ baseURL, apiKey: 'hk_not_a_key', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e.status === 401);
  await assert.rejects(client.completions.create({ model: 'no-such-model', prompt: 'x' }), (e) => e.status === 404);
  const r = await raw('/v1/completions', { method: 'POST', headers: {
    authorization: `Bearer ${process.env.HEARTH_KEY}`, 'content-type': 'application/json' }, body: '{"model": ' });
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.body).error.type, 'invalid_request_error');
  await assert.rejects(client.completions.create({ model, prompt: 'x', temperature: -1 }), (e) => e.status === 400);
  await assert.rejects(client.completions.create({ model, prompt: 'x', max_tokens: 100000000 }), (e) => e.status === 400);
});

test('16 concurrent streams each get exactly their own tokens', async () => {
  const prompts = Array.from({ length: 16 }, (_, i) => `Story number ${i}:`);
  const single = [];
  for (const prompt of prompts) {
    single.push((await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0 })).choices[0].text);
  }
  const texts = await Promise.all(prompts.map(async (prompt) => {
    const s = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0, stream: true });
    let t = '';
    for await (const c of s) t += c.choices[0]?.text ?? '';
    return t;
  }));
  for (let i = 0; i < prompts.length; ++i) assert.equal(texts[i], single[i], `stream ${i}`);
  const metrics = (await raw('/metrics', { headers: { authorization: `Bearer ${process.env.HEARTH_KEY}` } })).body;
  const m = metrics.match(/hearth_scheduler_multi_sequence_steps_total\{model="[^"]+"\} (\d+)/);
  assert.ok(m && Number(m[1]) > 0, 'metrics show steps that batched several sequences');
});

test('embeddings: unit vectors, one per input, the same in base64 and float', async () => {
  // The client asks for base64 by default and decodes it itself.
  const r = await client.embeddings.create({ model, input: ['Once upon a time', 'a cat sat', 'Once upon a time'] });
  assert.equal(r.object, 'list');
  assert.equal(r.data.length, 3);
  assert.ok(r.usage.prompt_tokens > 0);
  const vecs = r.data.map((d, i) => { assert.equal(d.index, i); return d.embedding; });
  const dot = (a, b) => a.reduce((s, x, k) => s + x * b[k], 0);
  for (const v of vecs) assert.ok(Math.abs(dot(v, v) - 1) < 1e-4, 'unit length');
  assert.ok(vecs[0].length >= 8);
  assert.ok(dot(vecs[0], vecs[2]) > 1 - 1e-5, 'the same input gives the same vector');
  assert.ok(dot(vecs[0], vecs[1]) < 0.9999, 'different inputs give different vectors');
  const f = await client.embeddings.create({ model, input: 'Once upon a time', encoding_format: 'float' });
  assert.equal(f.data[0].embedding.length, vecs[0].length);
  for (let k = 0; k < vecs[0].length; ++k) assert.ok(Math.abs(f.data[0].embedding[k] - vecs[0][k]) < 1e-6);
  await assert.rejects(client.embeddings.create({ model, input: '' }), (e) => e.status === 400);
  await assert.rejects(client.embeddings.create({ model: 'no-such-model', input: 'x' }), (e) => e.status === 404);
});

// The WebSocket API (docs/websocket.md), with the `ws` client.
function openSocket(key = process.env.HEARTH_KEY) {
  const url = `${process.env.HEARTH_URL.replace('https:', 'wss:')}/v1/ws`;
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${key}` } });
  const messages = [];
  const waiters = [];
  socket.on('message', (data) => {
    const m = JSON.parse(data.toString());
    messages.push(m);
    for (const w of [...waiters]) if (w.pred(m)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m); }
  });
  const until = (pred) => new Promise((resolve) => {
    const found = messages.find(pred);
    if (found) resolve(found); else waiters.push({ pred, resolve });
  });
  return { socket, messages, until, opened: new Promise((res, rej) => { socket.on('open', res); socket.on('error', rej); }) };
}

test('websocket: two requests on one connection stream their own tokens; one is cancelled', { timeout: 60000 }, async () => {
  const rest = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 16, temperature: 0 });
  const ws = openSocket();
  await ws.opened;
  ws.socket.send(JSON.stringify({ type: 'generate', id: 'a', endpoint: 'completions',
    body: { model, prompt: 'Once upon a time', max_tokens: 16, temperature: 0 } }));
  ws.socket.send(JSON.stringify({ type: 'generate', id: 'b', endpoint: 'chat.completions',
    body: { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 450, temperature: 0 } }));
  await ws.until((m) => m.id === 'b' && m.type === 'chunk');
  ws.socket.send(JSON.stringify({ type: 'cancel', id: 'b' }));
  await ws.until((m) => m.id === 'a' && m.type === 'done');
  await ws.until((m) => m.id === 'b' && m.type === 'cancelled');
  const text = ws.messages.filter((m) => m.id === 'a' && m.type === 'chunk').map((m) => m.data.choices[0]?.text ?? '').join('');
  assert.equal(text, rest.choices[0].text);
  assert.ok(!ws.messages.some((m) => m.id === 'b' && m.type === 'done'), 'the cancelled request does not finish');
  ws.socket.send(JSON.stringify({ type: 'generate', id: 'c', endpoint: 'completions', body: { model: 'nope', prompt: 'x' } }));
  const err = await ws.until((m) => m.id === 'c');
  assert.equal(err.type, 'error');
  assert.equal(err.status, 404);
  ws.socket.send('not json');
  const bad = await ws.until((m) => m.type === 'error' && m.id === '');
  assert.equal(bad.status, 400);
  ws.socket.close();
});

test('drain: new REST and WebSocket generations get 503 until resume', { timeout: 60000 }, async () => {
  const ctl = (verb) => execFileSync(process.env.HEARTHCTL, [verb, '--socket', process.env.HEARTH_ADMIN_SOCKET], { encoding: 'utf8' });
  ctl('drain');
  try {
    await assert.rejects(client.completions.create({ model, prompt: 'x', max_tokens: 2 }), (e) => e.status === 503);
    const ws = openSocket();
    await ws.opened;
    ws.socket.send(JSON.stringify({ type: 'generate', id: 'd', endpoint: 'completions', body: { model, prompt: 'x', max_tokens: 2 } }));
    const m = await ws.until((msg) => msg.id === 'd');
    assert.equal(m.type, 'error');
    assert.equal(m.status, 503);
    ws.socket.close();
  } finally {
    ctl('resume');
  }
  const r = await client.completions.create({ model, prompt: 'x', max_tokens: 2 });
  assert.equal(r.choices.length, 1);
});

test('websocket: a bad key is refused with 401', { timeout: 30000 }, async () => {
  const ws = openSocket('hk_wrong');
  const status = await new Promise((resolve) => {
    ws.socket.on('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.socket.on('error', () => {});
  });
  assert.equal(status, 401);
});
