'use strict';

// Mints HS256 session JWTs like the ones the service verifies.

const crypto = require('node:crypto');
const { SESSION_SECRET } = require('./app-config');

function base64url(value) {
  return Buffer.from(value).toString('base64url');
}

/**
 * Returns a signed compact JWT. `claims` is merged over the defaults
 * `iat` = now and `exp` = now + 300 s; pass `exp` to mint an expired token.
 */
function mintSessionToken(claims, { secret = SESSION_SECRET } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'HS256', typ: 'JWT' };
  const payload = { iat: now, exp: now + 300, ...claims };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const signature = crypto.createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

module.exports = { mintSessionToken };
