// Helpers shared by the Node tests: temp dirs, the Rust hub, bounded waiting, typed errors.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { SyncError } from '../index.mjs'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** A fresh temporary directory, removed by `cleanup()`. */
export function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statesync-node-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Resolves when `predicate()` holds; rejects after `timeoutMs` (checked every 10 ms). */
export async function waitFor(predicate, timeoutMs = 5000, what = 'condition') {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** The Rust hub binary built by `cargo build -p statesync-hub`, or null. */
export function hubBinary() {
  const target = process.env.CARGO_TARGET_DIR ?? path.join(repoRoot, 'target')
  for (const profile of ['debug', 'release']) {
    const bin = path.join(path.resolve(repoRoot, target), profile, 'statesync-hub')
    if (fs.existsSync(bin)) return bin
  }
  return process.env.STATESYNC_HUB_BIN ?? null
}

/** Starts the Rust hub on 127.0.0.1 (a free port); stopped when the test ends. */
export async function startHub(t, dir, extraArgs = []) {
  const bin = hubBinary()
  if (!bin) throw new Error('statesync-hub is not built: run `cargo build -p statesync-hub`')
  const child = spawn(bin, ['--db', path.join(dir, 'hub.db'), '--listen', '127.0.0.1:0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
    // One log line per request would drown the test output: warnings and errors only.
    env: { ...process.env, STATESYNC_HUB_LOG_LEVEL: 'warn' },
  })
  t.after(() => child.kill('SIGKILL'))
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the hub did not start within 10 s')), 10_000)
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    child.on('exit', (code) => reject(new Error(`the hub exited with ${code}`)))
  })
  return url
}

/** Asserts that `f` throws (or rejects with) a SyncError of `code`; returns it. */
export async function throwsCode(f, code) {
  let error
  try {
    await f()
  } catch (e) {
    error = e
  }
  assert.ok(error instanceof SyncError, `expected a SyncError ${code}, got ${error}`)
  assert.equal(error.code, code, error.message)
  assert.equal(error.name, 'SyncError')
  assert.ok(error instanceof Error)
  return error
}
