// SPDX-License-Identifier: MIT
// Counting consumer for the rowcast benchmark: @vlasky/zongji reads the
// binlog from FILE position 4 and counts row changes until N arrived.
//
//   node zongji_count.mjs INSTALL_DIR PORT FILE N SERVER_ID
//
// INSTALL_DIR holds node_modules/@vlasky/zongji.  Prints
// "rows N seconds S" (S from the start call to the N-th row) and exits 0;
// exits 1 on error or after 600 s without finishing.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, port, file, want, serverId] = process.argv.slice(2);
const N = Number(want);
const mod = await import(pathToFileURL(path.join(dir, 'node_modules/@vlasky/zongji/index.js')).href);
const ZongJi = mod.default;

const z = new ZongJi({ host: '127.0.0.1', port: Number(port), user: 'rowcast', password: 'rowcast' });
let n = 0;
let t0 = 0;
const finish = (code, msg) => {
  console.log(msg);
  process.exit(code);
};
z.on('error', (e) => finish(1, 'error ' + (e && e.message ? e.message : e)));
z.on('binlog', (evt) => {
  const t = evt.getTypeName();
  if (t === 'WriteRows' || t === 'UpdateRows' || t === 'DeleteRows') {
    n += evt.rows.length;
    if (n >= N) {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      finish(n === N ? 0 : 1, `rows ${n} seconds ${s.toFixed(6)}`);
    }
  }
});
setTimeout(() => finish(1, `timeout rows ${n}`), 600000).unref();
t0 = process.hrtime.bigint();
z.start({
  serverId: Number(serverId),
  filename: file,
  position: 4,
  includeEvents: ['tablemap', 'writerows', 'updaterows', 'deleterows'],
});
