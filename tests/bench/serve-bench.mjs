// Serving benchmark (not a test): aggregate generated tokens/s and
// time-to-first-token percentiles of an OpenAI-compatible server under 1..N
// concurrent streaming clients. The same script measures hearthd and any
// other server with /v1/completions streaming (llama-server), so the two can
// be compared in one run on the same model file.
//
//   node serve-bench.mjs --url https://127.0.0.1:8443 [--key KEY] --model NAME
//        [--streams 1,4,8] [--requests 4] [--max-tokens 64] [--prompt-words 48]
//        [--label NAME] [--json]
//
// Each stream sends --requests requests one after another; every request has
// its own prompt (so no server can answer from a cached prefix), greedy
// sampling, ignore_eos so every request generates exactly --max-tokens.
// Generated tokens are taken from the usage the server reports (stream_options
// include_usage), else counted as content chunks. Self-signed TLS: set
// NODE_EXTRA_CA_CERTS to the server's certificate.
import process from 'node:process';

const args = Object.fromEntries(process.argv.slice(2).reduce(
  (acc, a, i, all) => {
    if (!a.startsWith('--')) return acc;
    const next = all[i + 1];
    return [...acc, [a.slice(2), next === undefined || next.startsWith('--') ? 'true' : next]];  // a bare flag is 'true'
  }, []));
if (!args.url || !args.model) {
  console.error('usage: node serve-bench.mjs --url URL --model NAME [--key KEY] [--streams 1,4,8] [--requests N] ' +
    '[--max-tokens N] [--prompt-words N] [--label NAME] [--json]');
  process.exit(2);
}
const streamsList = (args.streams ?? '1,4,8').split(',').map(Number);
const requestsPerStream = Number(args.requests ?? 4);
const maxTokens = Number(args['max-tokens'] ?? 64);
const promptWords = Number(args['prompt-words'] ?? 48);
const label = args.label ?? args.url;

const kWords = ['river', 'stone', 'lantern', 'harbor', 'meadow', 'copper', 'whisper', 'orchard', 'signal', 'winter',
  'engine', 'garden', 'falcon', 'thread', 'canyon', 'marble', 'shadow', 'violet', 'anchor', 'summit'];
let promptCounter = 0;
function nextPrompt() {
  const n = promptCounter++;
  const words = [`Report ${n}:`];
  for (let i = 0; i < promptWords; ++i) words.push(kWords[(n * 7 + i * 13 + ((n * i) % 5)) % kWords.length]);
  return words.join(' ');
}

async function oneRequest() {
  const headers = { 'content-type': 'application/json' };
  if (args.key) headers.authorization = `Bearer ${args.key}`;
  const body = JSON.stringify({ model: args.model, prompt: nextPrompt(), max_tokens: maxTokens, temperature: 0,
    ignore_eos: true, stream: true, stream_options: { include_usage: true } });
  const start = performance.now();
  const res = await fetch(`${args.url}/v1/completions`, { method: 'POST', headers, body });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttft = null, chunks = 0, usageTokens = null, buffer = '';
  const decoder = new TextDecoder();
  for await (const part of res.body) {
    buffer += decoder.decode(part, { stream: true });
    let at;
    while ((at = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      if (data === '[DONE]') continue;
      const json = JSON.parse(data);
      if (json.usage?.completion_tokens) usageTokens = json.usage.completion_tokens;
      if (json.choices?.[0]?.text) {
        if (ttft === null) ttft = performance.now() - start;
        ++chunks;
      }
    }
  }
  return { ttft: ttft ?? performance.now() - start, tokens: usageTokens ?? chunks };
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const rows = [];
await oneRequest();  // warm-up: first-touch of the weights, connection setup
for (const streams of streamsList) {
  const ttfts = [];
  let tokens = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: streams }, async () => {
    for (let r = 0; r < requestsPerStream; ++r) {
      const one = await oneRequest();
      ttfts.push(one.ttft);
      tokens += one.tokens;
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  ttfts.sort((a, b) => a - b);
  rows.push({ server: label, streams, requests: streams * requestsPerStream, generated_tokens: tokens,
    seconds: Number(seconds.toFixed(2)), aggregate_tps: Number((tokens / seconds).toFixed(2)),
    ttft_p50_ms: Math.round(percentile(ttfts, 50)), ttft_p99_ms: Math.round(percentile(ttfts, 99)) });
}
if (args.json) {
  console.log(JSON.stringify(rows));
} else {
  console.log('| server | streams | requests | generated | seconds | aggregate tok/s | TTFT p50 ms | TTFT p99 ms |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.server} | ${r.streams} | ${r.requests} | ${r.generated_tokens} | ${r.seconds} | ${r.aggregate_tps} | ` +
      `${r.ttft_p50_ms} | ${r.ttft_p99_ms} |`);
  }
}
