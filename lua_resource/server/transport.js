// sonoran_bridge transport: owns the websocket to the sonoran-bridge daemon.
//
// FXServer runs this file as a plain script in the resource's JS context, not as
// a CommonJS module: it uses FiveM's globals (on, emit, GetCurrentResourceName,
// GetResourceMetadata) and Node 22's global WebSocket. It reads no convar: Lua
// reads them all (shared/settings.lua) and server/main.lua hands this file its
// share at start, in `<res>:transportSettings`.
//
// Lua decides what to send; this file only moves frames. While the link is down
// nothing is queued: frames from Lua are dropped, and after every (re)connect
// Lua answers `<resource>:linkUp` with a `sync` of its whole tracked set.
//
// Events, all prefixed with the resource name:
//   Lua -> JS  <res>:transportSettings (settings, once at start), <res>:send (jsonText)
//   JS -> Lua  <res>:linkUp (daemonVersion), <res>:linkDown (reason),
//              <res>:daemonMessage (jsonText of a call_state)
'use strict';

(() => {
  const RESOURCE = GetCurrentResourceName();
  const PROTOCOL = 1;
  const MAX_FRAME_BYTES = 64 * 1024;
  const MAX_BUFFERED_BYTES = 1024 * 1024;
  const KEEPALIVE_FRAME = '{"type":"positions","items":[]}';

  const log = (line) => console.log(`[${RESOURCE}] ${line}`);

  // The link's settings as shared/settings.lua read them; problems are printed
  // together and keep the link idle.
  function readConfig(given) {
    const settings = given !== null && typeof given === 'object' ? given : {};
    const integer = (value, fallback) => (Number.isSafeInteger(value) ? value : fallback);
    const url = typeof settings.url === 'string' && settings.url !== '' ? settings.url : 'ws://127.0.0.1:30125';
    const problems = [];
    let parsed = null;
    try {
      parsed = new URL(url);
    } catch (err) {
      parsed = null;
    }
    if (parsed === null || (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')) {
      problems.push(`sonoran_bridge_url: expected ws://host:port or wss://host:port, got "${url}"`);
    }
    for (const problem of Array.isArray(settings.problems) ? settings.problems : []) {
      problems.push(String(problem));
    }
    const token = typeof settings.token === 'string' ? settings.token : '';
    if (token === '' && !problems.some((problem) => problem.startsWith('sonoran_bridge_token'))) {
      problems.push('sonoran_bridge_token is not set (server.cfg: set sonoran_bridge_token "...")');
    }
    const backoffMinMs = integer(settings.backoff_min_ms, 500);
    return {
      problems,
      url,
      token,
      serverId: integer(settings.server_id, 1),
      backoffMinMs,
      backoffMaxMs: Math.max(backoffMinMs, integer(settings.backoff_max_ms, 30000)),
      connectTimeoutMs: integer(settings.connect_timeout_ms, 10000),
      keepaliveMs: integer(settings.keepalive_ms, 30000),
      tls: parsed !== null && parsed.protocol === 'wss:',
      host: parsed === null ? '' : parsed.hostname.replace(/^\[|\]$/g, ''),
    };
  }

  // Whether a plain ws:// link to `host` may leave this machine's networks: any name with a
  // dot, or an address outside loopback, private, link-local and shared (CGNAT) ranges. A
  // single-label name (a container's service name) and `localhost` stay local.
  function mayCrossTheInternet(host) {
    const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
    if (v4) {
      const [a, b] = [Number(v4[1]), Number(v4[2])];
      const local = a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) ||
        (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
      return !local;
    }
    if (host.includes(':')) {
      const h = host.toLowerCase();
      return !(h === '::1' || /^f[cd]/.test(h) || /^fe[89ab]/.test(h));
    }
    return host.includes('.') && host.toLowerCase() !== 'localhost';
  }

  let cfg = null; // the link's settings, once Lua handed them over
  let hello = null; // the first frame of every connection
  let ws = null; // the socket of the current attempt; null between attempts
  let up = false; // welcomed by the daemon
  let failures = 0; // consecutive failed attempts since the last welcome
  let retryTimer = null;
  let attemptTimer = null; // connect + welcome timeout of the current attempt
  let keepaliveTimer = null;
  let lastSentAt = 0;
  let stopped = false;

  // The delay before the next attempt: doubling from the minimum to the cap,
  // with +-25 % jitter so many servers do not reconnect in step.
  function nextDelay(failed) {
    const base = Math.min(cfg.backoffMaxMs, cfg.backoffMinMs * 2 ** Math.min(failed, 30));
    return Math.round(Math.min(cfg.backoffMaxMs, base * (0.75 + Math.random() * 0.5)));
  }

  function emitLua(name, ...args) {
    // Never call into Lua from inside a socket callback.
    setImmediate(() => emit(`${RESOURCE}:${name}`, ...args));
  }

  function transmit(sock, text) {
    sock.send(text);
    lastSentAt = Date.now();
  }

  function scheduleRetry(reason, wasUp) {
    if (stopped || retryTimer !== null) return;
    const delay = nextDelay(failures);
    failures += 1;
    // Enough to see what is wrong without a line every 30 s for hours.
    if (wasUp || failures <= 3 || failures % 10 === 0) {
      const what = wasUp ? 'link down' : `connect failed (attempt ${failures})`;
      const wait = delay < 1000 ? `${delay} ms` : `${(delay / 1000).toFixed(1)} s`;
      log(`${what}: ${reason}; retry in ${wait}`);
      if (!wasUp && failures === 1 && cfg.tls) {
        // Node says no more than "network error" when it does not trust the certificate.
        log(`with wss://, check that the daemon's certificate is valid for ${cfg.host} and ` +
          'signed by a public CA (or one named by NODE_EXTRA_CA_CERTS in the server\'s environment)');
      }
    }
    retryTimer = setTimeout(connect, delay);
  }

  // The end of an attempt, whatever ended it. A failed attempt may fire `error`
  // alone, or `error` then `close`, or hit the timeout: only the first counts.
  function fail(sock, reason) {
    if (sock !== ws) return; // an older socket, or this attempt already ended
    ws = null;
    clearTimeout(attemptTimer);
    attemptTimer = null;
    clearInterval(keepaliveTimer);
    keepaliveTimer = null;
    try {
      sock.close();
    } catch (err) {
      // already closing: nothing to release
    }
    const wasUp = up;
    up = false;
    if (wasUp) emitLua('linkDown', reason);
    scheduleRetry(reason, wasUp);
  }

  function onWelcome(sock, msg) {
    if (msg.protocol !== PROTOCOL) {
      log(`daemon speaks protocol ${msg.protocol}, this resource ${PROTOCOL}: update one of them`);
      fail(sock, 'unsupported protocol');
      return;
    }
    clearTimeout(attemptTimer);
    attemptTimer = null;
    up = true;
    failures = 0;
    log(`link up: daemon ${msg.daemon_version} at ${cfg.url}, server id ${cfg.serverId}`);
    keepaliveTimer = setInterval(() => {
      // The daemon drops connections that stay silent; an empty batch says "still here".
      if (up && ws === sock && Date.now() - lastSentAt >= cfg.keepaliveMs) transmit(sock, KEEPALIVE_FRAME);
    }, Math.max(50, Math.floor(cfg.keepaliveMs / 3)));
    emitLua('linkUp', String(msg.daemon_version));
  }

  function receive(sock, data) {
    if (typeof data !== 'string') {
      log('ignored a binary frame from the daemon');
      return;
    }
    let msg = null;
    try {
      msg = JSON.parse(data);
    } catch (err) {
      msg = null;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      log('ignored a daemon frame that is not a JSON object');
      return;
    }
    switch (msg.type) {
      case 'welcome':
        if (!up) onWelcome(sock, msg);
        break;
      case 'error':
        log(`daemon error ${msg.code}: ${String(msg.message).slice(0, 300)}`);
        break;
      case 'call_state':
        emitLua('daemonMessage', data);
        break;
      default:
        log(`ignored a daemon message of type ${String(msg.type).slice(0, 40)}`);
    }
  }

  function connect() {
    retryTimer = null;
    if (stopped) return;
    let sock;
    try {
      sock = new WebSocket(cfg.url);
    } catch (err) {
      scheduleRetry(`cannot open ${cfg.url}: ${err.message}`, false);
      return;
    }
    ws = sock;
    let opened = false;
    attemptTimer = setTimeout(() => {
      const seconds = (cfg.connectTimeoutMs / 1000).toFixed(1);
      fail(sock, opened ? `no welcome within ${seconds} s` : `connect timeout after ${seconds} s`);
    }, cfg.connectTimeoutMs);
    sock.addEventListener('open', () => {
      if (sock !== ws) return;
      opened = true;
      transmit(sock, hello);
    });
    sock.addEventListener('message', (event) => {
      if (sock === ws) receive(sock, event.data);
    });
    sock.addEventListener('error', (event) => {
      const detail = (event && (event.message || (event.error && event.error.message))) || 'socket error';
      fail(sock, detail);
    });
    sock.addEventListener('close', (event) => {
      fail(sock, `closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`);
    });
  }

  on(`${RESOURCE}:send`, (text) => {
    if (!up || ws === null || typeof text !== 'string') return; // down: dropped, not queued
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > MAX_FRAME_BYTES) {
      log(`not sent: a ${bytes}-byte frame exceeds the daemon's 64 KiB limit`);
      return;
    }
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      // The daemon is not reading: start over rather than buffer without bound.
      fail(ws, 'send backlog over 1 MiB');
      return;
    }
    transmit(ws, text);
  });

  on('onResourceStop', (name) => {
    if (name !== RESOURCE) return;
    stopped = true;
    clearTimeout(retryTimer);
    clearTimeout(attemptTimer);
    clearInterval(keepaliveTimer);
    const sock = ws;
    ws = null;
    up = false;
    if (sock !== null) {
      try {
        sock.close(1000, 'resource stopping');
      } catch (err) {
        // never opened: nothing to close
      }
    }
  });

  // Once, from server/main.lua at start (a later copy, from anywhere, is ignored).
  on(`${RESOURCE}:transportSettings`, (given) => {
    if (cfg !== null) return;
    cfg = readConfig(given);
    if (cfg.problems.length > 0) {
      for (const problem of cfg.problems) log(problem);
      log('link idle: fix the convars above and restart the resource');
      return;
    }
    if (typeof WebSocket !== 'function') {
      log("no global WebSocket: this resource needs node_version '22' (FXServer 12913 or later)");
      return;
    }
    if (!cfg.tls && mayCrossTheInternet(cfg.host)) {
      log(`WARNING: ${cfg.url} is plain ws://: the token and every position cross the network in clear; ` +
        'over the internet use wss:// (the daemon with a certificate: docs/operations.md)');
    }
    const version = String(GetResourceMetadata(RESOURCE, 'version', 0) || '0.0.0').slice(0, 64);
    hello = JSON.stringify({
      type: 'hello',
      protocol: PROTOCOL,
      token: cfg.token,
      server_id: cfg.serverId,
      resource_version: version,
    });
    log(`connecting to ${cfg.url} as server id ${cfg.serverId}`);
    connect();
  });
})();
