// Broadcast between realtime-js clients: self false and true, ack, binary
// payloads, a socket of the other serializer in the same room, httpSend,
// the REST batch endpoint (from realtime-js's send() fallback and from
// fetch), and realtime.send from SQL in committed and rolled-back
// transactions (step "db").
import {
  main, connect, room, joinedAll, step, waitFor, select, check, checkEqual, note, sleep,
  isBroadcast, framesOf, socketOf, httpURL, env, events, frames,
} from './lib.mjs'

const other = env.vsn === '2.0.0' ? '1.0.0' : '2.0.0'
const settle = 500 // ms to wait for messages that must not arrive
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

main(async () => {
  const A = connect()
  const B = connect()
  const C = connect()
  const X = connect({ vsn: other }) // the other serializer, same room
  const clients = { A, B, C, X }
  const chat = {}
  for (const [who, c] of Object.entries(clients)) chat[who] = room(c, who, 'chat', { broadcast: { self: false } })
  const echo = { A: room(A, 'A', 'echo', { broadcast: { self: true } }), B: room(B, 'B', 'echo') }
  const acked = { A: room(A, 'A', 'acked', { broadcast: { ack: true } }), B: room(B, 'B', 'acked') }
  const ok = await Promise.all([joinedAll('chat', ['A', 'B', 'C', 'X']), joinedAll('echo', ['A', 'B']), joinedAll('acked', ['A', 'B'])])
  if (!ok.every(Boolean)) return

  // received runs action, waits until each of want got event on channel
  // ch, lets late or extra messages arrive, and returns by participant
  // what each got.
  const received = async (ch, event, want, action) => {
    const from = events.length
    const result = await action()
    await Promise.all(want.map((who) => waitFor(isBroadcast(who, ch, event), { from, timeout: 5000 })))
    await sleep(settle)
    const got = {}
    for (const e of select(isBroadcast(null, ch, event), from)) (got[e.who] ??= []).push(e)
    return { result, got }
  }
  const payloads = (got, who) => (got[who] ?? []).map((e) => e.payload)
  const everyone = ['A', 'B', 'C', 'X']

  // -- self: false (the default): everyone but the sender, once.
  {
    const payload = { n: 1, text: 'héllo', nested: { a: [1, 2] } }
    const { result, got } = await received('chat', 'msg', ['B', 'C', 'X'], () => chat.A.send({ type: 'broadcast', event: 'msg', payload }))
    checkEqual('send() without ack resolves ok', result, 'ok')
    for (const who of ['B', 'C', 'X']) checkEqual(`self:false: ${who} gets the message once`, payloads(got, who), [payload])
    checkEqual('self:false: the sender does not get its own message', payloads(got, 'A'), [])
    const e = got.B?.[0]
    checkEqual('callback payload is {type:"broadcast", event, payload}', e && { type: e.type, event: e.event, meta: e.meta }, { type: 'broadcast', event: 'msg', meta: undefined })
    checkFormats('msg', 'chat')
  }

  // -- the other serializer sends; the room hears it.
  {
    const { got } = await received('chat', 'from-other', ['A', 'B', 'C'], () => chat.X.send({ type: 'broadcast', event: 'from-other', payload: { n: 2 } }))
    for (const who of ['A', 'B', 'C']) checkEqual(`vsn ${other} sender: ${who} gets the message`, payloads(got, who), [{ n: 2 }])
  }

  // -- self: true: the sender gets its own message too.
  {
    const { result, got } = await received('echo', 'ping', ['A', 'B'], () => echo.A.send({ type: 'broadcast', event: 'ping', payload: { n: 3 } }))
    checkEqual('self:true: send() resolves ok', result, 'ok')
    checkEqual('self:true: the sender gets its own message once', payloads(got, 'A'), [{ n: 3 }])
    checkEqual('self:true: the other member gets it once', payloads(got, 'B'), [{ n: 3 }])
  }

  // -- ack: true: send() resolves on the server's reply to the push.
  {
    const t0 = Date.now()
    const { result, got } = await received('acked', 'acked-msg', ['B'], () => acked.A.send({ type: 'broadcast', event: 'acked-msg', payload: { n: 4 } }))
    checkEqual('ack:true: send() resolves ok', result, 'ok')
    check('ack:true: resolved by a reply, not a timeout', Date.now() - t0 < 5000, Date.now() - t0)
    checkEqual('ack:true: the other member gets it once', payloads(got, 'B'), [{ n: 4 }])
    const push = framesOfSent(A, (f) => f.topic === 'realtime:acked' && (f.event === 'broadcast' || f.userEvent === 'acked-msg')).at(-1)
    const reply = framesOf(A, (f) => f.event === 'phx_reply' && f.topic === 'realtime:acked' && f.ref === push?.ref)
    checkEqual('ack:true: phx_reply {status:ok, response:{}} to the push ref', reply.map((f) => f.payload), [{ status: 'ok', response: {} }])

    // Over the payload limit (3,000 KB by default): an error reply, nothing sent.
    const big = { blob: 'x'.repeat(3_100_000) }
    const over = await received('acked', 'too-big', [], () => acked.A.send({ type: 'broadcast', event: 'too-big', payload: big }))
    checkEqual('ack:true: a payload over the limit resolves error', over.result, 'error')
    checkEqual('ack:true: a payload over the limit is not broadcast', Object.keys(over.got), [])
    const overReply = framesOf(A, (f) => f.event === 'phx_reply' && f.topic === 'realtime:acked' && f.payload?.status === 'error')
    checkEqual('ack:true: the error reply says payload_size_exceeded', overReply.map((f) => f.payload.response), ['payload_size_exceeded'])
  }

  // -- without ack, a payload over the limit is dropped silently.
  {
    const big = { blob: 'x'.repeat(3_100_000) }
    const over = await received('chat', 'too-big', [], () => chat.A.send({ type: 'broadcast', event: 'too-big', payload: big }))
    checkEqual('no ack: a payload over the limit resolves ok (nothing to wait for)', over.result, 'ok')
    checkEqual('no ack: a payload over the limit is not broadcast', Object.keys(over.got), [])
    const after = await received('chat', 'after-big', ['B'], () => chat.A.send({ type: 'broadcast', event: 'after-big', payload: { n: 0 } }))
    checkEqual('no ack: the channel still works after it', payloads(after.got, 'B'), [{ n: 0 }])
  }

  // -- binary payloads.
  {
    const bytes = new Uint8Array([1, 2, 3, 0, 255])
    const { got } = await received('chat', 'bin', env.vsn === '2.0.0' ? ['B', 'C'] : ['B', 'C', 'X'], () =>
      chat.A.send({ type: 'broadcast', event: 'bin', payload: bytes.buffer })
    )
    if (env.vsn === '2.0.0') {
      for (const who of ['B', 'C']) checkEqual(`binary: ${who} gets an ArrayBuffer with the same bytes`, payloads(got, who), [{ arrayBuffer: '01020300ff' }])
      checkEqual('binary: the vsn 1.0.0 socket gets nothing (bytes have no JSON form)', payloads(got, 'X'), [])
      const f = framesOf(B, (f) => f.binary && f.userEvent === 'bin')
      checkEqual('binary: delivered as kind 4 with payload encoding 0', f.map((f) => [f.kind, f.encoding, f.topic, f.body]), [[4, 0, 'realtime:chat', '01020300ff']])
    } else {
      // realtime-js 1.0.0 JSON-encodes the message: an ArrayBuffer becomes {}.
      for (const who of ['B', 'C', 'X']) checkEqual(`binary on vsn 1.0.0: ${who} gets {} (realtime-js serializes the ArrayBuffer as {})`, payloads(got, who), [{}])
      note('binary on vsn 1.0.0', 'realtime-js JSON.stringify()s the message, so an ArrayBuffer payload is sent (and received) as {}')
    }
  }

  // -- httpSend: POST /api/broadcast/<topic>/events/<event>; everyone in the
  // room receives it (there is no sending channel to leave out).
  {
    const { result, got } = await received('chat', 'http', everyone, () => chat.A.httpSend('http', { n: 5 }))
    checkEqual('httpSend resolves {success:true}', result, { success: true })
    for (const who of everyone) checkEqual(`httpSend: ${who} gets the message once`, payloads(got, who), [{ n: 5 }])
    const v2 = env.vsn === '2.0.0' ? B : X
    checkEqual('httpSend: vsn 2.0.0 sockets get binary kind 4, JSON encoding', framesOf(v2, (f) => f.userEvent === 'http').map((f) => [f.kind, f.encoding]), [[4, 1]])

    const bin = await received('chat', 'http-bin', env.vsn === '2.0.0' ? ['A', 'B', 'C'] : ['X'], () => chat.A.httpSend('http-bin', new Uint8Array([9, 8, 7]).buffer))
    checkEqual('httpSend with bytes resolves {success:true}', bin.result, { success: true })
    const v1s = env.vsn === '2.0.0' ? ['X'] : ['A', 'B', 'C']
    const v2s = env.vsn === '2.0.0' ? ['A', 'B', 'C'] : ['X']
    for (const who of v2s) checkEqual(`httpSend bytes: ${who} (vsn 2.0.0) gets an ArrayBuffer`, payloads(bin.got, who), [{ arrayBuffer: '090807' }])
    for (const who of v1s) checkEqual(`httpSend bytes: ${who} (vsn 1.0.0) gets nothing`, payloads(bin.got, who), [])
  }

  // -- send() on a channel that never joined falls back to the batch
  // endpoint POST /api/broadcast.
  {
    const D = connect()
    const loose = D.channel('chat')
    const { result, got } = await received('chat', 'fallback', everyone, () => loose.send({ type: 'broadcast', event: 'fallback', payload: { n: 6 } }))
    checkEqual('send() before joining (REST fallback) resolves ok', result, 'ok')
    for (const who of everyone) checkEqual(`REST fallback: ${who} gets the message once`, payloads(got, who), [{ n: 6 }])
    D.removeChannel(loose)
  }

  // -- the batch endpoint by hand: both paths, meta.id, errors.
  {
    const id = '3f1c1c3e-8a4b-4c56-9b7e-2f0d9c1a7e55'
    const body = { messages: [{ topic: 'chat', event: 'batch', payload: { n: 7 } }, { topic: 'chat', event: 'batch', payload: { n: 8 }, id }] }
    const { result, got } = await received('chat', 'batch', everyone, () => post('/api/broadcast', body))
    checkEqual('POST /realtime/v1/api/broadcast: 202 with an empty body', result, { status: 202, body: '' })
    for (const who of everyone) {
      checkEqual(`batch: ${who} gets both messages in order`, payloads(got, who), [{ n: 7 }, { n: 8 }])
      checkEqual(`batch: ${who} sees the message id as meta.id`, (got[who] ?? []).map((e) => e.meta), [undefined, { id }])
    }
    const bare = await received('chat', 'bare', ['B'], () => post('/api/broadcast', { messages: [{ topic: 'chat', event: 'bare', payload: { n: 9 } }] }, { root: true }))
    checkEqual('POST /api/broadcast (no /realtime/v1 prefix): 202', bare.result.status, 202)
    checkEqual('POST /api/broadcast: B gets it', payloads(bare.got, 'B'), [{ n: 9 }])

    const noAuth = await post('/api/broadcast', body, { auth: false })
    checkEqual('batch without a key: 401 {"message":"Unauthorized"}', noAuth, { status: 401, body: '{"message":"Unauthorized"}' })
    const notObject = await post('/api/broadcast', { messages: [{ topic: 'chat', event: 'bad', payload: 'text' }] })
    check('batch with a non-object payload: 422 {"errors":…}', notObject.status === 422 && /"errors"/.test(notObject.body), notObject)
    const media = await post('/api/broadcast/chat/events/typed', 'x', { type: 'text/plain' })
    checkEqual('single endpoint with text/plain: 415', media, {
      status: 415,
      body: '{"error":"Unsupported Media Type. Use application/json or application/octet-stream"}',
    })
  }

  // -- realtime.send from SQL: committed arrives, rolled back does not,
  // private does not reach a public channel.
  {
    const from = events.length
    await received('chat', 'committed', everyone, () => step('db'))
    const got = {}
    for (const e of select(isBroadcast(null, 'chat'), from)) (got[e.who] ??= []).push(e)
    for (const who of everyone) {
      const mine = got[who] ?? []
      const events = mine.map((e) => e.event)
      checkEqual(`realtime.send: ${who} gets the committed message once`, events.filter((e) => e === 'committed'), ['committed'])
      checkEqual(`realtime.send: ${who} gets nothing of the rolled-back transaction`, events.filter((e) => e === 'rolled-back'), [])
      checkEqual(`realtime.send: ${who} (public channel) does not get private => true`, events.filter((e) => e === 'private-explicit'), [])
      if (who === 'A') {
        checkEqual('realtime.send: a public channel does not get a send without the private argument (it defaults to true)',
          events.filter((e) => e === 'private-default'), [])
      }
      const e = mine.find((e) => e.event === 'committed')
      checkEqual(`realtime.send: ${who} gets {type, event, payload, meta}`, e && { type: e.type, n: e.payload?.n, meta: typeof e.meta?.id }, { type: 'broadcast', n: 1, meta: 'string' })
      if (who === 'A' && e) {
        checkEqual('realtime.send: meta.id is the message UUID and the payload gets it as "id"',
          { payloadId: uuid.test(e.payload?.id ?? ''), metaId: uuid.test(e.meta?.id ?? ''), same: e.payload?.id === e.meta?.id },
          { payloadId: true, metaId: true, same: true })
      }
    }
  }
})

// framesOfSent returns the frames client sent on its current socket.
function framesOfSent(client, pred) {
  const no = socketOf(client)?._socket_no
  return frames.filter((f) => f.dir === 'out' && f.socket === no && pred(f))
}

// checkFormats checks how message `event` (payload as sent by A) reached
// each serializer: text in stays text; a vsn 2.0.0 kind-3 push reaches vsn
// 2.0.0 sockets as kind 4 and vsn 1.0.0 sockets as JSON text.
function checkFormats(event, ch) {
  const topic = `realtime:${ch}`
  for (const f of frames.filter((f) => f.dir === 'in' && (f.userEvent === event || f.payload?.event === event))) {
    if (f.vsn === '1.0.0') {
      check(`${event}: vsn 1.0.0 socket gets a text broadcast`, !f.binary && f.topic === topic && f.event === 'broadcast' && f.ref === null && f.payload?.type === 'broadcast', f.raw)
    } else if (env.vsn === '2.0.0') {
      check(`${event}: vsn 2.0.0 socket gets binary kind 4 (JSON encoding, no metadata)`, f.binary && f.kind === 4 && f.encoding === 1 && f.topic === topic && f.meta === '', f.raw)
    } else {
      check(`${event}: vsn 2.0.0 socket gets the text broadcast as sent`, !f.binary && f.topic === topic && f.join_ref === null && f.ref === null && f.payload?.type === 'broadcast', f.raw)
    }
  }
}

// post sends a JSON (or other) body to the REST API under httpURL (or the
// server root) and returns {status, body}.
async function post(path, body, { auth = true, root = false, type = 'application/json' } = {}) {
  const base = root ? httpURL.replace(/\/realtime\/v1$/, '') : httpURL
  const headers = { 'Content-Type': type }
  if (auth) Object.assign(headers, { apikey: env.anonKey, Authorization: `Bearer ${env.anonKey}` })
  const res = await fetch(base + path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })
  return { status: res.status, body: await res.text() }
}
