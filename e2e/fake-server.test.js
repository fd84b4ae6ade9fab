'use strict';

// Self-tests of the fake Pusher server: pusher-js clients authorized by the
// official `pusher` Node SDK must be accepted, and wrong signatures rejected.
// These tests do not need pusher-authd.

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const PusherServerSdk = require('pusher');
const WebSocket = require('ws');

const { APP } = require('./lib/app-config');
const { FakePusherServer, hmacHex } = require('./lib/fake-pusher-server');
const {
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
} = require('./lib/pusher-client');
const { withDiagnostics } = require('./lib/service');

const TEST_TIMEOUT_MS = 8000;
const LARGE_SOCKET_ID = '18446744073709551615.18446744073709551615';

const sdk = new PusherServerSdk({
  appId: APP.appId,
  key: APP.key,
  secret: APP.secret,
  encryptionMasterKeyBase64: APP.encryptionMasterKeyBase64,
});

let server;
const clients = [];

before(async () => {
  server = new FakePusherServer(APP);
  await server.listen();
});

after(async () => {
  disconnectAll(clients);
  await server.close();
});

afterEach(() => disconnectAll(clients));

function fakeServerTest(name, fn) {
  test(name, { timeout: TEST_TIMEOUT_MS }, withDiagnostics(() => [server, pusherLogDiagnostics], fn));
}

/** Returns a channelAuthorization customHandler that signs replies with the `pusher` SDK. */
function sdkChannelHandler(presenceData) {
  return ({ socketId, channelName }, callback) => {
    try {
      callback(null, sdk.authorizeChannel(socketId, channelName, presenceData));
    } catch (error) {
      callback(error, null);
    }
  };
}

function newClient(options) {
  const client = createClient(server, options);
  clients.push(client);
  return client;
}

/** Opens a raw WebSocket to path and resolves with {socket, messages}. */
async function openRawSocket(path) {
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}${path}`);
  const messages = [];
  const closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  socket.on('message', (raw) => messages.push(JSON.parse(raw.toString('utf8'))));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return { socket, messages, closed };
}

fakeServerTest('handshake sends socket id and answers ping', async () => {
  const { socket, messages } = await openRawSocket(`/app/${APP.key}?protocol=7&client=js&version=8.6.0&flash=false`);
  try {
    await waitUntil(() => messages.length >= 1, 'pusher:connection_established');
    const established = messages[0];
    assert.equal(established.event, 'pusher:connection_established');
    assert.equal(typeof established.data, 'string', 'data must be a JSON string, as Pusher sends it');
    const data = JSON.parse(established.data);
    assert.match(data.socket_id, /^\d+\.\d+$/);
    assert.equal(data.activity_timeout, 120);

    socket.send(JSON.stringify({ event: 'pusher:ping', data: {} }));
    await waitUntil(() => messages.length >= 2, 'pusher:pong');
    assert.equal(messages[1].event, 'pusher:pong');
  } finally {
    socket.terminate();
  }
});

fakeServerTest('unknown app key is refused with 4001', async () => {
  const { messages, closed } = await openRawSocket('/app/not-the-key?protocol=7');
  const { code } = await closed;
  assert.equal(code, 4001);
  assert.equal(messages[0].event, 'pusher:error');
  assert.equal(messages[0].data.code, 4001);
});

fakeServerTest('public channel needs no auth', async () => {
  const client = newClient({});
  await subscribeAndWait(client, 'public-news');
  const record = server.subscriptions.find((entry) => entry.channel === 'public-news');
  assert.equal(record.accepted, true);
});

fakeServerTest('private channel accepts SDK signature', async () => {
  const client = newClient({ channelAuthorization: { customHandler: sdkChannelHandler() } });
  const { channel } = await subscribeAndWait(client, 'private-foobar');
  const record = server.subscriptions.find(
    (entry) => entry.channel === 'private-foobar' && entry.socketId === client.connection.socket_id,
  );
  assert.equal(record.accepted, true, record.error);
  assert.equal(record.channelData, undefined, 'pusher-js must leave channel_data out when the reply has none');

  const received = waitForEvent(channel, 'greeting');
  assert.equal(server.publish('private-foobar', 'greeting', { text: 'hi' }), 1);
  assert.deepEqual(await received, { text: 'hi' });
});

fakeServerTest('private channel rejects wrong secret', async () => {
  const client = newClient({
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        const signature = hmacHex('not-the-secret', `${socketId}:${channelName}`);
        callback(null, { auth: `${APP.key}:${signature}` });
      },
    },
  });
  await waitForConnected(client);
  const connectionError = waitForEvent(client, 'pusher:error');
  const channel = client.subscribe('private-foobar');
  const channelError = await waitForEvent(channel, 'pusher:subscription_error');

  const socketId = client.connection.socket_id;
  const expectedPrefix = `Invalid signature: Expected HMAC SHA256 hex digest of ${socketId}:private-foobar, but got `;
  assert.ok(channelError.error.startsWith(expectedPrefix), channelError.error);
  const pusherError = await connectionError;
  assert.equal(pusherError.code, null);
  assert.ok(pusherError.message.startsWith(expectedPrefix), pusherError.message);
  assert.equal(channel.subscribed, false);
  assert.equal(server.publish('private-foobar', 'greeting', {}), 0, 'a rejected socket must not be subscribed');
});

fakeServerTest('private channel rejects wrong key prefix', async () => {
  const client = newClient({
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        const { auth } = sdk.authorizeChannel(socketId, channelName);
        callback(null, { auth: auth.replace(APP.key, 'wrongkey') });
      },
    },
  });
  const channel = client.subscribe('private-foobar');
  const channelError = await waitForEvent(channel, 'pusher:subscription_error');
  assert.equal(channelError.error, "Invalid key in subscription auth data: 'wrongkey'");
});

fakeServerTest('private reply with empty channel_data fails', async () => {
  // Pusher signs socket_id:channel:channel_data whenever channel_data is
  // present, so a private reply that adds "channel_data":"" no longer verifies.
  const client = newClient({
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        callback(null, { ...sdk.authorizeChannel(socketId, channelName), channel_data: '' });
      },
    },
  });
  const channel = client.subscribe('private-foobar');
  const channelError = await waitForEvent(channel, 'pusher:subscription_error');
  assert.match(channelError.error, /^Invalid signature: Expected HMAC SHA256 hex digest of \d+\.\d+:private-foobar:, but got /);
});

fakeServerTest('large socket id accepted', async () => {
  const largeIdServer = new FakePusherServer({ ...APP, socketIdFactory: () => LARGE_SOCKET_ID });
  await largeIdServer.listen();
  try {
    const client = createClient(largeIdServer, { channelAuthorization: { customHandler: sdkChannelHandler() } });
    clients.push(client);
    await subscribeAndWait(client, 'private-foobar');
    assert.equal(client.connection.socket_id, LARGE_SOCKET_ID);
    assert.equal(largeIdServer.subscriptions[0].accepted, true, largeIdServer.subscriptions[0].error);
  } finally {
    disconnectAll(clients);
    await largeIdServer.close();
  }
});

fakeServerTest('presence members added and removed', async () => {
  const alice = newClient({
    channelAuthorization: { customHandler: sdkChannelHandler({ user_id: 'alice', user_info: { name: 'Alice' } }) },
  });
  const { channel: aliceChannel, data: aliceMembers } = await subscribeAndWait(alice, 'presence-room-lobby');
  assert.equal(aliceMembers.count, 1);
  assert.deepEqual(aliceMembers.me, { id: 'alice', info: { name: 'Alice' } });

  const memberAdded = waitForEvent(aliceChannel, 'pusher:member_added');
  const bob = newClient({
    channelAuthorization: { customHandler: sdkChannelHandler({ user_id: 'bob', user_info: { name: 'Bob' } }) },
  });
  const { channel: bobChannel } = await subscribeAndWait(bob, 'presence-room-lobby');
  assert.deepEqual(await memberAdded, { id: 'bob', info: { name: 'Bob' } });
  assert.equal(bobChannel.members.count, 2);
  assert.deepEqual(bobChannel.members.get('alice'), { id: 'alice', info: { name: 'Alice' } });
  assert.equal(aliceChannel.members.count, 2);

  const memberRemoved = waitForEvent(aliceChannel, 'pusher:member_removed');
  bob.disconnect();
  assert.deepEqual(await memberRemoved, { id: 'bob', info: { name: 'Bob' } });
  assert.equal(aliceChannel.members.count, 1);
  assert.deepEqual(server.presenceMemberIds('presence-room-lobby'), ['alice']);
});

fakeServerTest('presence rejects bad channel_data signature', async () => {
  const client = newClient({
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        const reply = sdk.authorizeChannel(socketId, channelName, { user_id: 'mallory' });
        // Change the member after signing: the signature covers channel_data.
        callback(null, { ...reply, channel_data: JSON.stringify({ user_id: 'admin' }) });
      },
    },
  });
  const channel = client.subscribe('presence-room-lobby');
  const channelError = await waitForEvent(channel, 'pusher:subscription_error');
  assert.match(channelError.error, /^Invalid signature: Expected HMAC SHA256 hex digest of \d+\.\d+:presence-room-lobby:\{"user_id":"admin"\}, but got /);
  assert.equal(server.presenceMemberIds('presence-room-lobby').includes('admin'), false);
});

fakeServerTest('encrypted channel event decrypted by client', async () => {
  const client = newClient({ channelAuthorization: { customHandler: sdkChannelHandler() } });
  const { channel } = await subscribeAndWait(client, 'private-encrypted-secret');
  const received = waitForEvent(channel, 'secret-event');
  const payload = { text: 'top secret', n: 42, nested: { ok: true } };
  assert.equal(server.publish('private-encrypted-secret', 'secret-event', payload), 1);
  assert.deepEqual(await received, payload);

  const sentFrame = server.frames.findLast((frame) => frame.direction === 'sent' && frame.text.includes('secret-event'));
  const sentData = JSON.parse(JSON.parse(sentFrame.text).data);
  assert.deepEqual(Object.keys(sentData), ['nonce', 'ciphertext']);
  assert.equal(Buffer.from(sentData.nonce, 'base64').length, 24);
  assert.equal(sentFrame.text.includes('top secret'), false, 'the frame must not carry the plaintext');
});

fakeServerTest('signin accepted and server-to-user event delivered', async () => {
  const client = newClient({
    userAuthentication: {
      customHandler: ({ socketId }, callback) => {
        callback(null, sdk.authenticateUser(socketId, { id: 'ada', user_info: { name: 'Ada' } }));
      },
    },
  });
  const userData = await signinAndWait(client);
  assert.deepEqual(userData, { id: 'ada', user_info: { name: 'Ada' } });
  assert.equal(server.signins[server.signins.length - 1].accepted, true);

  await waitUntil(
    () => server.subscriptions.some((entry) => entry.channel === '#server-to-user-ada' && entry.accepted),
    'the #server-to-user-ada subscription',
  );
  const received = waitForEvent(client.user, 'notice');
  assert.equal(server.sendToUser('ada', 'notice', { text: 'hello Ada' }), 1);
  assert.deepEqual(await received, { text: 'hello Ada' });
});

fakeServerTest('signin with wrong signature closes with 4009', async () => {
  const client = newClient({
    userAuthentication: {
      customHandler: ({ socketId }, callback) => {
        const userData = JSON.stringify({ id: 'ada' });
        callback(null, { auth: `${APP.key}:${hmacHex('not-the-secret', `${socketId}::user::${userData}`)}`, user_data: userData });
      },
    },
  });
  const connectionError = waitForEvent(client, 'pusher:error');
  client.signin();
  const pusherError = await connectionError;
  assert.equal(pusherError.code, 4009);
  assert.match(pusherError.message, /^Invalid signature: Expected HMAC SHA256 hex digest of \d+\.\d+::user::\{"id":"ada"\}, but got /);
  await waitUntil(() => server.connections.size === 0, 'the server to close the socket');
  assert.equal(client.user.user_data, null);
});

fakeServerTest('ajax auth sends form body and bearer header', async () => {
  // A minimal auth endpoint built on the `pusher` SDK, to check what the
  // pusher-js Node build sends over HTTP.
  const requests = [];
  const endpoint = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ headers: request.headers, body });
      const form = new URLSearchParams(body);
      const reply = sdk.authorizeChannel(form.get('socket_id'), form.get('channel_name'));
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify(reply));
    });
  });
  await new Promise((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${endpoint.address().port}/pusher/auth`;
    const client = newClient({ channelAuthorization: bearerAuthOptions(url, 'token-123') });
    const channelName = 'private-a=b@c,d;e.f';
    await subscribeAndWait(client, channelName);

    assert.equal(requests.length, 1);
    const [request] = requests;
    const socketId = client.connection.socket_id;
    assert.equal(request.body, `socket_id=${socketId}&channel_name=private-a%3Db%40c%2Cd%3Be.f`);
    assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(request.headers.authorization, 'Bearer token-123');
  } finally {
    endpoint.closeAllConnections();
    await new Promise((resolve) => endpoint.close(resolve));
  }
});

fakeServerTest('auth endpoint 403 reaches subscription_error', async () => {
  const endpoint = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(403, { 'Content-Type': 'application/json' });
      response.end('{"error":"forbidden"}');
    });
  });
  await new Promise((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${endpoint.address().port}/pusher/auth`;
    const client = newClient({ channelAuthorization: bearerAuthOptions(url, 'token-123') });
    const outcome = await waitForFirstEvent(client.subscribe('private-foobar'), [
      'pusher:subscription_succeeded',
      'pusher:subscription_error',
    ]);
    assert.equal(outcome.event, 'pusher:subscription_error');
    assert.equal(outcome.data.type, 'AuthError');
    assert.equal(outcome.data.status, 403);
    assert.equal(server.subscriptions.some((entry) => entry.socketId === client.connection.socket_id), false);
  } finally {
    endpoint.closeAllConnections();
    await new Promise((resolve) => endpoint.close(resolve));
  }
});
