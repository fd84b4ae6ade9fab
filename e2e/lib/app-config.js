'use strict';

// Credentials and paths shared by the tests. The values are copied from
// e2e/config.yaml, which the service reads. Loading this module fails if a
// value no longer appears in that file.

const fs = require('node:fs');
const path = require('node:path');

const E2E_DIR = path.resolve(__dirname, '..');
const REPO_DIR = path.resolve(E2E_DIR, '..');
const CONFIG_PATH = path.join(E2E_DIR, 'config.yaml');

const APP = {
  appId: 'e2e',
  key: '278d425bdf160c739803',
  secret: '7ad3773142a6692b25b8',
  encryptionMasterKeyBase64: 'zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=',
};

// HS256 secret of the session issuer named "e2e".
const SESSION_SECRET = 'e2e-session-secret-0123456789abcdef';

const configText = fs.readFileSync(CONFIG_PATH, 'utf8');
for (const value of [APP.appId, APP.key, APP.secret, APP.encryptionMasterKeyBase64, SESSION_SECRET]) {
  if (!configText.includes(`"${value}"`)) {
    throw new Error(`${CONFIG_PATH} no longer contains "${value}". Update lib/app-config.js to match it`);
  }
}

module.exports = { APP, SESSION_SECRET, E2E_DIR, REPO_DIR, CONFIG_PATH };
