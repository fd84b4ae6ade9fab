'use strict';

// Builds and runs the pusher-authd binary for the tests, behind a recording
// HTTP proxy so that a failed test can print the exact requests pusher-js sent
// and the responses it got.

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { REPO_DIR, CONFIG_PATH } = require('./app-config');

const BUILD_TIMEOUT_MS = 5 * 60 * 1000;
const READY_TIMEOUT_MS = 15000;
const READY_POLL_INTERVAL_MS = 100;
const STOP_GRACE_MS = 3000;
const MAX_SHOWN_BODY_CHARS = 4000;
const DIAGNOSTICS_SETTLE_MS = 200;

let binaryPromise = null;

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
function getFreePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Resolves with the path of the service binary: PUSHER_AUTHD_BIN if set,
 * otherwise a binary built once per process with `go build` in the repo root
 * into a temporary directory that is removed when the process exits.
 */
function getServiceBinary() {
  if (process.env.PUSHER_AUTHD_BIN) {
    return Promise.resolve(process.env.PUSHER_AUTHD_BIN);
  }
  if (!binaryPromise) {
    binaryPromise = new Promise((resolve, reject) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pusher-authd-e2e-'));
      process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
      const binary = path.join(dir, 'pusher-authd');
      execFile(
        'go',
        ['build', '-o', binary, '.'],
        { cwd: REPO_DIR, timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (error) {
            reject(new Error(`go build in ${REPO_DIR} failed: ${error.message}\n${stdout}${stderr}`));
          } else {
            resolve(binary);
          }
        },
      );
    });
  }
  return binaryPromise;
}

function truncate(text) {
  if (text.length <= MAX_SHOWN_BODY_CHARS) return text;
  return `${text.slice(0, MAX_SHOWN_BODY_CHARS)}... (${text.length - MAX_SHOWN_BODY_CHARS} more characters)`;
}

/** Formats one HTTP request and its response as text for failure messages. */
function formatExchange({ method, url, requestHeaders, requestBody, status, responseHeaders, responseBody, error }) {
  const lines = [`> ${method} ${url}`];
  for (let i = 0; i < requestHeaders.length; i += 2) {
    lines.push(`> ${requestHeaders[i]}: ${requestHeaders[i + 1]}`);
  }
  lines.push(`> ${truncate(requestBody.toString('utf8'))}`);
  if (error) {
    lines.push(`< (no response: ${error})`);
  } else {
    lines.push(`< ${status}`);
    for (let i = 0; i < responseHeaders.length; i += 2) {
      lines.push(`< ${responseHeaders[i]}: ${responseHeaders[i + 1]}`);
    }
    lines.push(`< ${truncate(responseBody.toString('utf8'))}`);
  }
  return lines.join('\n');
}

const HOP_BY_HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade']);

function copyHeaders(rawHeaders) {
  const headers = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!HOP_BY_HOP_HEADERS.has(rawHeaders[i].toLowerCase())) {
      headers.push([rawHeaders[i], rawHeaders[i + 1]]);
    }
  }
  return headers;
}

function readBody(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (chunk) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** Starts an HTTP proxy on 127.0.0.1 that forwards to targetPort and records every exchange. */
async function startRecordingProxy(targetPort, exchanges) {
  const proxy = http.createServer(async (request, response) => {
    const requestBody = await readBody(request);
    const exchange = {
      method: request.method,
      url: request.url,
      requestHeaders: request.rawHeaders,
      requestBody,
      status: null,
      responseHeaders: [],
      responseBody: Buffer.alloc(0),
      error: null,
    };
    exchanges.push(exchange);

    const headers = copyHeaders(request.rawHeaders).filter(([name]) => name.toLowerCase() !== 'content-length');
    headers.push(['Content-Length', String(requestBody.length)]);
    const upstream = http.request({
      host: '127.0.0.1',
      port: targetPort,
      method: request.method,
      path: request.url,
      headers,
      agent: false,
    });
    upstream.on('response', async (upstreamResponse) => {
      const responseBody = await readBody(upstreamResponse);
      exchange.status = upstreamResponse.statusCode;
      exchange.responseHeaders = upstreamResponse.rawHeaders;
      exchange.responseBody = responseBody;
      const responseHeaders = copyHeaders(upstreamResponse.rawHeaders).filter(
        ([name]) => name.toLowerCase() !== 'content-length',
      );
      responseHeaders.push(['Content-Length', String(responseBody.length)]);
      response.writeHead(upstreamResponse.statusCode, responseHeaders);
      response.end(responseBody);
    });
    upstream.on('error', (error) => {
      exchange.error = error.message;
      response.writeHead(502, { 'Content-Type': 'text/plain' });
      response.end(`recording proxy: request to pusher-authd failed: ${error.message}`);
    });
    upstream.end(requestBody);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return proxy;
}

/** Sends `POST /pusher/auth` with an empty body and resolves with the status, or null on a network error. */
function probe(port) {
  return new Promise((resolve) => {
    const request = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/pusher/auth', agent: false, timeout: 1000 },
      (response) => {
        response.resume();
        resolve(response.statusCode);
      },
    );
    request.on('timeout', () => request.destroy(new Error('probe timed out')));
    request.on('error', () => resolve(null));
    request.end();
  });
}

/**
 * Runs `pusher-authd serve --config e2e/config.yaml --listen 127.0.0.1:<port>`
 * and resolves once `POST /pusher/auth` gets any HTTP response.
 *
 * The returned object has `url` (the recording proxy), `directUrl` (the
 * service itself), `stop()`, `mark()` and `describeSince(mark)`, which
 * formats the HTTP exchanges and service output after a mark.
 */
async function startService() {
  const binary = await getServiceBinary();
  const port = await getFreePort();
  const args = ['serve', '--config', CONFIG_PATH, '--listen', `127.0.0.1:${port}`];
  const child = spawn(binary, args, { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'] });

  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk) => {
    output += chunk.toString('utf8');
  });
  let exitStatus = null;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exitStatus = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    });
  });
  const spawnFailed = new Promise((resolve) => child.on('error', resolve));

  const commandLine = `${binary} ${args.join(' ')}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const failure = await Promise.race([
      spawnFailed,
      new Promise((resolve) => setTimeout(resolve, READY_POLL_INTERVAL_MS, null)),
    ]);
    if (failure) {
      throw new Error(`could not start ${commandLine}: ${failure.message}`);
    }
    if (exitStatus !== null) {
      throw new Error(`${commandLine} exited with ${exitStatus} before answering HTTP.\nOutput:\n${output}`);
    }
    if ((await probe(port)) !== null) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `${commandLine} did not answer POST /pusher/auth within ${READY_TIMEOUT_MS} ms.\nOutput:\n${output}`,
      );
    }
  }

  const exchanges = [];
  const proxy = await startRecordingProxy(port, exchanges);

  return {
    url: `http://127.0.0.1:${proxy.address().port}`,
    directUrl: `http://127.0.0.1:${port}`,
    exchanges,

    mark() {
      return { exchangeCount: exchanges.length, outputLength: output.length };
    },

    describeSince(mark) {
      const parts = [];
      const newExchanges = exchanges.slice(mark.exchangeCount);
      parts.push(`HTTP exchanges through the recording proxy (${newExchanges.length}):`);
      for (const exchange of newExchanges) parts.push(formatExchange(exchange));
      parts.push('pusher-authd output:');
      parts.push(output.slice(mark.outputLength) || '(none)');
      return parts.join('\n');
    },

    async stop() {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
      if (exitStatus !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Wraps a test function so that its failure message also carries what each
 * diagnostic source recorded during the test. `getSources` returns objects
 * with `mark()` and `describeSince(mark)`, such as a started service, the
 * fake server and the pusher-js log; null entries are skipped.
 */
function withDiagnostics(getSources, testFn) {
  return async (t) => {
    const sources = getSources().filter(Boolean);
    const marks = sources.map((source) => source.mark());
    try {
      await testFn(t);
    } catch (error) {
      // Give log lines that are still in the pipe a moment to arrive.
      await new Promise((resolve) => setTimeout(resolve, DIAGNOSTICS_SETTLE_MS));
      const details = sources.map((source, i) => source.describeSince(marks[i]));
      throw new Error(`${error.message}\n\n${details.join('\n\n')}`, { cause: error });
    }
  };
}

module.exports = {
  getFreePort,
  getServiceBinary,
  startService,
  withDiagnostics,
  formatExchange,
};
