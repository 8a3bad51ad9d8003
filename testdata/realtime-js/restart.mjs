// A server restart during a subscription: the server closes the socket with
// 1012 on SIGTERM, realtime-js reconnects and rejoins by itself, and a change
// committed after the rejoin arrives (once).
import {
  main, connect, channel, subscribed, step, waitFor, select, check, checkEqual, sleep,
  isChange, isStatus, closes, events, socketCount,
} from './lib.mjs'

main(async () => {
  const client = connect()
  channel(client, 'restart', [{ name: 'items', table: 'items' }])
  if (!(await subscribed('restart'))) return

  let from = events.length
  await step('insert-before')
  check('change before the restart arrives', !!(await waitFor(isChange('restart'), { from })), select(isChange(), from))

  from = events.length
  await step('restart') // SIGTERM, wait for exit, start again on the same port and slot
  const err = await waitFor(isStatus('restart', 'CHANNEL_ERROR'), { from, timeout: 15000 })
  check('channel reports CHANNEL_ERROR when the socket closes', !!err, select((e) => e.ch === 'restart', from))
  checkEqual('server closed the socket with 1012', closes.slice(0, 1).map((c) => c.code), [1012])
  const back = await subscribed('restart', { from, timeout: 40000 })
  check('client reconnected on a new socket', socketCount >= 2, socketCount)
  if (!back) return

  from = events.length
  await step('insert-after')
  await waitFor(isChange('restart'), { from })
  await sleep(500)
  checkEqual(
    'change committed after the rejoin arrives once',
    select(isChange('restart'), from).map((e) => `${e.eventType}:${e.new?.id}`),
    ['INSERT:2']
  )
  check('no further status change after the rejoin', select((e) => e.kind === 'status', from).length === 0, select((e) => e.kind === 'status', from))
})
