#!/usr/bin/env node
// A settings-sync client: your settings in a SQLite replica, edited offline, synced with a hub.
// The Node twin of examples/python/settings_client.py: both can share a hub (and its data).
//
// examples (values are JSON, like 14 or true, or else plain text):
//   node settings_client.mjs --db laptop.db set theme dark
//   node settings_client.mjs --db laptop.db show
//   node settings_client.mjs --db laptop.db sync --hub http://127.0.0.1:7878
//   node settings_client.mjs --db laptop.db sync --hub http://127.0.0.1:7878 --watch 2

import { parseArgs } from 'node:util'
import { HttpTransport, SyncError, SyncManager } from 'statesync'

const COLLECTION = 'settings'
const USAGE = `usage: node settings_client.mjs [--db FILE] COMMAND

  set KEY VALUE                       set a setting (offline); VALUE is JSON, or plain text
  unset KEY                           delete a setting (offline)
  show                                print the settings
  sync --hub URL [--token T] [--watch SECONDS]
                                      sync with a hub, then (--watch) keep syncing

  --db FILE   the replica's SQLite file (default: settings.db)`

/** JSON if it parses (`42`, `true`, `{"a": 1}`), else the text itself. */
function parseValue(text) {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const valueOf = (state) => (state.data !== null && typeof state.data === 'object' ? state.data.value : state.data)

function set(replica, key, value) {
  // getState is null for missing and deleted settings: both are created (again).
  if (replica.getState(key) === null) replica.createState({ value }, { id: key, collection: COLLECTION })
  else replica.updateState(key, { value })
  console.log(`${key} = ${JSON.stringify(value)} (offline until the next sync)`)
}

function show(replica) {
  const states = replica.listStates({ collection: COLLECTION }).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  for (const state of states) console.log(`${state.id} = ${JSON.stringify(valueOf(state))}`)
  const pending = replica.pendingOperations().length
  console.log(`(${pending} change${pending === 1 ? '' : 's'} not synced yet, node ${replica.nodeId})`)
}

const COUNTS = ['created', 'updated', 'unchanged', 'ignored', 'conflicts', 'resolved', 'rejected']
const counts = (result) =>
  COUNTS.filter((name) => result[name])
    .map((name) => `${result[name]} ${name}`)
    .join(', ') || 'nothing'

async function sync(replica, hub, watchSeconds) {
  const report = await replica.sync(hub, { collections: [COLLECTION] })
  console.log(`synced: pulled ${counts(report.pulled)}; pushed ${counts(report.pushed)}`)
  if (watchSeconds === undefined) return

  // Ctrl-c or SIGTERM ends the loop below; events() keeps the process alive until then.
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  process.once('SIGTERM', () => stop.abort())
  const events = replica.events({ signal: stop.signal })
  // An async generator starts when first asked for a value: ask now, so that it is listening
  // before auto-sync's first round can emit anything.
  const first = events.next()
  replica.startAutoSync(Math.round(watchSeconds * 1000), hub, { collections: [COLLECTION] })
  console.log(`watching every ${watchSeconds} s (ctrl-c to stop)`)
  for (let next = await first; !next.done; next = await events.next()) {
    const event = next.value
    const { state } = event
    if (state && state.modifiedBy !== replica.nodeId) {
      const change = state.deleted ? 'deleted' : `= ${JSON.stringify(valueOf(state))}`
      console.log(`${state.id} ${change} (from ${state.modifiedBy})`)
    } else if (event.name === 'syncFailed') {
      console.log(`sync failed, retrying: ${event.message}`)
    }
  }
  await replica.stopAutoSync()
  console.log('stopped')
}

async function main(argv) {
  let values, command, rest
  try {
    ;({
      values,
      positionals: [command, ...rest],
    } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        db: { type: 'string', default: 'settings.db' },
        hub: { type: 'string' },
        token: { type: 'string' },
        watch: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
    const arity = { set: 2, unset: 1, show: 0, sync: 0 }[command]
    if (values.help || arity === undefined || rest.length !== arity) throw new Error('')
    if (command === 'sync' && !values.hub) throw new Error('sync needs --hub URL')
    if (values.watch !== undefined && !(Number(values.watch) > 0)) throw new Error('--watch takes a number of seconds')
  } catch (error) {
    if (error.message) console.error(`error: ${error.message}`)
    console.error(USAGE)
    return 2
  }

  let replica
  try {
    replica = await SyncManager.open({ path: values.db })
    if (command === 'set') set(replica, rest[0], parseValue(rest[1]))
    else if (command === 'unset') {
      replica.deleteState(rest[0])
      console.log(`${rest[0]} deleted (offline until the next sync)`)
    } else if (command === 'show') show(replica)
    else {
      const headers = values.token ? { Authorization: `Bearer ${values.token}` } : undefined
      const watch = values.watch === undefined ? undefined : Number(values.watch)
      await sync(replica, new HttpTransport(values.hub, { headers }), watch)
    }
  } catch (error) {
    if (!(error instanceof SyncError)) throw error
    console.error(`error: ${error.code}: ${error.message}`)
    return 1
  } finally {
    await replica?.close()
  }
  return 0
}

process.exitCode = await main(process.argv.slice(2))
