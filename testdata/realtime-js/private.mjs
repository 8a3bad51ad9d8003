// Private channels (config.private: true) checked against the policies on
// realtime.messages that the Go test created: user 1 reads and writes
// room:<user 1>, every authenticated user reads (not writes) the lobby.
// Join refused with Supabase's text, a denied broadcast dropped, an
// allowed one delivered, and setAuth with a token that may no longer read
// closing the channel.
import {
  main, connect, room, joinedAll, waitFor, select, check, checkEqual, sleep, signJWT, events,
} from './lib.mjs'

const USER1 = '00000000-0000-0000-0000-000000000001'
const USER2 = '00000000-0000-0000-0000-000000000002'
const OWN = 'room:' + USER1
const exp = () => Math.floor(Date.now() / 1000) + 3600
const token = (claims) => signJWT({ exp: exp(), ...claims })
const statusOf = (who, ch) => (e) => e.kind === 'status' && e.who === who && e.ch === ch && e.status !== 'SUBSCRIBED'

main(async () => {
  const U1 = connect()
  await U1.setAuth(token({ role: 'authenticated', sub: USER1 }))
  const L = connect()
  await L.setAuth(token({ role: 'service_role' }))
  const own = room(U1, 'U1', OWN, { private: true, broadcast: { self: false } })
  const lobby = room(U1, 'U1', 'lobby', { private: true, broadcast: { self: false } })
  room(L, 'L', OWN, { private: true })
  room(L, 'L', 'lobby', { private: true })
  if (!(await joinedAll(OWN, ['U1', 'L'])) || !(await joinedAll('lobby', ['U1', 'L']))) return

  // Another user, and anon, may not read user 1's room.
  const U2 = connect()
  await U2.setAuth(token({ role: 'authenticated', sub: USER2 }))
  room(U2, 'U2', OWN, { private: true })
  const A = connect()
  room(A, 'A', 'lobby', { private: true })
  for (const [who, ch] of [['U2', OWN], ['A', 'lobby']]) {
    const refused = await waitFor(statusOf(who, ch), { timeout: 10000 })
    const e = refused?.[0]
    check(`${who} may not join private ${ch}`, e?.status === 'CHANNEL_ERROR' &&
      (e.err ?? '').includes('Unauthorized: You do not have permissions to read from this Channel topic: ' + ch), e,
      { status: 'CHANNEL_ERROR', err: 'Unauthorized: You do not have permissions to read from this Channel topic: ' + ch })
  }

  // Write: the lobby is read-only for user 1, its own room is not. The
  // denied broadcast is dropped, so the listener's first is the allowed one.
  let from = events.length
  await lobby.send({ type: 'broadcast', event: 'denied', payload: { n: 1 } })
  await own.send({ type: 'broadcast', event: 'allowed', payload: { n: 2 } })
  await waitFor((e) => e.kind === 'broadcast' && e.who === 'L' && e.event === 'allowed', { from, timeout: 5000 })
  await sleep(500)
  checkEqual('the listener gets only the allowed broadcast',
    select((e) => e.kind === 'broadcast' && e.who === 'L', from).map((e) => [e.ch, e.event]), [[OWN, 'allowed']])

  // A token that may no longer read user 1's room closes it; the lobby stays.
  from = events.length
  await U1.setAuth(token({ role: 'authenticated', sub: USER2 }))
  const sys = await waitFor((e) => e.kind === 'system' && e.who === 'U1' && e.ch === OWN, { from, timeout: 10000 })
  check('lost read: system error with Supabase\'s text', (sys?.[0]?.payload?.message ?? '') ===
    'You no longer have permission to read from this Channel topic: ' + OWN, sys?.[0]?.payload)
  const closed = await waitFor((e) => e.kind === 'status' && e.who === 'U1' && e.ch === OWN && e.status === 'CLOSED', { from, timeout: 5000 })
  check('lost read: the channel is closed', !!closed, select((e) => e.who === 'U1', from))
  await sleep(500)
  checkEqual('the lobby stays joined', select((e) => e.kind === 'status' && e.who === 'U1' && e.ch === 'lobby', from).map((e) => e.status), [])
})
