// Presence between realtime-js clients: the state pushed after join, track
// (join seen by everyone, the tracker included), a server-generated key,
// an update of a tracked state (one diff: joins with phx_ref_prev, leaves),
// a repeated identical track (no diff), two metas under one key, untrack,
// a client that disconnects and one whose socket dies without untracking
// (leave seen by the others), and the state pushed again on rejoin.
import {
  main, connect, room, joinedAll, waitFor, select, check, checkEqual, sleep,
  isPresence, framesOf, socketOf, events,
} from './lib.mjs'

const settle = 500 // ms to wait for events that must not arrive
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

main(async () => {
  const clients = { A: connect(), B: connect(), C: connect(), D: connect() }
  const keys = { A: 'alice', B: 'bob', D: 'dave' } // C: none, the server picks one
  const lobby = {}
  for (const [who, c] of Object.entries(clients)) {
    lobby[who] = room(c, who, 'lobby', { presence: { key: keys[who] ?? '' } }, { presence: true })
  }
  if (!(await joinedAll('lobby', Object.keys(lobby)))) return

  // -- after the join: the join reply, then presence_state (empty), then sync.
  // The state is pushed after the reply, not with it: wait for every sync
  // (realtime-js syncs on presence_state) before reading the frames.
  check('every member synced', !!(await waitFor(isPresence(null, 'lobby', 'sync'), { count: 4, timeout: 10000 })), select(isPresence()))
  for (const who of Object.keys(lobby)) {
    const fs = framesOf(clients[who], (f) => f.topic === 'realtime:lobby')
    const reply = fs.findIndex((f) => f.event === 'phx_reply')
    const state = fs.findIndex((f) => f.event === 'presence_state')
    check(`${who}: presence_state follows the join reply`, reply >= 0 && state > reply, fs.map((f) => f.raw))
    checkEqual(`${who}: presence_state is {} in an empty room`, fs[state]?.payload, {})
    // V1 frames carry no join_ref at all (Phoenix's V1 serializer).
    const refs = fs[state] && [fs[state].vsn === '1.0.0' ? fs[reply].ref : fs[state].join_ref, fs[state].ref]
    checkEqual(`${who}: presence_state has the join's join_ref and ref null`, refs, [fs[reply]?.ref, null])
  }

  // act runs action, waits until every participant of want saw `count`
  // presence events of kind `event` and lets stray ones arrive; it returns
  // action's result and the presence events since.
  const act = async (action, want, event, count = 1) => {
    const from = events.length
    const result = await action()
    await Promise.all(want.map((who) => waitFor(isPresence(who, 'lobby', event), { from, count, timeout: 5000 })))
    await sleep(settle)
    return { result, evs: select(isPresence(null, 'lobby'), from), from }
  }
  const joinsOf = (evs, who) => evs.filter((e) => e.who === who && e.event !== 'sync').map((e) => [e.event, e.key, bare(e.changed)])

  // -- track: everyone, the tracker included, sees the join.
  const members = ['A', 'B', 'C', 'D']
  {
    const { result, evs } = await act(() => lobby.A.track({ status: 'online' }), members, 'join')
    checkEqual('track() resolves ok', result, 'ok')
    for (const who of members) checkEqual(`track: ${who} sees alice join`, joinsOf(evs, who), [['join', 'alice', [{ status: 'online' }]]])
    const diff = framesOf(clients.B, (f) => f.event === 'presence_diff').at(-1)
    const meta = diff?.payload?.joins?.alice?.metas?.[0]
    check('presence_diff: joins.alice.metas[0] has the payload and a phx_ref', meta?.status === 'online' && typeof meta?.phx_ref === 'string' && meta.phx_ref !== '', diff?.raw)
    checkEqual('presence_diff: leaves is empty, ref and join_ref null', diff && [diff.payload.leaves, diff.ref, diff.join_ref ?? null], [{}, null, null])
    for (const who of members) checkEqual(`track: ${who}'s presenceState()`, bareState(lobby[who].presenceState()), { alice: [{ status: 'online' }] })
  }

  // -- more members; C has no key, so the server generates one.
  let cKey
  {
    const { evs } = await act(async () => {
      await lobby.B.track({ status: 'away' })
      await lobby.C.track({ n: 1 })
      return lobby.D.track({ status: 'here' })
    }, members, 'join', 3)
    cKey = evs.find((e) => e.event === 'join' && e.changed?.[0]?.n === 1)?.key
    check('a member without a key gets a server-generated UUID key', uuid.test(cKey ?? ''), cKey)
    for (const who of members) {
      checkEqual(`${who} sees bob, C and dave join`, joinsOf(evs, who).map((j) => j[1]).sort(), ['bob', 'dave', cKey].sort())
    }
  }
  const full = () => ({ alice: [{ status: 'online' }], bob: [{ status: 'away' }], [cKey]: [{ n: 1 }], dave: [{ status: 'here' }] })
  for (const who of members) checkEqual(`${who}'s presenceState() has all four`, bareState(lobby[who].presenceState()), full())

  // -- update: one diff, the new meta in joins with phx_ref_prev, the old in leaves.
  {
    const before = lobby.B.presenceState().alice?.[0]?.presence_ref
    const { evs } = await act(() => lobby.A.track({ status: 'busy' }), members, 'leave')
    for (const who of members) {
      checkEqual(`update: ${who} sees alice join (new) and leave (old)`, joinsOf(evs, who), [['join', 'alice', [{ status: 'busy' }]], ['leave', 'alice', [{ status: 'online' }]]])
    }
    const diffs = framesOf(clients.C, (f) => f.event === 'presence_diff' && f.payload?.joins?.alice)
    const d = diffs.at(-1)?.payload
    check('update: one presence_diff whose join carries phx_ref_prev = the old phx_ref and whose leave is the old meta',
      d?.joins?.alice?.metas?.[0]?.phx_ref_prev === before && d?.leaves?.alice?.metas?.[0]?.phx_ref === before && d?.joins?.alice?.metas?.[0]?.phx_ref !== before,
      { before, diff: d })
    for (const who of members) checkEqual(`update: ${who} has one meta for alice`, bareState(lobby[who].presenceState()).alice, [{ status: 'busy' }])
  }

  // -- the same payload again changes nothing.
  {
    const from = events.length
    const diffsBefore = framesOf(clients.B, (f) => f.event === 'presence_diff').length
    checkEqual('track() with the same payload resolves ok', await lobby.A.track({ status: 'busy' }), 'ok')
    await sleep(settle)
    checkEqual('track() with the same payload sends no diff', framesOf(clients.B, (f) => f.event === 'presence_diff').length - diffsBefore, 0)
    checkEqual('track() with the same payload fires no join or leave', select((e) => isPresence()(e) && e.event !== 'sync', from), [])
  }

  // -- a late member gets the whole state; a second meta under the same key.
  {
    const E = connect()
    const from = events.length
    lobby.E = room(E, 'E', 'lobby', { presence: { key: 'alice' } }, { presence: true })
    await joinedAll('lobby', ['E'], { from })
    await waitFor(isPresence('E', 'lobby', 'sync'), { from, timeout: 3000 })
    const want = { ...full(), alice: [{ status: 'busy' }] }
    checkEqual('late member: presenceState() after join has everyone', bareState(lobby.E.presenceState()), want)

    const two = await act(() => lobby.E.track({ status: 'tab2' }), members, 'join')
    for (const who of members) checkEqual(`second tab: ${who} sees another alice join`, joinsOf(two.evs, who), [['join', 'alice', [{ status: 'tab2' }]]])
    checkEqual('second tab: alice has two metas', bareState(lobby.A.presenceState()).alice?.map((m) => m.status).sort(), ['busy', 'tab2'])

    const gone = await act(() => E.removeChannel(lobby.E), members, 'leave')
    for (const who of members) checkEqual(`second tab left: ${who} sees one alice meta leave`, joinsOf(gone.evs, who), [['leave', 'alice', [{ status: 'tab2' }]]])
    checkEqual('second tab left: alice keeps the first meta', bareState(lobby.A.presenceState()).alice, [{ status: 'busy' }])
    delete lobby.E
    E.disconnect()
  }

  // -- untrack: everyone, the member itself included, sees bob leave.
  {
    const { result, evs } = await act(() => lobby.B.untrack(), members, 'leave')
    checkEqual('untrack() resolves ok', result, 'ok')
    for (const who of members) checkEqual(`untrack: ${who} sees bob leave`, joinsOf(evs, who), [['leave', 'bob', [{ status: 'away' }]]])
    checkEqual("untrack: bob is gone from A's state", Object.keys(lobby.A.presenceState()).sort(), ['alice', cKey, 'dave'].sort())
  }

  // -- C disconnects without untracking.
  {
    const { evs } = await act(() => clients.C.disconnect(), ['A', 'B', 'D'], 'leave')
    for (const who of ['A', 'B', 'D']) checkEqual(`disconnect: ${who} sees C's key leave`, joinsOf(evs, who), [['leave', cKey, [{ n: 1 }]]])
  }

  // -- D's socket dies (no close frame, no untrack): the others see dave
  // leave; realtime-js reconnects and rejoins, and gets the state again.
  {
    const from = events.length
    const sock = socketOf(clients.D)
    const { evs } = await act(() => sock.terminate(), ['A', 'B'], 'leave')
    for (const who of ['A', 'B']) checkEqual(`dead socket: ${who} sees dave leave`, joinsOf(evs, who).filter((j) => j[1] === 'dave'), [['leave', 'dave', [{ status: 'here' }]]])
    const back = await waitFor((e) => e.kind === 'status' && e.who === 'D' && e.status === 'SUBSCRIBED', { from, timeout: 20000 })
    check('dead socket: D reconnects and rejoins by itself', !!back, select((e) => e.who === 'D' && e.kind === 'status', from))
    if (back) {
      await sleep(settle)
      const fresh = framesOf(clients.D, (f) => f.event === 'presence_state')
      check('rejoin: a presence_state arrives on the new socket', fresh.length === 1 && socketOf(clients.D) !== sock, fresh.map((f) => f.raw))
      checkEqual("rejoin: D's presenceState() is the room without dave", bareState(lobby.D.presenceState()), { alice: [{ status: 'busy' }] })
    }
  }

  await trackWithoutListening()
})

// A member that does not listen to presence (realtime-js then joins with
// presence disabled) can still track, and is seen; event names are
// case-insensitive and a payload that is not an object is refused; the
// sixth presence push within 30 s trips Supabase's client limit (5 per
// 30 s per channel): a system error, the channel closes, and its presence
// leaves.
async function trackWithoutListening() {
  const G = connect()
  const H = connect()
  const hall = { H: room(H, 'H', 'hall', {}, { presence: true }), G: room(G, 'G', 'hall') }
  if (!(await joinedAll('hall', ['H', 'G']))) return
  let from = events.length
  checkEqual('presence disabled: track() resolves ok', await hall.G.track({ k: 1 }), 'ok')
  const seen = await waitFor(isPresence('H', 'hall', 'join'), { from, timeout: 5000 })
  const key = seen?.[0]?.key
  check('presence disabled: the listener sees the track', !!seen && bare(seen[0].changed)[0]?.k === 1, select(isPresence('H', 'hall'), from))

  // Event names are case-insensitive; a payload that is not an object is
  // refused with a reason.
  from = events.length
  checkEqual('presence: "TRACK" in capitals resolves ok', await hall.H.send({ type: 'presence', event: 'TRACK', payload: { k: 'upper' } }), 'ok')
  const upper = await waitFor((e) => isPresence('H', 'hall', 'join')(e) && bare(e.changed)[0]?.k === 'upper', { from, timeout: 5000 })
  check('presence: "TRACK" in capitals is a track', !!upper, select(isPresence('H', 'hall'), from))
  checkEqual('presence: track() of a string resolves error', await hall.H.track('not a map'), 'error')
  const refused = framesOf(H, (f) => f.event === 'phx_reply' && f.topic === 'realtime:hall' && f.payload?.status === 'error')
  checkEqual('presence: the error reply says why', refused.map((f) => f.payload.response), [{ reason: 'Presence track payload must be a map' }])

  from = events.length
  const results = []
  for (let k = 2; k <= 7; k++) results.push(await hall.G.track({ k }, { timeout: 2000 }))
  const sys = await waitFor((e) => e.kind === 'system' && e.who === 'G' && e.ch === 'hall', { from, timeout: 5000 })
  checkEqual('presence limit: the first five pushes in 30 s succeed', results.slice(0, 4), ['ok', 'ok', 'ok', 'ok'])
  checkEqual('presence limit: the sixth gets system error "Client presence rate limit exceeded"', sys?.[0]?.payload,
    { extension: 'system', status: 'error', message: 'Client presence rate limit exceeded', channel: 'hall' })
  const left = await waitFor((e) => isPresence('H', 'hall', 'leave')(e) && e.key === key, { from, timeout: 5000 })
  check('presence limit: the closed channel leaves the room', !!left, select(isPresence('H', 'hall'), from))
  check('presence limit: the channel is closed', !!(await waitFor((e) => e.kind === 'status' && e.who === 'G' && e.ch === 'hall' && e.status !== 'SUBSCRIBED', { from, timeout: 5000 })),
    select((e) => e.who === 'G' && e.ch === 'hall', from))
}

// bare drops presence_ref from metas after checking it is a string.
function bare(metas) {
  return (metas ?? []).map(({ presence_ref, ...rest }) => (typeof presence_ref === 'string' && presence_ref !== '' ? rest : { ...rest, presence_ref }))
}

function bareState(state) {
  return Object.fromEntries(Object.entries(state).map(([k, v]) => [k, bare(v)]))
}
