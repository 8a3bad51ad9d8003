// INSERT, UPDATE and DELETE reach the right callbacks with the right
// eventType, new and old; a change satisfying two bindings of one channel
// (INSERT and *) fires each once, in one postgres_changes message.
import {
  main, connect, channel, subscribed, step, waitFor, select, check, checkEqual, note, sleep,
  isChange, frames, events,
} from './lib.mjs'

const CREATED_MS = Date.UTC(2025, 0, 2, 3, 4, 5, 678) // items.created default

// The row inserted by step "insert" (see conformance_test.go), as realtime-js
// hands it to callbacks; `created` is compared as an instant separately.
const row = { id: 1, name: 'apple', qty: 5, price: 1.5, flag: true, note: null, tags: ['a', 'b'], meta: { k: [1, 2] } }
const updated = { ...row, qty: 6, note: 'ripe' }

const COLUMNS = [
  { name: 'id', type: 'int4' },
  { name: 'name', type: 'text' },
  { name: 'qty', type: 'int4' },
  { name: 'price', type: 'numeric' },
  { name: 'flag', type: 'bool' },
  { name: 'note', type: 'text' },
  { name: 'tags', type: '_text' },
  { name: 'meta', type: 'jsonb' },
  { name: 'created', type: 'timestamptz' },
]

const withoutCreated = (r) => {
  const { created, ...rest } = r ?? {}
  return rest
}

main(async () => {
  const client = connect()
  const ch = channel(client, 'changes', [
    { name: 'all', event: '*', table: 'items' },
    { name: 'ins', event: 'INSERT', table: 'items' },
    { name: 'upd', event: 'UPDATE', table: 'items' },
    { name: 'del', event: 'DELETE', table: 'items' },
    { name: 'others', event: '*', table: 'others' },
  ])
  if (!(await subscribed('changes'))) return

  const system = events.find((e) => e.kind === 'system' && e.ch === 'changes')
  checkEqual('system message payload', system?.payload, {
    extension: 'postgres_changes',
    status: 'ok',
    message: 'Subscribed to PostgreSQL',
    channel: 'changes',
  })

  const ids = Object.fromEntries(ch.bindings.postgres_changes.map((b, i) => [['all', 'ins', 'upd', 'del', 'others'][i], b.id]))
  check(
    'join reply gives every binding a distinct non-zero JSON number id',
    Object.values(ids).every((id) => typeof id === 'number' && Number.isSafeInteger(id) && id !== 0) &&
      new Set(Object.values(ids)).size === 5,
    ids
  )

  // Runs step `name`, waits for `n` more events of binding `all` (or
  // `others`), lets duplicates arrive, and returns every change event since.
  const changesAfter = async (name, b, n) => {
    const from = events.length
    await step(name)
    const got = await waitFor(isChange('changes', b), { from, count: n })
    check(`${name}: ${n} change(s) reach binding ${b}`, !!got, select(isChange('changes'), from))
    await sleep(500)
    return select(isChange('changes'), from)
  }
  const summary = (evs) => evs.map((e) => `${e.b}:${e.eventType}`).sort()

  // INSERT: bindings all and ins, once each.
  let evs = await changesAfter('insert', 'all', 1)
  checkEqual('insert: callbacks fired', summary(evs), ['all:INSERT', 'ins:INSERT'])
  for (const e of evs) {
    checkEqual(`insert (${e.b}): schema, table, eventType, errors, old`, [e.schema, e.table, e.eventType, e.errors, e.old], ['public', 'items', 'INSERT', null, {}])
    checkEqual(`insert (${e.b}): new`, withoutCreated(e.new), row)
    check(`insert (${e.b}): new.created is 2025-01-02T03:04:05.678Z`, Date.parse(e.new?.created) === CREATED_MS, e.new?.created)
    if (e.b === 'all' && e.new?.created !== '2025-01-02T03:04:05.678+00:00') {
      note('timestamptz text differs from Supabase (to_jsonb gives 2025-01-02T03:04:05.678+00:00); same instant', e.new?.created)
    }
    check(
      `insert (${e.b}): commit_timestamp is UTC with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ)`,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.commit_timestamp) && Math.abs(Date.parse(e.commit_timestamp) - Date.now()) < 60000,
      e.commit_timestamp
    )
  }
  const pc = frames.filter((f) => f.dir === 'in' && f.event === 'postgres_changes' && f.topic === 'realtime:changes')
  checkEqual('insert: one postgres_changes message for the two bindings', pc.length, 1)
  if (pc.length > 0) {
    const p = pc[0].payload
    checkEqual('insert: message ids are those of bindings all and ins', [...(p?.ids ?? [])].sort(), [ids.all, ids.ins].sort())
    const columns = p?.data?.columns ?? []
    checkEqual('insert: data.columns names and types, in attnum order', columns.map(({ name, type }) => ({ name, type })), COLUMNS)
    const extraColumnKeys = [...new Set(columns.flatMap((c) => Object.keys(c)))].filter((k) => k !== 'name' && k !== 'type')
    if (extraColumnKeys.length > 0) note('data.columns entries carry keys besides name and type (realtime-js ignores them)', columns)
    const keys = Object.keys(p?.data ?? {})
    const want = ['columns', 'commit_timestamp', 'errors', 'record', 'schema', 'table', 'type']
    checkEqual('insert: data has the keys realtime-js reads', want.filter((k) => keys.includes(k)), want)
    const extra = keys.filter((k) => !want.includes(k))
    if (extra.length > 0) note(`data carries keys besides ${want.join(', ')} (realtime-js ignores them)`, extra)
    checkEqual('insert: frame join_ref and ref are null', [pc[0].join_ref ?? null, pc[0].ref], [null, null])
  }

  // UPDATE with REPLICA IDENTITY FULL: old is the whole previous row.
  evs = await changesAfter('update', 'all', 1)
  checkEqual('update: callbacks fired', summary(evs), ['all:UPDATE', 'upd:UPDATE'])
  for (const e of evs) {
    checkEqual(`update (${e.b}): eventType`, e.eventType, 'UPDATE')
    checkEqual(`update (${e.b}): new`, withoutCreated(e.new), updated)
    checkEqual(`update (${e.b}): old (replica identity full)`, withoutCreated(e.old), row)
    check(`update (${e.b}): old.created kept`, Date.parse(e.old?.created) === CREATED_MS, e.old?.created)
  }

  // DELETE: old is the deleted row, new is empty.
  evs = await changesAfter('delete', 'all', 1)
  checkEqual('delete: callbacks fired', summary(evs), ['all:DELETE', 'del:DELETE'])
  for (const e of evs) {
    checkEqual(`delete (${e.b}): eventType and new`, [e.eventType, e.new], ['DELETE', {}])
    checkEqual(`delete (${e.b}): old (replica identity full)`, withoutCreated(e.old), updated)
  }
  const del = frames.filter((f) => f.dir === 'in' && f.event === 'postgres_changes' && f.payload?.data?.type === 'DELETE').at(-1)
  check('delete: data has old_record and no record key', del && 'old_record' in del.payload.data && !('record' in del.payload.data), del?.payload?.data)

  // Default replica identity: old carries the primary key only.
  evs = await changesAfter('others', 'others', 3)
  checkEqual(
    'others: INSERT, UPDATE, DELETE in commit order with key-only old',
    evs.map((e) => [e.b, e.eventType, e.new, e.old]),
    [
      ['others', 'INSERT', { id: 1, body: 'x' }, {}],
      ['others', 'UPDATE', { id: 1, body: 'y' }, { id: 1 }],
      ['others', 'DELETE', {}, { id: 1 }],
    ]
  )
  checkEqual(
    'one postgres_changes message per change on the channel',
    frames.filter((f) => f.dir === 'in' && f.event === 'postgres_changes').length,
    6
  )
})
