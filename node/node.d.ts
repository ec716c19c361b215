// The Node package's types: the API both JavaScript packages share (index.d.ts, which the
// browser package ships as the shape it implements) and what only Node has (cloud.d.ts).
export * from './index.js'
export * from './cloud.js'
