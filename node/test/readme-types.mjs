// Type-checks the JavaScript examples of the READMEs (README.md, node/README.md, wasm/README.md)
// under `tsc --strict` (checkJs): every ```js or ```ts block, as written, against the published
// types. `statesync` resolves to node/node.d.ts (the shared shape and Node's additions); `statesync-wasm` to the declarations the
// browser package ships (wasm/ts/index.d.ts beside node/index.d.ts as statesync.d.ts and the
// browser additions, laid out as wasm/build.sh lays them out in wasm/dist).
// Usage (scripts/test-node.sh runs it): node test/readme-types.mjs   (from node/)
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const READMES = ['README.md', 'node/README.md', 'wasm/README.md']

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'statesync-readme-types-'))
try {
  // The browser package's declarations, as wasm/dist has them.
  const wasmTypes = path.join(out, 'statesync-wasm')
  fs.mkdirSync(wasmTypes)
  fs.copyFileSync(path.join(root, 'wasm/ts/index.d.ts'), path.join(wasmTypes, 'index.d.ts'))
  fs.copyFileSync(path.join(root, 'wasm/ts/browser.d.ts'), path.join(wasmTypes, 'browser.d.ts'))
  fs.copyFileSync(path.join(root, 'node/index.d.ts'), path.join(wasmTypes, 'statesync.d.ts'))

  const files = []
  for (const readme of READMES) {
    const lines = fs.readFileSync(path.join(root, readme), 'utf8').split('\n')
    let block = null
    lines.forEach((line, i) => {
      if (block === null) {
        const open = /^```(js|ts)$/.exec(line)
        if (open) block = { lang: open[1], start: i + 1, lines: [] }
      } else if (line === '```') {
        // One file per block, named after where it is: tsc's messages point at README line + offset.
        const name = `${readme.replace(/[/.]/g, '_')}_line${block.start}.${block.lang === 'ts' ? 'mts' : 'mjs'}`
        fs.writeFileSync(path.join(out, name), block.lines.join('\n') + '\n')
        files.push(name)
        block = null
      } else {
        block.lines.push(line)
      }
    })
    if (block !== null) throw new Error(`${readme}: a code block from line ${block.start} is not closed`)
  }
  if (files.length < 4) throw new Error(`only ${files.length} js/ts blocks found in ${READMES.join(', ')}`)

  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'ES2022',
      moduleResolution: 'bundler',
      lib: ['ES2022', 'DOM', 'ESNext.Disposable'],
      strict: true,
      allowJs: true,
      checkJs: true,
      noEmit: true,
      skipLibCheck: false,
      types: [],
      paths: {
        statesync: [path.join(root, 'node/node.d.ts')],
        'statesync-wasm': [path.join(wasmTypes, 'index.d.ts')],
      },
    },
    files,
  }
  fs.writeFileSync(path.join(out, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2))
  const tsc = path.join(here, '../node_modules/typescript/bin/tsc')
  try {
    execFileSync(process.execPath, [tsc, '-p', out, '--pretty', 'false'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    })
  } catch (error) {
    process.stderr.write(String(error.stdout ?? '') + String(error.stderr ?? ''))
    process.stderr.write(`the README examples do not type-check under tsc --strict (files in ${out})\n`)
    process.exitCode = 1
  }
  if (process.exitCode !== 1)
    console.log(`${files.length} README examples type-check (tsc --strict): ${files.join(', ')}`)
} finally {
  if (process.exitCode !== 1) fs.rmSync(out, { recursive: true, force: true })
}
