import { parse } from 'libpg-query';
const sql = "-- héllo\nCREATE TABLE é (a int);\n\n-- c\nCREATE INDEX CONCURRENTLY i ON é(a);\nSELECT 'x;y'; DO $$ BEGIN PERFORM 1; END $$;\n";
const r = await parse(sql);
console.log(JSON.stringify(r.stmts.map(s => [Object.keys(s.stmt)[0], s.stmt_location, s.stmt_len])));
console.log(JSON.stringify(r.stmts[1].stmt));
