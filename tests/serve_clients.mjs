// The real client libraries against `hypura serve` (run by tests/test_serve.c from the
// folder where npm installed ollama@0.6 and openai@6). The server runs stories260K with
// an API key; HYPURA_WANT_ONCE and HYPURA_WANT_CHAT are `hypura run`'s greedy texts for
// "Once upon a time" and for the ChatML-rendered user message "Hi" (40 tokens each).
// Prints ok/FAIL per check; exits 1 when any failed.
import { Ollama } from 'ollama';
import OpenAI from 'openai';

const host = `http://127.0.0.1:${process.env.HYPURA_PORT}`;
const key = process.env.HYPURA_KEY;
const wantOnce = process.env.HYPURA_WANT_ONCE;
const wantChat = process.env.HYPURA_WANT_CHAT;
const N = 40;
let fails = 0;

function check(cond, what, detail) {
  if (cond) {
    console.log(`ok   ${what}`);
  } else {
    console.log(`FAIL ${what}${detail !== undefined ? ': ' + JSON.stringify(detail) : ''}`);
    fails++;
  }
}

async function step(what, fn) {
  try {
    await fn();
  } catch (e) {
    check(false, what, String(e && e.stack ? e.stack : e));
  }
}

const greedy = { temperature: 0, repeat_penalty: 1, num_predict: N };
const ollama = new Ollama({ host, headers: { Authorization: `Bearer ${key}` } });

await step('ollama generate', async () => {
  const r = await ollama.generate({ model: 'stories', prompt: 'Once upon a time', options: greedy });
  check(r.response === wantOnce && r.done && r.done_reason === 'length' && r.eval_count === N,
    'ollama generate', r);
});

await step('ollama generate, streamed', async () => {
  let text = '';
  let last;
  for await (const part of await ollama.generate({
    model: 'stories', prompt: 'Once upon a time', options: greedy, stream: true })) {
    text += part.response;
    last = part;
  }
  check(text === wantOnce && last.done && last.eval_count === N && last.total_duration > 0,
    'ollama generate, streamed', { text, last });
});

await step('ollama chat', async () => {
  const r = await ollama.chat({ model: 'stories', messages: [{ role: 'user', content: 'Hi' }], options: greedy });
  check(r.message.role === 'assistant' && r.message.content === wantChat && r.done, 'ollama chat', r);
});

await step('ollama chat, streamed', async () => {
  let text = '';
  for await (const part of await ollama.chat({
    model: 'stories', messages: [{ role: 'user', content: 'Hi' }], options: greedy, stream: true })) {
    text += part.message.content;
  }
  check(text === wantChat, 'ollama chat, streamed', text);
});

await step('ollama list', async () => {
  const r = await ollama.list();
  const m = r.models[0];
  check(r.models.length === 1 && m.name === 'stories260K-F32' && m.details.format === 'gguf' &&
    m.details.quantization_level === 'F32', 'ollama list', r);
});

await step('ollama show', async () => {
  const r = await ollama.show({ model: 'stories' });
  check(r.model_info['general.architecture'] === 'llama' && r.details.family === 'llama' &&
    r.capabilities.includes('completion'), 'ollama show', r.details);
});

await step('ollama ps', async () => {
  const r = await ollama.ps();
  check(r.models.length === 1 && r.models[0].size > 0 && r.models[0].size_vram === 0, 'ollama ps', r);
});

await step('ollama error', async () => {
  try {
    await ollama.generate({ model: 'stories', prompt: 'a', options: { temperature: -1 } });
    check(false, 'ollama error: a bad option is refused');
  } catch (e) {
    check(e.status_code === 400 && /temperature/.test(e.error), 'ollama error: a bad option is refused',
      { status: e.status_code, error: e.error });
  }
});

const openai = new OpenAI({ baseURL: `${host}/v1`, apiKey: key, maxRetries: 0 });

await step('openai chat completion, streamed', async () => {
  const stream = await openai.chat.completions.create({
    model: 'stories', messages: [{ role: 'user', content: 'Hi' }], max_tokens: N, temperature: 0,
    stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage;
  let finish;
  for await (const chunk of stream) {
    if (chunk.choices.length) {
      text += chunk.choices[0].delta.content ?? '';
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  check(text === wantChat && finish === 'length' && usage && usage.completion_tokens === N,
    'openai chat completion, streamed', { text, finish, usage });
});

await step('openai chat completion', async () => {
  const r = await openai.chat.completions.create({
    model: 'stories', messages: [{ role: 'user', content: 'Hi' }], max_completion_tokens: N, temperature: 0 });
  check(r.choices[0].message.content === wantChat && r.usage.completion_tokens === N,
    'openai chat completion', r);
});

await step('openai completion', async () => {
  const r = await openai.completions.create({ model: 'stories', prompt: 'Once upon a time', max_tokens: N, temperature: 0 });
  check(r.choices[0].text === wantOnce, 'openai completion', r);
});

await step('openai models', async () => {
  const r = await openai.models.list();
  check(r.data.length === 1 && r.data[0].id === 'stories260K-F32', 'openai models', r.data);
});

await step('openai errors', async () => {
  try {
    await openai.chat.completions.create({ model: 'stories', messages: [] });
    check(false, 'openai errors: a bad request is an APIError');
  } catch (e) {
    check(e instanceof OpenAI.APIError && e.status === 400 && /messages/.test(e.message),
      'openai errors: a bad request is an APIError', { status: e.status, message: e.message });
  }
  const bad = new OpenAI({ baseURL: `${host}/v1`, apiKey: 'wrong', maxRetries: 0 });
  try {
    await bad.models.list();
    check(false, 'openai errors: a wrong key is refused');
  } catch (e) {
    check(e instanceof OpenAI.AuthenticationError, 'openai errors: a wrong key is refused', e.status);
  }
});

process.exit(fails ? 1 : 0);
