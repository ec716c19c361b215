// The Node side of the shared conformance replayer (replay.mjs): reads conformance/ from disk and
// registers one node:test test per case and store, plus the suite-shape and self checks. Used by
// the Node package's tests (napi addon, SQLite files) and by the browser package's tests of its
// WebAssembly build in Node (in memory: Node has no IndexedDB).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { CaseFailure, MANIFEST, MEMORY, bind, loadSuite, runCase, selfCheckProblems, suiteProblems } from './replay.mjs'

/** conformance/ of this repository (this file is js/conformance/node-runner.mjs). */
export const conformanceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../conformance')

/** The text of every case file (`*.json` but manifest.json), by name, and manifest.json's text. */
export function readSuite(dir = conformanceDir) {
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json') && f !== MANIFEST) : []
  const texts = Object.fromEntries(names.map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]))
  const manifestPath = path.join(dir, MANIFEST)
  const manifest = fs.existsSync(manifestPath) ? fs.readFileSync(manifestPath, 'utf8') : undefined
  return { texts, manifest }
}

/** SQLite files in a fresh temporary directory per case (the Node package's durable store). */
export const SQLITE = 'sqlite'

/**
 * Registers the suite's tests for `binding` (a package's module namespace) on `stores`: 'memory'
 * and/or SQLITE. `label` names the engine in the test names.
 */
export function registerConformance(binding, { label, stores }) {
  bind(binding)
  const { texts, manifest } = readSuite()
  const { files, cases } = loadSuite(texts)
  for (const mode of stores) {
    for (const { file, caseDef, id } of cases) {
      test(`conformance ${file} / ${id} [${label}, ${mode}]`, async () => {
        if (caseDef === null) assert.fail(`${file} cannot be read or has no cases array`)
        const tmpDir = mode === SQLITE ? fs.mkdtempSync(path.join(os.tmpdir(), 'statesync-conformance-')) : null
        const store =
          tmpDir === null ? MEMORY : { mode, pathOf: (i) => path.join(tmpDir, `replica-${i}.db`), exclusive: true }
        try {
          await runCase(caseDef, store)
        } catch (e) {
          if (e instanceof CaseFailure) assert.fail(`${file} / ${caseDef.name} [${label}, ${mode}]: ${e.message}`)
          throw e
        } finally {
          if (tmpDir !== null) fs.rmSync(tmpDir, { recursive: true, force: true })
        }
      })
    }
  }

  test(`conformance suite shape [${label}]: known keys, unique names, the files and case counts of manifest.json`, () => {
    const problems = suiteProblems(files, manifest)
    assert.deepEqual(problems, [], problems.join('\n'))
  })

  test(`the replayer's own hash matches the README examples [${label}]`, () => {
    assert.deepEqual(selfCheckProblems(), [])
  })
}
