// Talks to Trawl's Iceberg REST catalog with iceberg-js (a REST catalog
// client; no code of Trawl's), then reads each table it loads with icebird
// through the metadata the catalog returned, as an engine does:
//   node rest.mjs '<JSON request>'
// The request: {catalog: "http://HOST:PORT/iceberg", token, lakeBase: the
// HTTP base serving the lake folder, lakeURI: the lake's file:/// prefix,
// namespaces: [names to probe], tables: [[namespace, table], ...]}.
// Prints, as JSON, what the catalog answered: the namespaces listed, per
// namespace its metadata, existence and tables (or the error status), per
// table its metadata location, whether that file holds the metadata
// returned, its live data files and their tenant partitions, and the rows
// read (count, distinct ids, per UTC day); and the status of a write.
import { IcebergRestCatalog, IcebergError } from 'iceberg-js'
import { icebergManifests, icebergRead } from 'icebird'

const req = JSON.parse(process.argv[2])
const realFetch = globalThis.fetch
const toHTTP = url => String(url).replace(req.lakeURI, req.lakeBase)
const lakeFetch = (url, init) => realFetch(toHTTP(url), init)

const catalog = new IcebergRestCatalog({ baseUrl: req.catalog, auth: { type: 'bearer', token: req.token } })

// status runs a call and returns its result, or {status} of its error.
async function status (fn) {
  try {
    return await fn()
  } catch (e) {
    if (e instanceof IcebergError) return { status: e.status, type: e.icebergType ?? "", code: e.icebergCode ?? 0 }
    throw e
  }
}

const out = { namespaces: null, namespace: {}, tables: {}, load: {} }
out.namespaces = await status(async () => (await catalog.listNamespaces()).namespaces.map(n => n.namespace.join('.')))
for (const ns of req.namespaces ?? []) {
  out.namespace[ns] = {
    metadata: await status(() => catalog.loadNamespaceMetadata({ namespace: [ns] })),
    exists: await status(() => catalog.namespaceExists({ namespace: [ns] })),
  }
  out.tables[ns] = await status(async () => (await catalog.listTables({ namespace: [ns] })).identifiers.map(i => i.name))
}
for (const [ns, name] of req.tables ?? []) {
  const id = { namespace: [ns], name }
  const res = { exists: await status(() => catalog.tableExists(id)) }
  const loaded = await status(() => catalog.loadTableResult(id))
  if (loaded.status) {
    res.status = loaded.status
    res.type = loaded.type
    out.load[ns + '.' + name] = res
    continue
  }
  const result = loaded
  const metadata = result.metadata
  res.location = result['metadata-location']
  res.config = result.config
  const file = await (await lakeFetch(res.location)).json()
  res.locationHoldsMetadata = file['current-snapshot-id'] === metadata['current-snapshot-id'] && file['table-uuid'] === metadata['table-uuid']
  // The data files the snapshot holds (icebird fetches the manifests
  // through globalThis.fetch: mapped to the lake's HTTP server).
  globalThis.fetch = lakeFetch
  const manifests = await icebergManifests(metadata)
  res.files = []
  res.partitionTenants = []
  for (const m of manifests) {
    for (const e of m.entries) {
      if (e.status === 2 || e.data_file.content) continue
      res.files.push(e.data_file.file_path)
      res.partitionTenants.push(e.data_file.partition.tenant)
    }
  }
  const rows = await icebergRead({ tableUrl: toHTTP(metadata.location), metadata })
  globalThis.fetch = realFetch
  const ids = new Set()
  res.days = {}
  for (const r of rows) {
    ids.add(r.id)
    let t = r.timestamp
    if (typeof t === 'bigint') t = new Date(Number(t / 1000n))
    const day = t.toISOString().slice(0, 10)
    res.days[day] = (res.days[day] ?? 0) + 1
  }
  res.rows = rows.length
  res.distinct = ids.size
  out.load[ns + '.' + name] = res
}
out.create = await status(() => catalog.createNamespace({ namespace: ['intruder'] }))
console.log(JSON.stringify(out, (k, v) => typeof v === 'bigint' ? Number(v) : v))
