// A channel joined with an access token that expires in about 3 s is shut
// down at expiry: a system error naming the expiry, then phx_close, which
// realtime-js reports as CLOSED (and does not rejoin).
import {
  main, connect, channel, subscribed, waitFor, select, check, checkEqual, sleep,
  isStatus, isSystem, frames, closes, events, signJWT, startedAt,
} from './lib.mjs'

main(async () => {
  const client = connect()
  const exp = Math.floor(Date.now() / 1000) + 3
  const token = signJWT({ role: 'authenticated', sub: 'user-1', exp })
  await client.setAuth(token)
  channel(client, 'expiring', [{ name: 'items', table: 'items' }])
  if (!(await subscribed('expiring'))) return

  const join = frames.find((f) => f.dir === 'out' && f.event === 'phx_join' && f.topic === 'realtime:expiring')
  checkEqual('join carries the access token', join?.payload?.access_token, token)

  const from = events.length
  const sys = await waitFor(isSystem('expiring', 'error'), { from, timeout: 15000 })
  const closed = await waitFor(isStatus('expiring', 'CLOSED'), { from, timeout: 5000 })
  const seen = select((e) => e.ch === 'expiring', from)
  check('system error at expiry', !!sys, seen, { extension: 'system', status: 'error', message: 'Token has expired <n> seconds ago' })
  if (sys) {
    const p = sys[0].payload
    check('system error mentions the expiry', /expired/i.test(p?.message ?? ''), p)
    checkEqual('system error extension and channel', [p?.extension, p?.channel], ['system', 'expiring'])
    const late = startedAt + sys[0].t - exp * 1000
    check('expiry noticed at exp (not more than 1 s early, 5 s late)', late > -1000 && late < 5000, `${late} ms after exp`)
  }
  check('channel reports CLOSED', !!closed, seen)
  if (sys && closed) check('system error comes before CLOSED', events.indexOf(sys[0]) < events.indexOf(closed[0]), seen)
  const close = frames.find((f) => f.dir === 'in' && f.event === 'phx_close' && f.topic === 'realtime:expiring')
  check('server sent phx_close with ref = join_ref', close && close.ref === join?.ref, close?.raw, `phx_close with ref ${join?.ref}`)

  await sleep(2500)
  check('no rejoin after CLOSED', select(isStatus('expiring', 'SUBSCRIBED'), from).length === 0, select((e) => e.ch === 'expiring', from))
  checkEqual('socket stays open', closes, [])
})
