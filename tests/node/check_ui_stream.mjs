#!/usr/bin/env node
// Validate an AI SDK v5 UI-message SSE stream with the AI SDK's own parser.
//
// Usage: node check_ui_stream.mjs <url>  < request-body.json
//   REQUEST_HEADERS='{"authorization":"Bearer x"}'  optional extra request headers (JSON object)
//   CHECK_TIMEOUT_MS=30000                          optional overall timeout
//
// Prints exactly one JSON object on stdout:
//   {status, headers, chunks, rejected, errors, message, sawDone}
// Exit 0 when the check ran (the caller asserts on the JSON), 2 on usage or
// network failure (message on stderr, nothing on stdout).

import {
  parseJsonEventStream,
  readUIMessageStream,
  uiMessageChunkSchema,
} from 'ai';

function fail(msg) {
  process.stderr.write(`check_ui_stream: ${msg}\n`);
  process.exit(2);
}

function errorMessage(err) {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

async function readStdin() {
  const parts = [];
  for await (const part of process.stdin) parts.push(part);
  return Buffer.concat(parts).toString('utf8');
}

// True when the last non-blank line of the raw SSE text is `data: [DONE]`
// (SSE allows the single space after the colon to be omitted).
function endsWithDone(rawText) {
  const lines = rawText.split(/\r\n|\r|\n/).filter((l) => l.trim() !== '');
  return lines.length > 0 && /^data: ?\[DONE\]$/.test(lines[lines.length - 1]);
}

async function main() {
  const url = process.argv[2];
  if (!url || process.argv.length > 3) {
    fail('usage: node check_ui_stream.mjs <url>  (JSON request body on stdin)');
  }

  const bodyText = await readStdin();
  try {
    JSON.parse(bodyText);
  } catch (e) {
    fail(`request body on stdin is not valid JSON: ${errorMessage(e)}`);
  }

  const requestHeaders = { 'content-type': 'application/json' };
  if (process.env.REQUEST_HEADERS) {
    let extra;
    try {
      extra = JSON.parse(process.env.REQUEST_HEADERS);
    } catch (e) {
      fail(`REQUEST_HEADERS is not valid JSON: ${errorMessage(e)}`);
    }
    if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) {
      fail('REQUEST_HEADERS must be a JSON object');
    }
    for (const [k, v] of Object.entries(extra)) requestHeaders[k.toLowerCase()] = String(v);
  }

  const timeoutMs = Number(process.env.CHECK_TIMEOUT_MS ?? 30000);
  const timer = setTimeout(
    () => fail(`timed out after ${timeoutMs} ms`),
    timeoutMs,
  );

  let response;
  try {
    response = await fetch(url, { method: 'POST', headers: requestHeaders, body: bodyText });
  } catch (e) {
    fail(`request failed: ${errorMessage(e.cause ?? e)}`);
  }

  const headers = {};
  response.headers.forEach((value, key) => {
    headers[key.toLowerCase()] = value;
  });

  const chunks = [];
  const rejected = [];
  const errors = [];
  let message = null;
  let sawDone = false;

  if (response.status !== 200) {
    errors.push(`expected HTTP status 200, got ${response.status}`);
  }
  if (headers['x-vercel-ai-ui-message-stream'] !== 'v1') {
    errors.push(
      `expected header x-vercel-ai-ui-message-stream: v1, got ${JSON.stringify(
        headers['x-vercel-ai-ui-message-stream'] ?? null,
      )}`,
    );
  }

  if (response.body) {
    const [parseBranch, rawBranch] = response.body.tee();

    const readRaw = (async () => {
      let text = '';
      const decoder = new TextDecoder();
      for await (const bytes of rawBranch) text += decoder.decode(bytes, { stream: true });
      text += decoder.decode();
      sawDone = endsWithDone(text);
    })();

    // Tee the parse results so every frame is parsed and recorded even if the
    // message assembly below stops early on an error.
    const [collectBranch, feedBranch] = parseJsonEventStream({
      stream: parseBranch,
      schema: uiMessageChunkSchema,
    }).tee();

    const collect = (async () => {
      for await (const result of collectBranch) {
        if (result.success) {
          chunks.push(result.value);
        } else {
          rejected.push({
            error: errorMessage(result.error),
            raw: result.rawValue !== undefined ? result.rawValue : (result.error?.text ?? null),
          });
        }
      }
    })();

    const chunkStream = feedBranch.pipeThrough(
      new TransformStream({
        transform(result, controller) {
          if (result.success) controller.enqueue(result.value);
        },
      }),
    );

    const assemble = (async () => {
      const messages = readUIMessageStream({
        stream: chunkStream,
        onError: (err) => errors.push(errorMessage(err)),
      });
      for await (const m of messages) message = m;
    })();

    try {
      await Promise.all([readRaw, collect, assemble]);
    } catch (e) {
      fail(`reading the response body failed: ${errorMessage(e.cause ?? e)}`);
    }
  }

  clearTimeout(timer);
  process.stdout.write(
    JSON.stringify({
      status: response.status,
      headers,
      chunks,
      rejected,
      errors,
      message,
      sawDone,
    }) + '\n',
  );
  process.exit(0);
}

main().catch((e) => fail(errorMessage(e)));
