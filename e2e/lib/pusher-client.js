'use strict';

// Helpers that run pusher-js 8 (its Node build) against the fake server.
//
// The Node build (`require('pusher-js')`, dist/node/pusher.js) already bundles
// tweetnacl and sets `nacl`, so private-encrypted- channels work without an
// extra import. `require('pusher-js/with-encryption')` loads the browser build
// and fails in Node with "self is not defined".

const Pusher = require('pusher-js');

const DEFAULT_TIMEOUT_MS = 4000;

// pusher-js writes its log lines here instead of the console, so that a failed
// test can print them and a passing one stays quiet.
const pusherLog = [];
Pusher.log = (message) => {
  pusherLog.push(message);
};

/** Diagnostic source (see withDiagnostics) for the pusher-js log. */
const pusherLogDiagnostics = {
  mark() {
    return pusherLog.length;
  },
  describeSince(mark) {
    const lines = pusherLog.slice(mark);
    return `pusher-js log (${lines.length} lines):\n${lines.join('\n')}`;
  },
};

/**
 * Creates a pusher-js client for the fake server. `options` is merged over
 * the server's connection options (host, port, no TLS, ws transport only).
 */
function createClient(server, options = {}) {
  return new Pusher(server.key, { ...server.clientOptions(), ...options });
}

/**
 * Options for `channelAuthorization` or `userAuthentication` that POST to
 * `endpoint` with `Authorization: Bearer <token>`, or with no Authorization
 * header when token is empty.
 */
function bearerAuthOptions(endpoint, token) {
  return {
    endpoint,
    transport: 'ajax',
    headersProvider: () => (token ? { Authorization: `Bearer ${token}` } : {}),
  };
}

/**
 * Resolves with the data of the first `eventName` that `emitter` (a pusher-js
 * channel, user facade or connection) emits, and rejects after timeoutMs.
 */
function waitForEvent(emitter, eventName, { timeoutMs = DEFAULT_TIMEOUT_MS, description } = {}) {
  return new Promise((resolve, reject) => {
    const handler = (data) => {
      clearTimeout(timer);
      emitter.unbind(eventName, handler);
      resolve(data);
    };
    const timer = setTimeout(() => {
      emitter.unbind(eventName, handler);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${eventName}${description ? ` on ${description}` : ''}`));
    }, timeoutMs);
    emitter.bind(eventName, handler);
  });
}

/**
 * Resolves with the first of `eventNames` that `emitter` emits, as
 * {event, data}. Used where a test expects success but must report the
 * failure event's payload if that comes first.
 */
function waitForFirstEvent(emitter, eventNames, { timeoutMs = DEFAULT_TIMEOUT_MS, description } = {}) {
  return new Promise((resolve, reject) => {
    const handlers = new Map();
    const cleanup = () => {
      clearTimeout(timer);
      for (const [eventName, handler] of handlers) emitter.unbind(eventName, handler);
    };
    for (const eventName of eventNames) {
      const handler = (data) => {
        cleanup();
        resolve({ event: eventName, data });
      };
      handlers.set(eventName, handler);
      emitter.bind(eventName, handler);
    }
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(
          `timed out after ${timeoutMs} ms waiting for any of ${eventNames.join(', ')}${description ? ` on ${description}` : ''}`,
        ),
      );
    }, timeoutMs);
  });
}

/** Resolves once the client is connected. Rejects if it fails or times out. */
async function waitForConnected(client, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  if (client.connection.state === 'connected') return;
  const outcome = await waitForFirstEvent(client.connection, ['connected', 'failed', 'unavailable'], {
    timeoutMs,
    description: 'the pusher-js connection',
  });
  if (outcome.event !== 'connected') {
    throw new Error(`pusher-js connection went to state ${outcome.event} instead of connected`);
  }
}

/**
 * Subscribes and resolves with the pusher:subscription_succeeded data.
 * Rejects with the pusher:subscription_error payload if that comes first.
 */
async function subscribeAndWait(client, channelName, options) {
  const channel = client.subscribe(channelName);
  const outcome = await waitForFirstEvent(
    channel,
    ['pusher:subscription_succeeded', 'pusher:subscription_error'],
    { description: channelName, ...options },
  );
  if (outcome.event === 'pusher:subscription_error') {
    throw new Error(`subscription to ${channelName} failed: ${JSON.stringify(outcome.data)}`);
  }
  return { channel, data: outcome.data };
}

/**
 * Calls client.signin() and resolves with pusher.user.user_data once
 * pusher-js has accepted pusher:signin_success. Rejects on
 * pusher:signin_error, on a connection-level pusher:error, when pusher-js
 * drops the user_data (not JSON, or an id that is not a non-empty string),
 * or after timeoutMs.
 */
function signinAndWait(client, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const finish = (error) => {
      clearTimeout(timer);
      client.user.unbind('pusher:signin_error', onSigninError);
      client.unbind('pusher:error', onPusherError);
      client.connection.unbind('message', onMessage);
      if (error) reject(error);
      else resolve(client.user.user_data);
    };
    const onSigninError = (data) => finish(new Error(`sign-in failed with pusher:signin_error ${JSON.stringify(data)}`));
    const onPusherError = (data) => finish(new Error(`sign-in failed with pusher:error ${JSON.stringify(data)}`));
    // pusher-js's own handler for this message runs first, because it was
    // bound when the client was created.
    const onMessage = (event) => {
      if (event.event !== 'pusher:signin_success') return;
      if (client.user.user_data === null) {
        finish(new Error(`pusher-js rejected the user_data of pusher:signin_success: ${JSON.stringify(event.data)}`));
      } else {
        finish(null);
      }
    };
    const timer = setTimeout(
      () => finish(new Error(`timed out after ${timeoutMs} ms waiting for pusher:signin_success`)),
      timeoutMs,
    );
    client.user.bind('pusher:signin_error', onSigninError);
    client.bind('pusher:error', onPusherError);
    client.connection.bind('message', onMessage);
    client.signin();
  });
}

/**
 * Polls predicate every 20 ms and resolves once it returns true. Rejects
 * after timeoutMs with a message naming `description`.
 */
async function waitUntil(predicate, description, timeoutMs = DEFAULT_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Disconnects every client, including clients that never connected. */
function disconnectAll(clients) {
  for (const client of clients) {
    try {
      client.disconnect();
    } catch {
      // The client is already closed.
    }
  }
  clients.length = 0;
}

module.exports = {
  Pusher,
  createClient,
  bearerAuthOptions,
  waitForEvent,
  waitForFirstEvent,
  waitForConnected,
  subscribeAndWait,
  signinAndWait,
  waitUntil,
  disconnectAll,
  pusherLogDiagnostics,
};
