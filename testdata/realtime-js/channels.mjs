// Three channels on one socket (one on a whole schema: no table) each get
// their own changes; after one is removed, the others keep receiving;
// heartbeats (every second here instead of 25 s) are answered. Runs against
// /socket/websocket.
import {
  main, connect, channel, subscribed, step, waitFor, select, check, checkEqual, sleep,
  isChange, isStatus, frames, events, socketCount,
} from './lib.mjs'

main(async () => {
  const client = connect({ heartbeatIntervalMs: 1000 })
  const one = channel(client, 'one', [{ name: 'items', table: 'items' }])
  channel(client, 'two', [
    { name: 'ins', event: 'INSERT', table: 'items' },
    { name: 'others', table: 'others' },
  ])
  channel(client, 'schema', [{ name: 'public', schema: 'public' }])
  const ok = await Promise.all([subscribed('one'), subscribed('two'), subscribed('schema')])
  if (!ok.every(Boolean)) return

  const run = async (name, pred, n) => {
    const from = events.length
    await step(name)
    check(`${name}: ${n} callback(s)`, !!(await waitFor(pred, { from, count: n })), select(isChange(), from))
    await sleep(500)
    return select(isChange(), from).map((e) => `${e.ch}.${e.b}:${e.eventType}:${e.new?.id ?? e.old?.id}`).sort()
  }

  checkEqual('insert-items: every channel', await run('insert-items', isChange(), 3), ['one.items:INSERT:10', 'schema.public:INSERT:10', 'two.ins:INSERT:10'])
  checkEqual('insert-others: channels two and schema', await run('insert-others', isChange(), 2), ['schema.public:INSERT:20', 'two.others:INSERT:20'])
  checkEqual('one socket for all channels', socketCount, 1)
  const topics = frames.filter((f) => f.dir === 'in' && f.event === 'postgres_changes').map((f) => f.topic).sort()
  checkEqual('postgres_changes messages carry their channel topic', topics, ['realtime:one', 'realtime:schema', 'realtime:schema', 'realtime:two', 'realtime:two'])

  const from = events.length
  const status = await client.removeChannel(one)
  checkEqual('removeChannel(one) resolves ok', status, 'ok')
  check('channel one reports CLOSED', !!(await waitFor(isStatus('one', 'CLOSED'), { from })), select((e) => e.ch === 'one', from))
  checkEqual('after leaving one: channels two and schema', await run('insert-items-2', isChange(), 2), ['schema.public:INSERT:11', 'two.ins:INSERT:11'])
  checkEqual('channels two and schema still joined', client.getChannels().map((c) => [c.topic, c.state]), [['realtime:two', 'joined'], ['realtime:schema', 'joined']])

  const beats = await waitFor((e) => e.kind === 'heartbeat' && e.status === 'ok', { count: 2, timeout: 5000 })
  check('heartbeats are answered', !!beats, select((e) => e.kind === 'heartbeat'))
  checkEqual('no heartbeat timeout or error', select((e) => e.kind === 'heartbeat' && e.status !== 'ok'), [])
  const replies = frames.filter((f) => f.dir === 'in' && f.topic === 'phoenix')
  const sent = new Set(frames.filter((f) => f.dir === 'out' && f.event === 'heartbeat').map((f) => f.ref))
  check(
    'heartbeat replies: phx_reply {status:ok, response:{}} on topic phoenix with the heartbeat ref',
    replies.length > 0 && replies.every((f) => f.event === 'phx_reply' && sent.has(f.ref) && (f.join_ref ?? null) === null && JSON.stringify(f.payload) === '{"status":"ok","response":{}}'),
    replies.map((f) => f.raw)
  )
})
