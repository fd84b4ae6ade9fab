'use strict';

// Byte-for-byte cross-check of pusher-authd's responses against the official
// `pusher` Node server SDK for the same socket id, channel and member data.
// The only difference allowed is key order (see inServiceKeyOrder).
// Requests are form bodies built the way pusher-js 8 builds them.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const PusherServerSdk = require('pusher');

const { APP } = require('./lib/app-config');
const { mintSessionToken } = require('./lib/session-token');
const { startService, withDiagnostics, formatExchange } = require('./lib/service');

const STARTUP_TIMEOUT_MS = 5 * 60 * 1000; // includes `go build` on a cold cache
const TEST_TIMEOUT_MS = 5000;

const sdk = new PusherServerSdk({
  appId: APP.appId,
  key: APP.key,
  secret: APP.secret,
  encryptionMasterKeyBase64: APP.encryptionMasterKeyBase64,
});

const SOCKET_IDS = ['1234.1234', '0.0', '123456789.987654321', '18446744073709551615.18446744073709551615'];

// Characters that are legal in channel names but that encodeURIComponent
// percent-encodes in the form body.
const URL_RESERVED_NAME_PART = 'a=b@c,d;e.f';

const DEFAULT_CLAIMS = { sub: 'xcheck-user', name: 'Ada Lovelace' };

// Each case names the endpoint and input; the expected body comes from the SDK.
const CASES = [
  { kind: 'private', channel: 'private-foobar' },
  { kind: 'private', channel: `private-user-${URL_RESERVED_NAME_PART}`, claims: { sub: URL_RESERVED_NAME_PART, name: 'Special Sub' } },
  { kind: 'encrypted', channel: 'private-encrypted-secret' },
  { kind: 'encrypted', channel: `private-encrypted-${URL_RESERVED_NAME_PART}` },
  { kind: 'presence', channel: 'presence-room-lobby' },
  { kind: 'presence', channel: 'presence-foobar', claims: { sub: '10', name: 'Mr. Pusher' } },
  { kind: 'presence', channel: `presence-room-${URL_RESERVED_NAME_PART}` },
  { kind: 'presence', channel: 'presence-room-lobby', claims: { sub: 'zoe', name: 'Zoë Ñandú 🚀' } },
  { kind: 'presence', channel: 'presence-room-lobby', claims: { sub: 'q', name: 'Ada "the Countess" \\ Lovelace' } },
  { kind: 'presence', channel: 'presence-room-lobby', claims: { sub: 'html', name: 'Ada & <Bob>' } },
  { kind: 'user' },
  { kind: 'user', claims: { sub: '12345', name: 'Zoë 🚀' } },
  { kind: 'user', claims: { sub: 'html', name: 'Ada & <Bob>' } },
  // JSON.stringify writes U+2028 and U+2029 as they are; Go's encoder escapes them
  // unless the service undoes it, which would change the signed bytes.
  { kind: 'presence', channel: 'presence-room-lobby', claims: { sub: 'ls', name: 'line\u2028para\u2029end' } },
  { kind: 'user', claims: { sub: 'ls', name: 'line\u2028para\u2029end' } },
];

let service;
let lastExchange = null;

before(
  async () => {
    service = await startService();
  },
  { timeout: STARTUP_TIMEOUT_MS },
);

after(async () => {
  if (service) await service.stop();
});

// Diagnostic source (see withDiagnostics) for the request a test sent directly.
const lastExchangeDiagnostics = {
  mark() {
    lastExchange = null;
    return null;
  },
  describeSince() {
    return lastExchange ? `HTTP exchange:\n${formatExchange(lastExchange)}` : 'HTTP exchange: none was sent';
  },
};

/** POSTs a form body to the service (not through the proxy) and resolves with status and raw body bytes. */
function postForm(path, body, token) {
  const url = new URL(path, service.directUrl);
  // Node adds no Host header by itself when headers are given as a raw array.
  const requestHeaders = [
    'Host',
    url.host,
    'Content-Type',
    'application/x-www-form-urlencoded',
    'Authorization',
    `Bearer ${token}`,
    'Content-Length',
    String(Buffer.byteLength(body)),
  ];
  const exchange = {
    method: 'POST',
    url: `${service.directUrl}${path}`,
    requestHeaders,
    requestBody: Buffer.from(body, 'utf8'),
    status: null,
    responseHeaders: [],
    responseBody: Buffer.alloc(0),
    error: null,
  };
  lastExchange = exchange;
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, method: 'POST', path: url.pathname, headers: requestHeaders, agent: false },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          exchange.status = response.statusCode;
          exchange.responseHeaders = response.rawHeaders;
          exchange.responseBody = Buffer.concat(chunks);
          resolve(exchange);
        });
      },
    );
    request.on('error', (error) => {
      exchange.error = error.message;
      reject(error);
    });
    request.end(body);
  });
}

function expectedResponse(kind, socketId, channel, { sub, name }) {
  switch (kind) {
    case 'private':
    case 'encrypted':
      return sdk.authorizeChannel(socketId, channel);
    case 'presence':
      // Same key order as the service: user_id, then user_info with sorted keys.
      return sdk.authorizeChannel(socketId, channel, { user_id: sub, user_info: { name } });
    case 'user':
      return sdk.authenticateUser(socketId, { id: sub, user_info: { name } });
    default:
      throw new Error(`unknown case kind ${kind}`);
  }
}

// The service writes "auth" first in every reply, as pusher-http-go and
// Pusher's docs do; the Node SDK writes "channel_data" before "auth" in
// presence replies. Key order means nothing to JSON.parse, so the expected
// body is the SDK's object with its keys in the service's order. Every field
// value, including the signed channel_data and user_data strings, must still
// match the SDK byte for byte.
function inServiceKeyOrder(reply) {
  const { auth, ...rest } = reply;
  return { auth, ...rest };
}

for (const testCase of CASES) {
  for (const socketId of SOCKET_IDS) {
    const claims = testCase.claims || DEFAULT_CLAIMS;
    const target = testCase.kind === 'user' ? `user-auth sub=${claims.sub}` : testCase.channel;
    const name = `${testCase.kind} ${target} name=${JSON.stringify(claims.name)} socket ${socketId} matches SDK`;

    test(
      name,
      { timeout: TEST_TIMEOUT_MS },
      withDiagnostics(
        () => [lastExchangeDiagnostics, service],
        async () => {
          const token = mintSessionToken(claims);
          let path = '/pusher/auth';
          let body = `socket_id=${encodeURIComponent(socketId)}&channel_name=${encodeURIComponent(testCase.channel)}`;
          if (testCase.kind === 'user') {
            path = '/pusher/user-auth';
            body = `socket_id=${encodeURIComponent(socketId)}`;
          }
          const expected = expectedResponse(testCase.kind, socketId, testCase.channel, claims);
          const expectedBody = JSON.stringify(inServiceKeyOrder(expected));

          const response = await postForm(path, body, token);
          const actualBody = response.responseBody.toString('utf8');

          assert.equal(response.status, 200, `status for ${body}`);
          let actual;
          try {
            actual = JSON.parse(actualBody);
          } catch (error) {
            assert.fail(`response body is not JSON (${error.message}): ${actualBody}`);
          }
          assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), 'response fields');
          for (const field of Object.keys(expected)) {
            assert.equal(actual[field], expected[field], `field ${field}`);
          }
          assert.equal(
            actualBody,
            expectedBody,
            'same fields and values as the SDK, but the body bytes differ (key order or JSON formatting)',
          );
        },
      ),
    );
  }
}
