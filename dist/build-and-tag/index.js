// build-and-tag: the action's code is in ../shared/ (one bundle for every action). Built by scripts/build.ts.
import { start } from '../shared/index.js';
await start("build-and-tag");
