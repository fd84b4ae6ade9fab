'use strict';

// End-to-end tests: pusher-js clients get their channel authorization and
// sign-in from pusher-authd (configured by e2e/config.yaml), and the fake
// Pusher server checks the signatures as Pusher would.

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');

const { APP } = require('./lib/app-config');
const { FakePusherServer } = require('./lib/fake-pusher-server');
const { mintSessionToken } = require('./lib/session-token');
const { startService, withDiagnostics } = require('./lib/service');
const {
  createClient,
  bearerAuthOptions,
  waitForEvent,
  waitForFirstEvent,
  subscribeAndWait,
  signinAndWait,
  waitUntil,
  disconnectAll,
  pusherLogDiagnostics,
} = require('./lib/pusher-client');

const STARTUP_TIMEOUT_MS = 5 * 60 * 1000; // includes `go build` on a cold cache
const TEST_TIMEOUT_MS = 8000;
const LARGE_SOCKET_ID = '18446744073709551615.18446744073709551615';

let service;
let server;
const clients = [];

before(
  async () => {
    server = new FakePusherServer(APP);
    await server.listen();
    service = await startService();
  },
  { timeout: STARTUP_TIMEOUT_MS },
);

after(async () => {
  disconnectAll(clients);
  if (server) await server.close();
  if (service) await service.stop();
});

afterEach(() => disconnectAll(clients));

function serviceTest(name, fn) {
  test(name, { timeout: TEST_TIMEOUT_MS }, withDiagnostics(() => [service, server, pusherLogDiagnostics], fn));
}

/**
 * Creates a pusher-js client whose channel authorization and sign-in go to
 * the service with `Authorization: Bearer <token>` (no header if token is empty).
 */
function newServiceClient(token, fakeServer = server) {
  const client = createClient(fakeServer, {
    channelAuthorization: bearerAuthOptions(`${service.url}/pusher/auth`, token),
    userAuthentication: bearerAuthOptions(`${service.url}/pusher/user-auth`, token),
  });
  clients.push(client);
  return client;
}

/** Subscribes and resolves with the pusher:subscription_error payload. Fails the test if the subscription succeeds. */
async function expectSubscriptionError(client, channelName) {
  const outcome = await waitForFirstEvent(
    client.subscribe(channelName),
    ['pusher:subscription_succeeded', 'pusher:subscription_error'],
    { description: channelName },
  );
  assert.equal(outcome.event, 'pusher:subscription_error', `subscription to ${channelName} should have failed`);
  return outcome.data;
}

function subscriptionRecord(fakeServer, client, channelName) {
  return fakeServer.subscriptions.find(
    (entry) => entry.channel === channelName && entry.socketId === client.connection.socket_id,
  );
}

serviceTest('private-foobar subscription succeeds', async () => {
  const client = newServiceClient(mintSessionToken({ sub: 'user-1', name: 'User One' }));
  await subscribeAndWait(client, 'private-foobar');

  const record = subscriptionRecord(server, client, 'private-foobar');
  assert.ok(record, 'the fake server received no pusher:subscribe for private-foobar');
  assert.equal(record.accepted, true, record.error);
  assert.equal(record.channelData, undefined, 'a private reply must not carry channel_data');
});

serviceTest('private-denied subscription gets 403', async () => {
  const client = newServiceClient(mintSessionToken({ sub: 'user-1', name: 'User One' }));
  const error = await expectSubscriptionError(client, 'private-denied');
  assert.equal(error.type, 'AuthError');
  assert.equal(error.status, 403);
  assert.equal(subscriptionRecord(server, client, 'private-denied'), undefined);
});

serviceTest('channel without rule gets 403', async () => {
  const client = newServiceClient(mintSessionToken({ sub: 'user-1', name: 'User One' }));
  const error = await expectSubscriptionError(client, 'private-no-rule-matches');
  assert.equal(error.status, 403);
});

serviceTest('own user channel allowed, other denied', async () => {
  const client = newServiceClient(mintSessionToken({ sub: 'u42', name: 'User 42' }));
  await subscribeAndWait(client, 'private-user-u42');
  assert.equal(subscriptionRecord(server, client, 'private-user-u42').accepted, true);

  const error = await expectSubscriptionError(client, 'private-user-u43');
  assert.equal(error.status, 403);
});

serviceTest('presence members carry claims', async () => {
  const aliceToken = mintSessionToken({ sub: 'alice-7', name: 'Alice Liddell' });
  // A numeric-looking sub must stay a string user_id.
  const bobToken = mintSessionToken({ sub: '1001', name: 'Bob Ross' });

  const alice = newServiceClient(aliceToken);
  const { channel: aliceChannel } = await subscribeAndWait(alice, 'presence-room-lobby');
  const memberAdded = waitForEvent(aliceChannel, 'pusher:member_added', { description: "alice's presence-room-lobby" });

  const bob = newServiceClient(bobToken);
  const { channel: bobChannel } = await subscribeAndWait(bob, 'presence-room-lobby');
  assert.deepEqual(await memberAdded, { id: '1001', info: { name: 'Bob Ross' } });

  assert.equal(aliceChannel.members.count, 2);
  assert.equal(bobChannel.members.count, 2);
  assert.deepEqual(aliceChannel.members.me, { id: 'alice-7', info: { name: 'Alice Liddell' } });
  assert.deepEqual(bobChannel.members.me, { id: '1001', info: { name: 'Bob Ross' } });
  assert.deepEqual(aliceChannel.members.get('1001'), { id: '1001', info: { name: 'Bob Ross' } });
  assert.deepEqual(bobChannel.members.get('alice-7'), { id: 'alice-7', info: { name: 'Alice Liddell' } });

  for (const [client, sub, name] of [
    [alice, 'alice-7', 'Alice Liddell'],
    [bob, '1001', 'Bob Ross'],
  ]) {
    const record = subscriptionRecord(server, client, 'presence-room-lobby');
    assert.equal(record.accepted, true, record.error);
    const channelData = JSON.parse(record.channelData);
    assert.equal(typeof channelData.user_id, 'string', `user_id in ${record.channelData}`);
    assert.equal(channelData.user_id, sub);
    assert.deepEqual(channelData.user_info, { name });
  }
});

serviceTest('presence name with HTML characters', async () => {
  // Go's encoding/json escapes &, < and > as \u0026, \u003c and \u003e. That
  // is valid JSON as long as the signed and the returned channel_data match.
  const client = newServiceClient(mintSessionToken({ sub: 'html-1', name: 'Ada & <Bob> "Q"' }));
  const { channel } = await subscribeAndWait(client, 'presence-room-html');
  const record = subscriptionRecord(server, client, 'presence-room-html');
  assert.equal(record.accepted, true, record.error);
  assert.deepEqual(channel.members.me, { id: 'html-1', info: { name: 'Ada & <Bob> "Q"' } });
});

serviceTest('encrypted channel event decrypted', async () => {
  const client = newServiceClient(mintSessionToken({ sub: 'user-1', name: 'User One' }));
  const { channel } = await subscribeAndWait(client, 'private-encrypted-secret');
  assert.equal(subscriptionRecord(server, client, 'private-encrypted-secret').accepted, true);

  const received = waitForEvent(channel, 'launch-codes', { description: 'private-encrypted-secret' });
  const payload = { codes: [1, 2, 3], note: 'ünïcödé ✓' };
  assert.equal(server.publish('private-encrypted-secret', 'launch-codes', payload), 1);
  assert.deepEqual(await received, payload);
});

serviceTest('signin sets user_data from claims', async () => {
  const client = newServiceClient(mintSessionToken({ sub: '424242', name: 'Ada Lovelace' }));
  const userData = await signinAndWait(client);

  assert.equal(userData.id, '424242');
  assert.deepEqual(userData.user_info, { name: 'Ada Lovelace' });
  const record = server.signins.find((entry) => entry.socketId === client.connection.socket_id);
  assert.equal(record.accepted, true, record.error);
  assert.equal(record.userData, '{"id":"424242","user_info":{"name":"Ada Lovelace"}}');

  await waitUntil(
    () => server.subscriptions.some((entry) => entry.channel === '#server-to-user-424242' && entry.accepted),
    'the #server-to-user-424242 subscription',
  );
  const received = waitForEvent(client.user, 'welcome');
  assert.equal(server.sendToUser('424242', 'welcome', { hello: 'Ada' }), 1);
  assert.deepEqual(await received, { hello: 'Ada' });
});

serviceTest('missing token gets 401', async () => {
  const client = newServiceClient('');
  const error = await expectSubscriptionError(client, 'private-foobar');
  assert.equal(error.type, 'AuthError');
  assert.equal(error.status, 401);
});

serviceTest('missing token signin gets 401', async () => {
  const client = newServiceClient('');
  const signinError = waitForEvent(client.user, 'pusher:signin_error');
  client.signin();
  const error = await signinError;
  assert.equal(error.status, 401);
  assert.equal(client.user.user_data, null);
});

serviceTest('expired token gets 401', async () => {
  const now = Math.floor(Date.now() / 1000);
  const token = mintSessionToken({ sub: 'user-1', name: 'User One', iat: now - 3600, exp: now - 1800 });
  const client = newServiceClient(token);
  const error = await expectSubscriptionError(client, 'private-foobar');
  assert.equal(error.status, 401);
});

serviceTest('token with wrong key gets 401', async () => {
  const token = mintSessionToken({ sub: 'user-1', name: 'User One' }, { secret: 'not-the-session-secret-0123456789' });
  const client = newServiceClient(token);
  const error = await expectSubscriptionError(client, 'private-foobar');
  assert.equal(error.status, 401);
});

serviceTest('large socket id signed correctly', async () => {
  const largeIdServer = new FakePusherServer({ ...APP, socketIdFactory: () => LARGE_SOCKET_ID });
  await largeIdServer.listen();
  try {
    const token = mintSessionToken({ sub: 'user-1', name: 'User One' });
    const client = newServiceClient(token, largeIdServer);
    await subscribeAndWait(client, 'private-foobar');
    assert.equal(client.connection.socket_id, LARGE_SOCKET_ID);
    assert.equal(subscriptionRecord(largeIdServer, client, 'private-foobar').accepted, true);

    const { channel } = await subscribeAndWait(client, 'presence-room-lobby');
    assert.equal(channel.members.me.id, 'user-1');
  } finally {
    disconnectAll(clients);
    await largeIdServer.close();
  }
});
