// Runs lua_resource/server/transport.js as FXServer does -- a script in one global
// context, loaded with vm.runInThisContext -- behind a shim for the FiveM globals.
//
//   node [--experimental-websocket] harness.js <transport.js>
//
// Environment: HARNESS_SETTINGS (JSON object: what server/main.lua hands the script at
// start in `sonoran_bridge:transportSettings`, right after the script loaded, as in a
// resource start), HARNESS_RANDOM (a fixed Math.random()), HARNESS_VERSION (the manifest's
// version). There is no GetConvar: the script reads no convar.
// Out (stdout, one JSON object a line, each with `t` in ms):
//   {ev:"log", line}            console.log of the script
//   {ev:"emit", name, args}     emit(...) of the script (JS -> Lua events)
//   {ev:"attempt", url}         a WebSocket was constructed
//   {ev:"timers", pending}      answer to {cmd:"timers"}: delays of pending setTimeouts
//   {ev:"error", message}       an uncaught error
// In (stdin, one JSON object a line):
//   {cmd:"trigger", name, args} call the script's on(name) handlers (Lua -> JS events)
//   {cmd:"timers"}
'use strict';

const fs = require('fs');
const vm = require('vm');
const readline = require('readline');

const started = Date.now();
const out = (obj) => process.stdout.write(`${JSON.stringify({ t: Date.now() - started, ...obj })}\n`);

const handlers = new Map();

globalThis.on = (name, fn) => {
  if (!handlers.has(name)) handlers.set(name, []);
  handlers.get(name).push(fn);
};
globalThis.emit = (name, ...args) => {
  out({ ev: 'emit', name, args });
  for (const fn of handlers.get(name) || []) fn(...args);
};
globalThis.GetCurrentResourceName = () => 'sonoran_bridge';
globalThis.GetResourceMetadata = (resource, key) =>
  key === 'version' ? process.env.HARNESS_VERSION || '0.0.0' : null;

console.log = (...parts) => out({ ev: 'log', line: parts.join(' ') });

if (process.env.HARNESS_RANDOM) {
  const fixed = Number(process.env.HARNESS_RANDOM);
  Math.random = () => fixed;
}

// Count connection attempts.
const RealWebSocket = globalThis.WebSocket;
if (typeof RealWebSocket === 'function') {
  globalThis.WebSocket = class extends RealWebSocket {
    constructor(url, ...rest) {
      out({ ev: 'attempt', url: String(url) });
      super(url, ...rest);
    }
  };
}

// Keep track of the script's pending timeouts (not Node's own: undici uses timers
// too), so a test can see how many retries are scheduled.
const script = process.argv[2];
const pending = new Map();
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
globalThis.setTimeout = (fn, ms, ...args) => {
  const handle = realSetTimeout(() => {
    pending.delete(handle);
    fn(...args);
  }, ms);
  if (String(new Error().stack).includes(script)) pending.set(handle, ms);
  return handle;
};
globalThis.clearTimeout = (handle) => {
  pending.delete(handle);
  realClearTimeout(handle);
};

process.on('uncaughtException', (err) => out({ ev: 'error', message: String(err && err.stack) }));

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line);
  if (msg.cmd === 'trigger') {
    for (const fn of handlers.get(msg.name) || []) fn(...(msg.args || []));
  } else if (msg.cmd === 'timers') {
    out({ ev: 'timers', pending: [...pending.values()] });
  }
});

vm.runInThisContext(fs.readFileSync(script, 'utf8'), { filename: script });
if (process.env.HARNESS_SETTINGS) {
  const settings = JSON.parse(process.env.HARNESS_SETTINGS);
  for (const fn of handlers.get('sonoran_bridge:transportSettings') || []) fn(settings);
}
out({ ev: 'loaded' });
