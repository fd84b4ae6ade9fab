'use strict';

// A Pusher-protocol (version 7) WebSocket server for tests. It checks channel
// authorization and user sign-in signatures the way Pusher does, keeps
// presence member lists, and can publish (and encrypt) events to subscribers.
// It listens on 127.0.0.1 only.

const crypto = require('node:crypto');
const { WebSocketServer } = require('ws');
const nacl = require('tweetnacl');

const ACTIVITY_TIMEOUT_SECONDS = 120;

// Accepted values of the `protocol` query parameter. pusher-js 8 sends 7.
const SUPPORTED_PROTOCOL_VERSIONS = new Set(['4', '5', '6', '7']);

// Presence limits that Pusher states for hosted apps: 128 characters for a
// user id and 1 KB for the user object.
const MAX_USER_ID_LENGTH = 128;
const MAX_USER_INFO_BYTES = 1024;

// Close and error codes of the Pusher protocol.
const ERROR_APP_NOT_FOUND = 4001;
const ERROR_UNSUPPORTED_PROTOCOL = 4007;
const ERROR_UNAUTHORIZED_CONNECTION = 4009;

function hmacHex(secret, stringToSign) {
  return crypto.createHmac('sha256', secret).update(stringToSign, 'utf8').digest('hex');
}

// Compares two strings in constant time when their lengths are equal.
function safeEqual(a, b) {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

function randomSocketId() {
  const part = () => crypto.randomInt(1, 2 ** 31);
  return `${part()}.${part()}`;
}

/**
 * Returns base64(SHA-256(channel name bytes || master key bytes)), the
 * per-channel key that Pusher server libraries derive for
 * private-encrypted- channels.
 */
function channelSharedSecret(channel, masterKey) {
  return crypto
    .createHash('sha256')
    .update(Buffer.concat([Buffer.from(channel, 'utf8'), masterKey]))
    .digest();
}

/**
 * Encrypts event data as Pusher server libraries do: nacl.secretbox with a
 * random 24-byte nonce under the channel's shared secret. Returns the JSON
 * string `{"nonce":"<base64>","ciphertext":"<base64>"}`.
 */
function encryptEventData(channel, masterKey, data) {
  const key = new Uint8Array(channelSharedSecret(channel, masterKey));
  const nonce = nacl.randomBytes(nacl.secretbox.nonceLength);
  const plaintext = new Uint8Array(Buffer.from(JSON.stringify(data), 'utf8'));
  const ciphertext = nacl.secretbox(plaintext, nonce, key);
  return JSON.stringify({
    nonce: Buffer.from(nonce).toString('base64'),
    ciphertext: Buffer.from(ciphertext).toString('base64'),
  });
}

function channelKind(channel) {
  if (channel.startsWith('presence-')) return 'presence';
  if (channel.startsWith('private-encrypted-')) return 'encrypted';
  if (channel.startsWith('private-')) return 'private';
  if (channel.startsWith('#server-to-user-')) return 'server-to-user';
  return 'public';
}

class FakePusherServer {
  /**
   * @param {object} options
   * @param {string} options.key app key; the WebSocket path must be /app/<key>
   * @param {string} options.secret app secret used for HMAC-SHA256 signatures
   * @param {string} options.encryptionMasterKeyBase64 base64 of the 32-byte master key
   * @param {() => string} [options.socketIdFactory] returns the socket id for
   *   each new connection; by default two random numbers joined by a dot
   * @param {boolean} [options.sendChannelSubscriptionError=true] after the
   *   connection-level pusher:error that Pusher sends for a rejected
   *   subscription, also send a channel-scoped pusher:subscription_error (as
   *   soketi does), so pusher-js reports the failure on the channel object
   */
  constructor({
    key,
    secret,
    encryptionMasterKeyBase64,
    socketIdFactory = randomSocketId,
    sendChannelSubscriptionError = true,
  }) {
    if (!key || !secret) {
      throw new Error('FakePusherServer needs both key and secret');
    }
    this.key = key;
    this.secret = secret;
    this.masterKey = encryptionMasterKeyBase64
      ? Buffer.from(encryptionMasterKeyBase64, 'base64')
      : null;
    if (this.masterKey && this.masterKey.length !== 32) {
      throw new Error(
        `encryptionMasterKeyBase64 must decode to 32 bytes, got ${this.masterKey.length}`,
      );
    }
    this.socketIdFactory = socketIdFactory;
    this.sendChannelSubscriptionError = sendChannelSubscriptionError;

    /** Every pusher:subscribe attempt, accepted or not, in arrival order. */
    this.subscriptions = [];
    /** Every pusher:signin attempt, accepted or not, in arrival order. */
    this.signins = [];
    /** Every frame sent or received, as {direction, socketId, text}. */
    this.frames = [];

    this.connections = new Map(); // socket id -> connection state
    this.channels = new Map(); // channel name -> Set of socket ids
    this.presenceMembers = new Map(); // channel name -> Map(user id -> {userInfo, socketIds})
    this.wss = null;
    this.port = null;
  }

  /** Starts listening on 127.0.0.1 on a free port and resolves with the port. */
  async listen() {
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    this.wss.on('connection', (socket, request) => this.handleConnection(socket, request));
    await new Promise((resolve, reject) => {
      this.wss.once('listening', resolve);
      this.wss.once('error', reject);
    });
    this.port = this.wss.address().port;
    return this.port;
  }

  /** pusher-js options that point a client at this server. */
  clientOptions() {
    return {
      cluster: 'local',
      wsHost: '127.0.0.1',
      wsPort: this.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      enableStats: false,
    };
  }

  /** Closes every connection and stops listening. */
  async close() {
    if (!this.wss) return;
    for (const client of this.wss.clients) {
      client.terminate();
    }
    await new Promise((resolve) => this.wss.close(() => resolve()));
    this.wss = null;
  }

  handleConnection(socket, request) {
    const url = new URL(request.url, 'http://127.0.0.1');
    const match = /^\/app\/([^/]+)$/.exec(url.pathname);
    if (!match || decodeURIComponent(match[1]) !== this.key) {
      const appKey = match ? decodeURIComponent(match[1]) : '';
      this.rejectConnection(
        socket,
        ERROR_APP_NOT_FOUND,
        `App key ${appKey} not in this cluster. Did you forget to specify the cluster?`,
      );
      return;
    }
    const protocol = url.searchParams.get('protocol');
    if (!SUPPORTED_PROTOCOL_VERSIONS.has(protocol)) {
      this.rejectConnection(
        socket,
        ERROR_UNSUPPORTED_PROTOCOL,
        `Unsupported protocol version: ${protocol}`,
      );
      return;
    }

    const socketId = this.socketIdFactory();
    const connection = { socketId, socket, channels: new Set(), user: null };
    this.connections.set(socketId, connection);

    socket.on('message', (raw) => this.handleMessage(connection, raw.toString('utf8')));
    socket.on('close', () => this.handleClose(connection));
    socket.on('error', () => {});

    this.send(connection, {
      event: 'pusher:connection_established',
      data: JSON.stringify({ socket_id: socketId, activity_timeout: ACTIVITY_TIMEOUT_SECONDS }),
    });
  }

  rejectConnection(socket, code, message) {
    socket.send(JSON.stringify({ event: 'pusher:error', data: { code, message } }));
    socket.close(code, message);
  }

  send(connection, message) {
    if (connection.socket.readyState === connection.socket.OPEN) {
      const text = JSON.stringify(message);
      this.frames.push({ direction: 'sent', socketId: connection.socketId, text });
      connection.socket.send(text);
    }
  }

  handleMessage(connection, raw) {
    this.frames.push({ direction: 'received', socketId: connection.socketId, text: raw });
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      this.send(connection, {
        event: 'pusher:error',
        data: { code: null, message: `Invalid JSON: ${raw}` },
      });
      return;
    }

    // Clients send data as an object; older clients sent it as a JSON string.
    let data = message.data;
    if (typeof data === 'string') {
      try {
        data = JSON.parse(data);
      } catch {
        // Keep the string; the handlers report the bad field.
      }
    }

    switch (message.event) {
      case 'pusher:ping':
        this.send(connection, { event: 'pusher:pong', data: '{}' });
        break;
      case 'pusher:subscribe':
        this.handleSubscribe(connection, data || {});
        break;
      case 'pusher:unsubscribe':
        if (data && typeof data.channel === 'string') {
          this.removeFromChannel(connection, data.channel);
        }
        break;
      case 'pusher:signin':
        this.handleSignin(connection, data || {});
        break;
      default:
        // Client events and anything else are accepted and ignored.
        break;
    }
  }

  /**
   * Checks `auth` (`<key>:<hex signature>`) against stringToSign. Returns null
   * when it is valid, otherwise the error message Pusher sends.
   */
  checkAuth(auth, stringToSign) {
    if (typeof auth !== 'string') {
      return `Invalid auth data: expected a string, got ${JSON.stringify(auth)}`;
    }
    const colon = auth.indexOf(':');
    const keyPrefix = colon === -1 ? auth : auth.slice(0, colon);
    const signature = colon === -1 ? '' : auth.slice(colon + 1);
    if (keyPrefix !== this.key) {
      return `Invalid key in subscription auth data: '${keyPrefix}'`;
    }
    const expected = hmacHex(this.secret, stringToSign);
    if (!safeEqual(signature, expected)) {
      return `Invalid signature: Expected HMAC SHA256 hex digest of ${stringToSign}, but got ${signature}`;
    }
    return null;
  }

  handleSubscribe(connection, data) {
    const { channel, auth } = data;
    const hasChannelData = Object.prototype.hasOwnProperty.call(data, 'channel_data');
    const channelData = data.channel_data;
    const record = {
      socketId: connection.socketId,
      channel,
      auth,
      channelData,
      accepted: false,
      error: null,
    };
    this.subscriptions.push(record);

    const reject = (message) => {
      record.error = message;
      this.send(connection, { event: 'pusher:error', data: { code: null, message } });
      if (this.sendChannelSubscriptionError && typeof channel === 'string') {
        this.send(connection, {
          event: 'pusher:subscription_error',
          channel,
          data: JSON.stringify({ type: 'AuthError', error: message, status: 401 }),
        });
      }
    };

    if (typeof channel !== 'string' || channel === '') {
      reject('Missing channel name in pusher:subscribe');
      return;
    }

    const kind = channelKind(channel);
    let member = null;

    if (kind === 'server-to-user') {
      const userId = channel.slice('#server-to-user-'.length);
      if (!connection.user || connection.user.id !== userId) {
        reject(`Cannot subscribe to ${channel}: the connection is not signed in as user ${userId}`);
        return;
      }
    } else if (kind === 'private' || kind === 'encrypted') {
      // Pusher appends channel_data to the signed string whenever the field is
      // present, even on private channels and even when it is empty.
      const stringToSign = hasChannelData
        ? `${connection.socketId}:${channel}:${channelData}`
        : `${connection.socketId}:${channel}`;
      const error = this.checkAuth(auth, stringToSign);
      if (error) {
        reject(error);
        return;
      }
    } else if (kind === 'presence') {
      // NOTE: pusher-js 7.4+ may omit channel_data on a signed-in connection.
      // This server rejects that, because how Pusher signs that case is not
      // documented.
      if (typeof channelData !== 'string') {
        reject(`Missing channel_data for presence channel ${channel}`);
        return;
      }
      const error = this.checkAuth(auth, `${connection.socketId}:${channel}:${channelData}`);
      if (error) {
        reject(error);
        return;
      }
      const parsed = this.parsePresenceMember(channelData);
      if (typeof parsed === 'string') {
        reject(parsed);
        return;
      }
      member = parsed;
    }

    if (connection.channels.has(channel)) {
      // A repeated subscribe replaces the earlier one. The old membership is
      // removed first so that presence counts stay right.
      this.removeFromChannel(connection, channel);
    }

    record.accepted = true;
    connection.channels.add(channel);
    if (!this.channels.has(channel)) this.channels.set(channel, new Set());
    this.channels.get(channel).add(connection.socketId);

    if (kind === 'presence') {
      connection.presence = connection.presence || new Map();
      connection.presence.set(channel, member.userId);
      const isNewMember = this.addPresenceMember(channel, connection.socketId, member);
      this.send(connection, {
        event: 'pusher_internal:subscription_succeeded',
        channel,
        data: JSON.stringify({ presence: this.presenceSnapshot(channel) }),
      });
      if (isNewMember) {
        this.broadcast(
          channel,
          'pusher_internal:member_added',
          JSON.stringify({ user_id: member.userId, user_info: member.userInfo }),
          connection.socketId,
        );
      }
    } else {
      this.send(connection, {
        event: 'pusher_internal:subscription_succeeded',
        channel,
        data: '{}',
      });
    }
  }

  /**
   * Parses presence channel_data. Returns {userId, userInfo} or an error
   * message. user_id may be a string or a number and is kept as a string.
   */
  parsePresenceMember(channelData) {
    let parsed;
    try {
      parsed = JSON.parse(channelData);
    } catch {
      return `Invalid presence channel_data: not JSON: ${channelData}`;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return `Invalid presence channel_data: not a JSON object: ${channelData}`;
    }
    const { user_id: userId, user_info: userInfo } = parsed;
    if (typeof userId !== 'string' && typeof userId !== 'number') {
      return `Invalid presence channel_data: user_id must be a string or a number: ${channelData}`;
    }
    const userIdString = String(userId);
    if (userIdString === '' || userIdString.length > MAX_USER_ID_LENGTH) {
      return `Invalid presence channel_data: user_id must be 1 to ${MAX_USER_ID_LENGTH} characters: ${channelData}`;
    }
    if (userInfo !== undefined) {
      if (userInfo === null || typeof userInfo !== 'object' || Array.isArray(userInfo)) {
        return 'user_info supplied to presence subscription is invalid';
      }
      if (Buffer.byteLength(JSON.stringify(userInfo), 'utf8') > MAX_USER_INFO_BYTES) {
        return `user_info supplied to presence subscription is larger than ${MAX_USER_INFO_BYTES} bytes`;
      }
    }
    return { userId: userIdString, userInfo: userInfo === undefined ? null : userInfo };
  }

  /** Adds a socket to a presence member and returns true if the user is new to the channel. */
  addPresenceMember(channel, socketId, { userId, userInfo }) {
    if (!this.presenceMembers.has(channel)) this.presenceMembers.set(channel, new Map());
    const members = this.presenceMembers.get(channel);
    const existing = members.get(userId);
    if (existing) {
      existing.socketIds.add(socketId);
      return false;
    }
    members.set(userId, { userInfo, socketIds: new Set([socketId]) });
    return true;
  }

  presenceSnapshot(channel) {
    const members = this.presenceMembers.get(channel) || new Map();
    const ids = [...members.keys()];
    const hash = {};
    for (const [userId, { userInfo }] of members) hash[userId] = userInfo;
    return { ids, hash, count: ids.length };
  }

  removeFromChannel(connection, channel) {
    if (!connection.channels.delete(channel)) return;
    const sockets = this.channels.get(channel);
    if (sockets) {
      sockets.delete(connection.socketId);
      if (sockets.size === 0) this.channels.delete(channel);
    }
    const userId = connection.presence && connection.presence.get(channel);
    if (userId === undefined) return;
    connection.presence.delete(channel);
    const members = this.presenceMembers.get(channel);
    const member = members && members.get(userId);
    if (!member) return;
    member.socketIds.delete(connection.socketId);
    if (member.socketIds.size === 0) {
      members.delete(userId);
      if (members.size === 0) this.presenceMembers.delete(channel);
      this.broadcast(channel, 'pusher_internal:member_removed', JSON.stringify({ user_id: userId }));
    }
  }

  handleClose(connection) {
    for (const channel of [...connection.channels]) {
      this.removeFromChannel(connection, channel);
    }
    this.connections.delete(connection.socketId);
  }

  handleSignin(connection, data) {
    const { auth, user_data: userData } = data;
    const record = {
      socketId: connection.socketId,
      auth,
      userData,
      accepted: false,
      error: null,
    };
    this.signins.push(record);

    const reject = (message) => {
      record.error = message;
      this.send(connection, {
        event: 'pusher:error',
        data: { code: ERROR_UNAUTHORIZED_CONNECTION, message },
      });
      connection.socket.close(ERROR_UNAUTHORIZED_CONNECTION, 'Unauthorized connection');
    };

    if (typeof userData !== 'string') {
      reject(`Invalid pusher:signin: user_data must be a JSON string, got ${JSON.stringify(userData)}`);
      return;
    }
    const error = this.checkAuth(auth, `${connection.socketId}::user::${userData}`);
    if (error) {
      reject(error);
      return;
    }
    let user;
    try {
      user = JSON.parse(userData);
    } catch {
      reject(`Invalid user_data: not JSON: ${userData}`);
      return;
    }
    if (user === null || typeof user !== 'object' || typeof user.id !== 'string' || user.id === '') {
      reject(`Invalid user_data: id must be a non-empty string: ${userData}`);
      return;
    }

    record.accepted = true;
    connection.user = user;
    this.send(connection, {
      event: 'pusher:signin_success',
      data: JSON.stringify({ user_data: userData }),
    });
  }

  /** Sends an event to every subscriber of a channel except excludeSocketId. */
  broadcast(channel, event, dataString, excludeSocketId) {
    const sockets = this.channels.get(channel);
    if (!sockets) return 0;
    let delivered = 0;
    for (const socketId of sockets) {
      if (socketId === excludeSocketId) continue;
      const connection = this.connections.get(socketId);
      if (!connection) continue;
      this.send(connection, { event, channel, data: dataString });
      delivered += 1;
    }
    return delivered;
  }

  /**
   * Publishes an event as the Pusher HTTP API would and returns how many
   * sockets it was sent to. The data object is JSON-encoded, and on
   * private-encrypted- channels it is also encrypted with the channel's
   * shared secret.
   */
  publish(channel, event, data, { excludeSocketId } = {}) {
    let dataString;
    if (channelKind(channel) === 'encrypted') {
      if (!this.masterKey) {
        throw new Error(`Cannot publish to ${channel}: no encryption master key configured`);
      }
      dataString = encryptEventData(channel, this.masterKey, data);
    } else {
      dataString = JSON.stringify(data);
    }
    return this.broadcast(channel, event, dataString, excludeSocketId);
  }

  /** Sends an event to a signed-in user's #server-to-user- channel. */
  sendToUser(userId, event, data) {
    return this.publish(`#server-to-user-${userId}`, event, data);
  }

  /** Diagnostic mark for describeSince (see withDiagnostics in service.js). */
  mark() {
    return this.frames.length;
  }

  /** Formats the WebSocket frames sent and received after a mark. */
  describeSince(mark) {
    const lines = this.frames
      .slice(mark)
      .map(({ direction, socketId, text }) => `${direction === 'sent' ? '<' : '>'} [${socketId}] ${text}`);
    return `fake Pusher server frames (${lines.length}; > from client, < to client):\n${lines.join('\n')}`;
  }

  /** Member ids currently present on a channel. */
  presenceMemberIds(channel) {
    return this.presenceSnapshot(channel).ids;
  }
}

module.exports = {
  FakePusherServer,
  channelSharedSecret,
  encryptEventData,
  hmacHex,
};
