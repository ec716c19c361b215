// Proves that the implementation (ts/, not its shipped declarations) satisfies the shared API
// shape node/index.d.ts (copied to dist/statesync.d.ts by the build) plus the browser additions.
/// <reference path="../../ts/browser.d.ts" />
import * as impl from "../../ts/index.js";
import type * as shape from "../../dist/statesync.js";

// Every export of the shape, with its type, is an export of the implementation.
const check: typeof shape = impl;
void check;

// Instances, class by class (the statics are covered above).
type Instance<C> = C extends abstract new (...args: never[]) => infer I ? I : never;
const state: shape.SyncState = null as unknown as impl.SyncState;
const manager: shape.SyncManager = null as unknown as impl.SyncManager;
const changes: shape.ChangeSet = null as unknown as Instance<typeof impl.ChangeSet>;
void [state, manager, changes];
