// Shared helpers of the realtime-js conformance scripts.
//
// A script runs @supabase/realtime-js against a walcast server and talks to
// the Go test that started it (conformance/conformance_test.go) in JSON
// lines:
//
//   script stdout  {"ready":"<step>"}   the Go test runs the SQL of <step> ...
//   script stdin   {"go":"<step>"}      ... and answers (with "error" if it failed)
//   script stdout  {"event":{...}}      every callback realtime-js made
//   script stdout  {"check":"<name>","ok":true|false,"got":...,"want":...}
//   script stdout  {"done":true,"failures":N}  last line; exit status 1 when N > 0
//
// Every WebSocket frame sent and received is traced to stderr, so a failing
// check can be read next to the frames that caused it.
//
// Environment: WALCAST_URL (endpoint without /websocket, e.g.
// ws://127.0.0.1:4000/realtime/v1), WALCAST_ANON_KEY (apikey JWT),
// WALCAST_JWT_SECRET (to sign other tokens), VSN (1.0.0 or 2.0.0),
// WALCAST_SCRIPT_TIMEOUT_MS (default 90000).

import { createHmac } from 'node:crypto'
import { createInterface } from 'node:readline'
import { isDeepStrictEqual } from 'node:util'
import { RealtimeClient, postgresChangesFilter } from '@supabase/realtime-js'
import WebSocket from 'ws'

export { postgresChangesFilter }

const started = Date.now()
export const startedAt = started

function need(name) {
  const v = process.env[name]
  if (!v) throw new Error(`environment variable ${name} is required`)
  return v
}

export const env = {
  url: need('WALCAST_URL'),
  anonKey: need('WALCAST_ANON_KEY'),
  jwtSecret: process.env.WALCAST_JWT_SECRET ?? '',
  vsn: process.env.VSN || '2.0.0',
}

// ---- output

export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

export function trace(msg) {
  process.stderr.write(`${String(Date.now() - started).padStart(6)}ms ${msg}\n`)
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---- WebSocket transport that records frames
//
// Node 20 has no global WebSocket, and realtime-js 2.119.0 only finds a
// native one (Node 22+), so every client gets the `ws` package through the
// `transport` option, wrapped to trace and record what crosses the wire.

export const frames = [] // {dir:'in'|'out', socket, topic, event, ref, join_ref, payload, keys, raw}
export const closes = [] // {socket, code, reason}
export const sockets = [] // every TracingWebSocket, in creation order
export let socketCount = 0

function decodeFrame(data, isBinary) {
  if (isBinary) {
    const b = Buffer.from(data)
    const f = { binary: true, kind: b[0], raw: b.toString('hex') }
    if (b[0] === 4 && b.length >= 5) {
      // 0x04 | len(topic) | len(event) | len(metadata) | encoding | topic | event | metadata | payload
      let o = 5
      const take = (n) => b.subarray(o, (o += n)).toString()
      Object.assign(f, { encoding: b[4], topic: take(b[1]), userEvent: take(b[2]), meta: take(b[3]), body: b.subarray(o).toString('hex') })
    } else if (b[0] === 3 && b.length >= 7) {
      // 0x03 | len(join_ref) | len(ref) | len(topic) | len(event) | len(metadata) | encoding | ...
      let o = 7
      const take = (n) => b.subarray(o, (o += n)).toString()
      Object.assign(f, { encoding: b[6], join_ref: take(b[1]), ref: take(b[2]), topic: take(b[3]), userEvent: take(b[4]), meta: take(b[5]) })
    }
    return f
  }
  const raw = data.toString()
  let v
  try {
    v = JSON.parse(raw)
  } catch {
    return { raw, malformed: 'not JSON' }
  }
  if (Array.isArray(v)) {
    const [join_ref, ref, topic, event, payload] = v
    return { raw, shape: 'array', join_ref, ref, topic, event, payload }
  }
  if (v && typeof v === 'object') {
    return { raw, shape: 'object', keys: Object.keys(v).sort(), ...v }
  }
  return { raw, malformed: 'neither array nor object' }
}

class TracingWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols)
    const socket = ++socketCount
    const vsn = new URL(url).searchParams.get('vsn') || '1.0.0'
    sockets.push(this)
    trace(`socket ${socket} connecting to ${url}`)
    this.on('open', () => trace(`socket ${socket} open`))
    this.on('message', (data, isBinary) => {
      const f = decodeFrame(data, isBinary)
      frames.push({ dir: 'in', socket, vsn, t: Date.now() - started, ...f })
      trace(`< ${isBinary ? 'binary ' + f.raw : f.raw}`)
    })
    this.on('close', (code, reason) => {
      closes.push({ socket, code, reason: reason.toString() })
      trace(`socket ${socket} closed: ${code} ${reason.toString()}`)
    })
    this.on('error', (err) => trace(`socket ${socket} error: ${err.message}`))
    this._socket_no = socket
    this._vsn = vsn
  }

  send(data, ...rest) {
    const isBinary = typeof data !== 'string'
    const f = decodeFrame(isBinary ? Buffer.from(data) : data, isBinary)
    frames.push({ dir: 'out', socket: this._socket_no, vsn: this._vsn, t: Date.now() - started, ...f })
    trace(`> ${isBinary ? 'binary ' + f.raw : f.raw}`)
    return super.send(data, ...rest)
  }
}

// ---- clients and channels

const clients = []

// connect returns a RealtimeClient on env.url (or opts.url) with the vsn
// under test (or opts.vsn); heartbeat results other than "sent" are
// recorded as events.
export function connect(opts = {}) {
  const client = new RealtimeClient(opts.url ?? env.url, {
    params: { apikey: opts.apikey ?? env.anonKey },
    vsn: opts.vsn ?? env.vsn,
    transport: TracingWebSocket,
    ...(opts.heartbeatIntervalMs ? { heartbeatIntervalMs: opts.heartbeatIntervalMs } : {}),
    heartbeatCallback: (status) => {
      if (status !== 'sent') record({ kind: 'heartbeat', status })
    },
    logger: (kind, msg, data) => {
      if (kind === 'push' || kind === 'receive') return // the frames are traced already
      let extra = ''
      if (data !== undefined) {
        try {
          extra = ' ' + (data instanceof Error ? data.message : JSON.stringify(data))
        } catch {
          extra = ' ' + String(data)
        }
      }
      trace(`[${kind}] ${msg}${extra.slice(0, 300)}`)
    },
  })
  clients.push(client)
  return client
}

// channel creates channel `name` with one postgres_changes listener per
// binding ({name, event='*', schema='public', table, filter}) and a system
// listener, subscribes it, and records every callback as an event.
export function channel(client, name, bindings, config) {
  const ch = client.channel(name, config ? { config } : undefined)
  for (const b of bindings) {
    const params = { event: b.event ?? '*', schema: b.schema ?? 'public' }
    if (b.table !== undefined) params.table = b.table
    if (b.filter !== undefined) params.filter = b.filter
    ch.on('postgres_changes', params, (p) =>
      record({
        kind: 'change',
        ch: name,
        b: b.name,
        eventType: p.eventType,
        schema: p.schema,
        table: p.table,
        commit_timestamp: p.commit_timestamp,
        errors: p.errors,
        new: p.new,
        old: p.old,
      })
    )
  }
  ch.on('system', {}, (p) => record({ kind: 'system', ch: name, payload: p }))
  ch.subscribe((status, err) => {
    const ev = { kind: 'status', ch: name, status }
    if (err) ev.err = err.message
    record(ev)
  })
  return ch
}

// ---- broadcast and presence rooms

// httpURL is the REST base next to the socket endpoint, e.g.
// http://127.0.0.1:4000/realtime/v1.
export const httpURL = env.url.replace(/^ws/i, 'http')

// shown makes a payload comparable and printable: an ArrayBuffer becomes
// {arrayBuffer: "<hex>"}.
export function shown(v) {
  if (v instanceof ArrayBuffer) return { arrayBuffer: Buffer.from(v).toString('hex') }
  return v
}

// room creates channel `name` on client as participant `who`, with a
// broadcast listener for every event, a system listener and, with presence
// set, listeners for sync, join and leave; it subscribes and records every
// callback (kind 'broadcast' / 'system' / 'presence' / 'status', with who
// and ch).
export function room(client, who, name, config = {}, { presence = false } = {}) {
  const ch = client.channel(name, { config })
  ch.on('broadcast', { event: '*' }, (p) => {
    const ev = { kind: 'broadcast', who, ch: name, type: p.type, event: p.event, payload: shown(p.payload) }
    if (p.meta !== undefined) ev.meta = p.meta
    record(ev)
  })
  if (presence) {
    for (const event of ['sync', 'join', 'leave']) {
      ch.on('presence', { event }, (p) => {
        const ev = { kind: 'presence', who, ch: name, event }
        if (event !== 'sync') Object.assign(ev, { key: p.key, current: p.currentPresences, changed: p.newPresences ?? p.leftPresences })
        record(ev)
      })
    }
  }
  ch.on('system', {}, (p) => record({ kind: 'system', who, ch: name, payload: p }))
  ch.subscribe((status, err) => {
    const ev = { kind: 'status', who, ch: name, status }
    if (err) ev.err = err.message
    record(ev)
  })
  return ch
}

// joinedAll waits until every participant in whos reported SUBSCRIBED on
// channel name, and records one check.
export async function joinedAll(name, whos, { from = 0, timeout = 15000 } = {}) {
  const hits = await Promise.all(
    whos.map((who) => waitFor((e) => e.kind === 'status' && e.who === who && e.ch === name && e.status === 'SUBSCRIBED', { from, timeout }))
  )
  const ok = hits.every(Boolean)
  check(`${name}: ${whos.join(', ')} subscribed`, ok, select((e) => e.kind === 'status' && e.ch === name, from))
  return ok
}

// socketOf returns the TracingWebSocket a client is connected through now.
export const socketOf = (client) => client.socketAdapter?.socket?.conn

// framesOf returns the frames received on client's current socket.
export function framesOf(client, pred = () => true) {
  const no = socketOf(client)?._socket_no
  return frames.filter((f) => f.dir === 'in' && f.socket === no && pred(f))
}

export const isBroadcast = (who, ch, event) => (e) =>
  e.kind === 'broadcast' && (!who || e.who === who) && (!ch || e.ch === ch) && (!event || e.event === event)
export const isPresence = (who, ch, event) => (e) =>
  e.kind === 'presence' && (!who || e.who === who) && (!ch || e.ch === ch) && (!event || e.event === event)

// ---- events

export const events = []
const waiters = new Set()

export function record(ev) {
  ev.t = Date.now() - started
  events.push(ev)
  emit({ event: ev })
  for (const w of waiters) w()
}

// waitFor resolves with the first `count` events (from index `from`) that
// satisfy pred, or with null after `timeout` ms.
export function waitFor(pred, { from = 0, count = 1, timeout = 10000 } = {}) {
  return new Promise((resolve) => {
    const test = () => {
      const hits = events.slice(from).filter(pred)
      if (hits.length >= count) {
        waiters.delete(test)
        clearTimeout(timer)
        resolve(hits.slice(0, count))
        return true
      }
      return false
    }
    const timer = setTimeout(() => {
      waiters.delete(test)
      resolve(null)
    }, timeout)
    if (!test()) waiters.add(test)
  })
}

export const select = (pred, from = 0) => events.slice(from).filter(pred)

export const isStatus = (ch, status) => (e) => e.kind === 'status' && e.ch === ch && e.status === status
export const isSystem = (ch, status) => (e) => e.kind === 'system' && e.ch === ch && (!status || e.payload?.status === status)
export const isSubscribedToPostgres = (ch) => (e) =>
  isSystem(ch, 'ok')(e) && e.payload?.message === 'Subscribed to PostgreSQL'
export const isChange = (ch, b) => (e) => e.kind === 'change' && (!ch || e.ch === ch) && (!b || e.b === b)

// subscribed waits until channel `ch` reported SUBSCRIBED and received the
// "Subscribed to PostgreSQL" system message (both after index `from`), and
// records a check for each.
export async function subscribed(ch, { from = 0, timeout = 15000 } = {}) {
  const [status, system] = await Promise.all([
    waitFor(isStatus(ch, 'SUBSCRIBED'), { from, timeout }),
    waitFor(isSubscribedToPostgres(ch), { from, timeout }),
  ])
  const others = select((e) => e.ch === ch && e.kind !== 'change', from)
  check(`${ch}: subscribe() reports SUBSCRIBED`, !!status, others, 'status SUBSCRIBED')
  check(`${ch}: system "Subscribed to PostgreSQL"`, !!system, others, {
    extension: 'postgres_changes',
    status: 'ok',
    message: 'Subscribed to PostgreSQL',
    channel: ch,
  })
  return !!status && !!system
}

// ---- checks

let failures = 0

export function check(name, ok, got, want) {
  if (!ok) failures++
  const line = { check: name, ok: !!ok }
  if (got !== undefined) line.got = got
  if (!ok && want !== undefined) line.want = want
  emit(line)
  return !!ok
}

// note records something worth knowing that is not a failure (for example
// keys the server adds that realtime-js ignores).
export function note(name, detail) {
  emit({ note: name, detail })
}

export function checkEqual(name, got, want) {
  return check(name, isDeepStrictEqual(got, want), got, want)
}

// knownDeviation is checkEqual for a documented, deliberate difference from
// Supabase (why says where it is documented): a match passes, a mismatch is
// recorded as a note starting with "DEVIATION" instead of failing the run.
export function knownDeviation(name, got, want, why) {
  if (isDeepStrictEqual(got, want)) return check(name, true, got)
  note(`DEVIATION ${name}`, { got, want, why })
  return false
}

// ---- steps driven by the Go test

const rl = createInterface({ input: process.stdin })
const replies = new Map() // step -> resolve
rl.on('line', (line) => {
  let msg
  try {
    msg = JSON.parse(line)
  } catch {
    trace(`unreadable line on stdin: ${line}`)
    return
  }
  const resolve = replies.get(msg.go)
  if (resolve) {
    replies.delete(msg.go)
    resolve(msg)
  }
})

// step asks the Go test to run step `name` (SQL, a server restart) and
// waits until it is done.
export async function step(name, timeout = 60000) {
  const reply = new Promise((resolve) => {
    replies.set(name, resolve)
    setTimeout(() => resolve({ go: name, error: `no answer within ${timeout}ms` }), timeout)
  })
  trace(`step ${name}`)
  emit({ ready: name })
  const msg = await reply
  if (msg.error) throw new Error(`step ${name}: ${msg.error}`)
}

// ---- tokens

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

// signJWT signs claims with HS256.
export function signJWT(claims, secret = env.jwtSecret) {
  if (!secret) throw new Error('WALCAST_JWT_SECRET is required to sign tokens')
  const head = b64url({ alg: 'HS256', typ: 'JWT' })
  const body = b64url(claims)
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')
  return `${head}.${body}.${sig}`
}

// ---- frame checks shared by every script

// checkFrames verifies that every server frame is in the shape of the
// serializer under test: text JSON objects with exactly topic, event,
// payload and ref for 1.0.0 (Phoenix's V1 serializer), text JSON arrays
// of five elements for 2.0.0, and no binary frames other than kind 4.
function checkFrames() {
  const bad = []
  for (const f of frames) {
    if (f.dir !== 'in') continue
    const vsn = f.vsn ?? env.vsn
    if (f.binary) {
      if (vsn !== '2.0.0' || f.kind !== 4) bad.push(f.raw.slice(0, 200))
    } else if (f.malformed) {
      bad.push(f.raw.slice(0, 200))
    } else if (vsn === '1.0.0') {
      if (f.shape !== 'object' || !isDeepStrictEqual(f.keys, ['event', 'payload', 'ref', 'topic'])) bad.push(f.raw.slice(0, 200))
    } else if (f.shape !== 'array' || JSON.parse(f.raw).length !== 5) {
      bad.push(f.raw.slice(0, 200))
    }
  }
  const want =
    env.vsn === '1.0.0'
      ? 'text frames holding {"topic","event","payload","ref"}'
      : 'text frames holding [join_ref, ref, topic, event, payload] (binary only kind 4)'
  check(`server frames use the vsn ${env.vsn} serializer`, bad.length === 0, bad.slice(0, 5), want)
}

// ---- main

export function main(fn) {
  const limit = Number(process.env.WALCAST_SCRIPT_TIMEOUT_MS || 90000)
  const timer = setTimeout(() => {
    check('script finishes in time', false, `still running after ${limit}ms`)
    finish()
  }, limit)
  process.on('unhandledRejection', (err) => {
    check('no unhandled rejection', false, String(err?.stack ?? err))
    finish()
  })
  process.on('uncaughtException', (err) => {
    check('no uncaught exception', false, String(err?.stack ?? err))
    finish()
  })
  Promise.resolve()
    .then(fn)
    .catch((err) => check('script runs to the end', false, String(err?.stack ?? err)))
    .finally(() => {
      clearTimeout(timer)
      finish()
    })
}

let finished = false

function finish() {
  if (finished) return
  finished = true
  checkFrames()
  emit({ done: true, failures })
  for (const c of clients) {
    try {
      c.disconnect()
    } catch {
      // exiting anyway
    }
  }
  rl.close()
  process.exit(failures > 0 ? 1 : 0)
}
