// Every filter operator family, not. forms, quoting and AND-joined filters,
// one channel per filter on one socket. Rows inserted by step "insert"
// (see conformance_test.go):
//
//   id | name   | qty | price | flag  | note
//    1 | apple  |   5 |  1.50 | true  | null
//    2 | Banana |  10 |   2.5 | false | x
//    3 | cherry |  15 |    10 | null  | y
//    4 | a,b    |  20 |  null | true  | null
//
// Step "delete" deletes row 2 (REPLICA IDENTITY FULL, so filters see the
// whole old row). Each step ends with a row in table `others`, which the
// channel `sentinel` waits for: changes arrive in commit order.
import {
  main, connect, channel, subscribed, step, waitFor, select, checkEqual, check, sleep,
  isChange, events, postgresChangesFilter as f,
} from './lib.mjs'

// [name, filter, ids of the matching rows]
const cases = [
  ['none', undefined, [1, 2, 3, 4]],
  ['empty', '', [1, 2, 3, 4]],
  ['eq', 'qty=eq.10', [2]],
  ['eq-quoted', f().eq('name', 'a,b'), [4]],
  ['neq', 'qty=neq.10', [1, 3, 4]],
  ['lt', 'qty=lt.10', [1]],
  ['lte', 'qty=lte.10', [1, 2]],
  ['gt', 'qty=gt.9', [2, 3, 4]],
  ['gte', 'qty=gte.15', [3, 4]],
  ['gt-numeric', 'price=gt.2', [2, 3]],
  ['in', 'name=in.(apple,cherry)', [1, 3]],
  ['in-quoted', f().in('name', ['a,b', 'Banana']), [2, 4]],
  ['in-int', 'id=in.(2,4,6)', [2, 4]],
  ['like', 'name=like.%an%', [2]],
  ['ilike', 'name=ilike.%A%', [1, 2, 4]],
  ['match', 'name=match.^[ac]', [1, 3, 4]],
  ['imatch', 'name=imatch.^b', [2]],
  ['is-null', 'note=is.null', [1, 4]],
  ['is-true', f().is('flag', true), [1, 4]],
  ['is-false', 'flag=is.false', [2]],
  ['isdistinct', 'note=isdistinct.x', [1, 3, 4]],
  ['not-eq', 'flag=not.eq.true', [2]],
  ['not-in', 'qty=not.in.(5,10)', [3, 4]],
  ['not-is', 'note=not.is.null', [2, 3]],
  ['not-isdistinct', 'note=not.isdistinct.x', [2]],
  ['not-like', f().not('name', 'like', '%a%'), [3]],
  ['and', 'qty=gte.10,name=like.%e%', [3]],
  ['and-3', f().is('flag', true).lt('qty', 10).is('note', null), [1]],
]

const text = (filter) => (filter === undefined ? '(no filter)' : typeof filter === 'string' ? filter : filter.build())

main(async () => {
  const client = connect()
  channel(client, 'sentinel', [{ name: 'others', table: 'others' }])
  for (const [name, filter] of cases) channel(client, `f-${name}`, [{ name, table: 'items', filter }])
  const ok = await Promise.all([subscribed('sentinel'), ...cases.map(([name]) => subscribed(`f-${name}`))])
  if (!ok.every(Boolean)) return

  const run = async (name, n) => {
    const from = events.length
    await step(name)
    check(`${name}: sentinel arrives`, !!(await waitFor(isChange('sentinel'), { from, count: n })))
    await sleep(500)
    return from
  }

  let from = await run('insert', 1)
  for (const [name, filter, want] of cases) {
    const got = select(isChange(`f-${name}`), from).map((e) => `${e.eventType}:${e.new?.id}`)
    checkEqual(`INSERT ${name} ${JSON.stringify(text(filter))}`, got, want.map((id) => `INSERT:${id}`))
  }

  from = await run('delete', 1)
  for (const [name, filter, want] of cases) {
    const got = select(isChange(`f-${name}`), from).map((e) => `${e.eventType}:${e.old?.id}`)
    checkEqual(`DELETE ${name} ${JSON.stringify(text(filter))}`, got, want.includes(2) ? ['DELETE:2'] : [])
  }
})
