// Reads Trawl's Iceberg tables through their metadata, as an engine does,
// with icebird (an Iceberg reader on hyparquet; no code of Trawl's):
//   node read.mjs <http base of the lake folder> <the lake's URI prefix> <table folder>...
// The tables name their files file:///…/lake/…: the prefix is mapped to
// the HTTP server that serves the lake folder. Prints, per table, the
// rows, the distinct ids and the rows per UTC day of the current snapshot,
// as JSON.
import { icebergMetadata, icebergRead } from 'icebird'

const [base, lakeURI, ...tables] = process.argv.slice(2)
const realFetch = globalThis.fetch
globalThis.fetch = (url, init) => realFetch(String(url).replace(lakeURI, base), init)

const out = {}
for (const table of tables) {
  const tableUrl = base + table
  const metadata = await icebergMetadata({ tableUrl })
  const res = { rows: 0, distinct: 0, days: {}, operations: metadata.snapshots.map(s => s.summary?.operation ?? '') }
  let rows = []
  try {
    rows = await icebergRead({ tableUrl, metadata })
  } catch (e) {
    if (!String(e.message).includes('No data manifest files')) throw e
  }
  const ids = new Set()
  for (const r of rows) {
    ids.add(r.id)
    let t = r.timestamp
    if (typeof t === 'bigint') t = new Date(Number(t / 1000n))
    const day = t.toISOString().slice(0, 10)
    res.days[day] = (res.days[day] ?? 0) + 1
  }
  res.rows = rows.length
  res.distinct = ids.size
  out[table] = res
}
console.log(JSON.stringify(out))
