// `node --import ./test/helpers/load-recorder.mjs ...`: appends the URL of every module the ESM
// loader loads (ES modules, and CommonJS ones reached by `import`) to the file named by
// $AGENTBUS_LOAD_RECORD, one per line. Used to check what a module pulls in
// (test/sdk-imports.test.ts) and by bench/sdk-import.ts.
import { register } from 'node:module';

if (!process.env.AGENTBUS_LOAD_RECORD) throw new Error('load-recorder: set AGENTBUS_LOAD_RECORD to a file path');
register('./load-recorder-hooks.mjs', import.meta.url);
