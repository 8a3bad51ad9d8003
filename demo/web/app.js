// The walcast demo page: a live table of public.demo_items
// (postgres_changes), a chat (broadcast) and who is online (presence), all
// through @supabase/realtime-js against the server that serves this page.
// Every value shown comes from the network, so it is set as text, never as
// HTML.
import { RealtimeClient } from '@supabase/realtime-js'

const $ = (id) => document.getElementById(id)
const maxMessages = 200

const me = {
  id: Math.random().toString(36).slice(2, 12),
  name: (new URLSearchParams(location.search).get('name') || `guest-${Math.floor(1000 + Math.random() * 9000)}`).slice(0, 40),
}

main().catch((err) => {
  setStatus('closed', `failed: ${err.message}`)
  console.error(err)
})

async function main () {
  const res = await fetch('/demo/config.json')
  if (!res.ok) throw new Error(`GET /demo/config.json: ${res.status}`)
  const config = await res.json()
  const table = `${config.schema}.${config.table}`
  $('table-name').textContent = table
  $('psql').textContent = psqlHint(config.databaseUrl, table)

  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const client = new RealtimeClient(`${scheme}://${location.host}/realtime/v1`, {
    params: { apikey: config.anonKey },
  })
  setInterval(() => setStatus(client.connectionState()), 500)

  startRoom(client)
  const rows = new RowsView(client, config)
  $('filter-form').addEventListener('submit', (e) => {
    e.preventDefault()
    rows.subscribe($('filter').value.trim())
  })
  rows.subscribe('')
}

function setStatus (state, text) {
  const el = $('status')
  if (el.dataset.state === state && !text) return
  el.dataset.state = state
  el.textContent = text || { connecting: 'connecting…', open: 'connected', closing: 'closing…', closed: 'disconnected' }[state] || state
}

// psqlHint is what to type to change a row: psql on the local database,
// then SQL.
function psqlHint (url, table) {
  return [
    url ? `$ psql '${url}'` : '$ psql',
    `INSERT INTO ${table} (name, qty) VALUES ('kiwi', 5);`,
    `UPDATE ${table} SET qty = qty + 1, updated_at = now() WHERE name = 'kiwi';`,
    `DELETE FROM ${table} WHERE name = 'kiwi';`,
  ].join('\n')
}

// ---- postgres_changes: the live table

class RowsView {
  constructor (client, config) {
    this.client = client
    this.config = config
    this.rows = new Map() // id -> record
    this.channel = null
    this.generation = 0
  }

  // subscribe (re)joins with filter, which is Supabase's filter syntax
  // ('' for every row). Each filter gets a channel of its own topic.
  subscribe (filter) {
    if (this.channel) this.client.removeChannel(this.channel)
    const generation = ++this.generation
    this.filter = filter
    this.rows.clear()
    this.render(new Set())
    this.state('pending', 'subscribing…')

    const binding = { event: '*', schema: this.config.schema, table: this.config.table }
    if (filter) binding.filter = filter
    const ch = this.client.channel(`demo-rows-${generation}`)
    this.channel = ch
    ch.on('postgres_changes', binding, (change) => {
      if (generation === this.generation) this.apply(change)
    })
    ch.on('system', {}, (msg) => {
      if (generation === this.generation && msg?.status === 'error') this.state('error', msg.message || 'the server refused the subscription')
    })
    ch.subscribe((status, err) => {
      if (generation !== this.generation) return
      if (status === 'SUBSCRIBED') {
        this.live(generation)
      } else if (status === 'CHANNEL_ERROR') {
        this.state('error', err?.message || 'the channel failed')
      } else if (status === 'TIMED_OUT') {
        this.state('error', 'the server did not answer the join; retrying')
      }
    })
  }

  // live loads the rows to start from once the channel listens, so no
  // change falls between the two; changes that arrive while the rows load
  // win over the loaded rows. With a filter there is nothing to load: the
  // filter is evaluated by the server, on changes.
  async live (generation) {
    if (this.filter) {
      this.state('live', `Live: rows that change and match ${this.filter}`)
      return
    }
    this.changed = new Map()
    try {
      const res = await fetch('/demo/rows.json')
      const body = await res.json()
      if (!res.ok) throw new Error(body.error || `GET /demo/rows.json: ${res.status}`)
      if (generation !== this.generation) return
      this.rows = new Map(body.map((r) => [String(r.id), r]))
      for (const [id, rec] of this.changed) {
        if (rec) this.rows.set(id, rec)
        else this.rows.delete(id)
      }
      this.render(new Set())
      this.state('live', 'Live: every row')
    } catch (err) {
      this.state('error', `cannot load the rows: ${err.message}`)
    } finally {
      this.changed = null
    }
  }

  apply (change) {
    const rec = change.eventType === 'DELETE' ? null : change.new
    const id = String((rec || change.old)?.id)
    if (rec) this.rows.set(id, rec)
    else this.rows.delete(id)
    this.changed?.set(id, rec)
    this.render(new Set(rec ? [id] : []))
  }

  render (flash) {
    const body = $('rows').tBodies[0]
    const sorted = [...this.rows.values()].sort((a, b) => Number(b.id) - Number(a.id))
    body.replaceChildren(...sorted.map((r) => {
      const tr = document.createElement('tr')
      tr.dataset.id = String(r.id)
      if (flash.has(String(r.id))) tr.className = 'flash'
      for (const [value, cls] of [[r.id, 'num'], [r.name, ''], [r.qty, 'num'], [when(r.updated_at), '']]) {
        const td = document.createElement('td')
        td.textContent = value ?? ''
        if (cls) td.className = cls
        tr.append(td)
      }
      return tr
    }))
    $('empty').hidden = sorted.length > 0
  }

  state (state, text) {
    const el = $('filter-status')
    el.dataset.state = state
    el.className = state === 'error' ? 'error' : 'muted'
    el.textContent = text
  }
}

function when (ts) {
  const d = new Date(ts)
  return Number.isNaN(d.getTime()) ? ts : d.toLocaleTimeString()
}

// ---- broadcast and presence: the room

function startRoom (client) {
  const room = client.channel('demo-room', {
    config: { broadcast: { self: true }, presence: { key: me.id } },
  })
  room.on('presence', { event: 'sync' }, () => renderOnline(room.presenceState()))
  room.on('broadcast', { event: 'message' }, ({ payload }) => addMessage(payload))
  room.subscribe((status) => {
    if (status === 'SUBSCRIBED') room.track({ name: me.name })
  })

  const name = $('name')
  name.value = me.name
  name.addEventListener('change', () => {
    me.name = name.value.trim().slice(0, 40) || me.name
    name.value = me.name
    room.track({ name: me.name })
  })

  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const input = $('chat-input')
    const text = input.value.trim().slice(0, 500)
    if (!text) return
    room.send({ type: 'broadcast', event: 'message', payload: { from: me.name, id: me.id, text } })
    input.value = ''
  })
}

function renderOnline (state) {
  const people = Object.entries(state).map(([key, metas]) => ({ key, name: String(metas.at(-1)?.name ?? key) }))
  people.sort((a, b) => (b.key === me.id) - (a.key === me.id) || a.name.localeCompare(b.name))
  $('online').replaceChildren(...people.map((p) => {
    const li = document.createElement('li')
    li.textContent = p.key === me.id ? `${p.name} (you)` : p.name
    li.dataset.key = p.key
    if (p.key === me.id) li.className = 'me'
    return li
  }))
  $('online-count').textContent = String(people.length)
}

function addMessage (msg) {
  const list = $('messages')
  const li = document.createElement('li')
  if (msg?.id === me.id) li.className = 'mine'
  const from = document.createElement('span')
  from.className = 'from'
  from.textContent = String(msg?.from ?? '?').slice(0, 40)
  li.append(from, String(msg?.text ?? '').slice(0, 500))
  list.append(li)
  while (list.children.length > maxMessages) list.firstElementChild.remove()
  list.scrollTop = list.scrollHeight
}
