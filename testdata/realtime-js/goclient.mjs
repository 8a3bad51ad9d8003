// Interop with the Go client (package client): realtime-js and the Go
// client in one room see each other's presence (join, merged state, leave)
// and broadcasts (JSON both ways, raw bytes from Go under vsn 2.0.0). The
// Go side's own checks run in its steps (conformance/goclient_test.go).
import { main, connect, room, joinedAll, waitFor, select, check, checkEqual, step, isBroadcast, isPresence, env } from './lib.mjs'

// bare drops the presence_ref realtime-js adds to each meta.
const bare = (state) =>
  Object.fromEntries(Object.entries(state).map(([k, metas]) => [k, metas.map(({ presence_ref, ...m }) => m)]))

main(async () => {
  const js = connect()
  const ch = room(js, 'JS', 'interop', { presence: { key: 'js' } }, { presence: true })
  if (!(await joinedAll('interop', ['JS']))) return
  checkEqual('realtime-js track() resolves ok', await ch.track({ name: 'js' }), 'ok')

  // The Go client joins, tracks {name: "go"}, waits until it sees js, and
  // broadcasts.
  await step('go-join')
  const joined = await waitFor((e) => isPresence('JS', 'interop', 'join')(e) && e.key === 'go', { timeout: 5000 })
  check('realtime-js sees the Go client join', !!joined, select(isPresence('JS', 'interop')))
  checkEqual('realtime-js presenceState() holds both', bare(ch.presenceState()), { js: [{ name: 'js' }], go: [{ name: 'go' }] })
  const json = await waitFor(isBroadcast('JS', 'interop', 'from-go'), { timeout: 5000 })
  checkEqual('a JSON broadcast from Go arrives as sent', json?.[0]?.payload, { n: 1, s: 'é' })
  if (env.vsn === '2.0.0') {
    const bin = await waitFor(isBroadcast('JS', 'interop', 'bin-go'), { timeout: 5000 })
    checkEqual('raw bytes from Go arrive as an ArrayBuffer', bin?.[0]?.payload, { arrayBuffer: '0102ff' })
  }

  checkEqual('realtime-js send() resolves ok', await ch.send({ type: 'broadcast', event: 'from-js', payload: { n: 2 } }), 'ok')
  await step('go-heard') // the Go client got from-js and sees js in its state

  checkEqual('realtime-js untrack() resolves ok', await ch.untrack(), 'ok')
  await step('go-saw-leave') // the Go client saw js leave
})
