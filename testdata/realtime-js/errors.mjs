// Subscriptions the server cannot create: the join still succeeds
// (SUBSCRIBED), a system message with status "error" says why, and the
// channel stays joined with its valid bindings working.
import {
  main, connect, channel, step, waitFor, select, check, checkEqual, sleep, subscribed,
  isChange, isStatus, isSystem, isSubscribedToPostgres, events,
} from './lib.mjs'

// [channel, bindings, text the error should contain]
const bad = [
  ['unknown-column', [{ name: 'bad', table: 'items', filter: 'nope=eq.1' }, { name: 'good', event: 'INSERT', table: 'items' }], 'nope'],
  ['not-published', [{ name: 'hidden', table: 'hidden' }], 'hidden'],
  ['unknown-table', [{ name: 'missing', table: 'missing' }], 'missing'],
  ['unknown-operator', [{ name: 'badop', table: 'items', filter: 'qty=zz.1' }], 'zz'],
  ['bad-value', [{ name: 'badvalue', table: 'items', filter: 'qty=eq.abc' }], 'qty'],
]

main(async () => {
  const client = connect()
  channel(client, 'control', [{ name: 'items', table: 'items' }])
  for (const [name, bindings] of bad) channel(client, name, bindings)
  await subscribed('control')

  const waits = bad.map(([name]) =>
    Promise.all([
      waitFor(isStatus(name, 'SUBSCRIBED'), { timeout: 15000 }),
      waitFor(isSystem(name, 'error'), { timeout: 15000 }),
    ])
  )
  for (const [i, [name, bindings, mention]] of bad.entries()) {
    const [status, sys] = await waits[i]
    const seen = select((e) => e.ch === name)
    check(`${name}: subscribe() reports SUBSCRIBED`, !!status, seen)
    check(`${name}: system message with status error`, !!sys, seen, { extension: 'postgres_changes', status: 'error', message: `…${mention}…`, channel: name })
    if (sys) {
      const p = sys[0].payload
      checkEqual(`${name}: system error extension and channel`, [p?.extension, p?.channel], ['postgres_changes', name])
      check(`${name}: system error message mentions ${mention}`, String(p?.message).includes(mention), p?.message)
    }
    if (bindings.length === 1) {
      check(`${name}: no "Subscribed to PostgreSQL" for a channel whose only binding failed`, select(isSubscribedToPostgres(name)).length === 0, seen)
    }
  }

  await sleep(1000)
  for (const [name] of bad) {
    const after = select((e) => e.ch === name && e.kind === 'status' && e.status !== 'SUBSCRIBED')
    check(`${name}: channel stays subscribed`, after.length === 0 && client.getChannels().find((c) => c.topic === `realtime:${name}`)?.state === 'joined', after)
  }

  const from = events.length
  await step('insert')
  check('control channel receives the change', !!(await waitFor(isChange('control'), { from })))
  await sleep(500)
  checkEqual(
    'only the valid bindings fire',
    select((e) => e.kind === 'change' && e.ch !== 'control', from).map((e) => `${e.ch}.${e.b}:${e.eventType}:${e.new?.id}`),
    ['unknown-column.good:INSERT:1']
  )
})
