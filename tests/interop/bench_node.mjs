// Throughput of the Node client (apache-arrow + grpc-js) for `hyprstream bench flight`: DoGet of adapter "bench" in
// the row form and the tile form, float32 and float16 (each whole stream decoded by apache-arrow), then DoPut of what was read into new
// adapters "bench-node-rows" and "bench-node-tiles" (re-encoded by apache-arrow: dictionary-encoded module column),
// waiting for every PutResult (each sent once the batch is durable).
// Prints {"get_rows"|"get_tiles"|"put_rows"|"put_tiles": {"seconds", "bytes", "weights"}}; bytes are Arrow IPC
// bytes (metadata + bodies) on the wire.
// Usage: node bench_node.mjs <host:port> <Flight.proto>
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import * as A from 'apache-arrow';

const [addr, protoPath] = process.argv.slice(2);
const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const { FlightService } = grpc.loadPackageDefinition(def).arrow.flight.protocol;
const client = new FlightService(addr, grpc.credentials.createInsecure(),
  { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });

function frame(h, b) {
  const pad = (8 + h.length + 7) & ~7;
  const o = Buffer.alloc(pad + b.length);
  o.writeUInt32LE(0xFFFFFFFF, 0); o.writeInt32LE(pad - 8, 4); h.copy(o, 8); b.copy(o, pad);
  return o;
}
const eos = Buffer.from([255, 255, 255, 255, 0, 0, 0, 0]);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const info = path => new Promise((ok, bad) => client.GetFlightInfo(
  typeof path === 'string' ? { type: 'CMD', cmd: Buffer.from(path) } : { type: 'PATH', path }, (e, r) => e ? bad(e) : ok(r)));

async function doGet(path) {
  const fi = await info(path);
  const t0 = now();
  let bytes = 0;
  const parts = [];
  await new Promise((ok, bad) => {
    const s = client.DoGet({ ticket: fi.endpoint[0].ticket.ticket });
    s.on('data', fd => {
      if (!fd.data_header.length) return;
      bytes += fd.data_header.length + fd.data_body.length;
      parts.push(frame(Buffer.from(fd.data_header), Buffer.from(fd.data_body)));
    });
    s.on('end', ok); s.on('error', bad);
  });
  parts.push(eos);
  const table = A.tableFromIPC(Buffer.concat(parts));
  const last = table.getChildAt(3);
  if (table.numRows > 0) last.get(table.numRows - 1); // touch the data
  const weights = table.schema.fields[3].name === 'values' ? table.numRows * 512 : table.numRows;
  return { seconds: now() - t0, bytes, weights, table, modules: JSON.parse(Buffer.from(fi.app_metadata).toString('utf8')).modules };
}

async function doPut(adapter, modules, table, weightsPerRow) {
  const t0 = now();
  let bytes = 0, weights = 0;
  const batches = table.batches;
  await new Promise((ok, bad) => {
    let acks = 0, sent = 0;
    const call = client.DoPut();
    call.on('data', () => { acks++; });
    call.on('error', bad);
    call.on('end', () => acks === sent ? ok() : bad(new Error(`${acks} acks for ${sent} batches`)));
    const cmd = Buffer.from(JSON.stringify({ adapter, create: true, modules: modules.map(m => ({ name: m.name, rows: m.rows, cols: m.cols })) }));
    // One IPC stream of every batch (schema and dictionary once), cut into FlightData messages.
    const ipc = Buffer.from(A.tableToIPC(new A.Table(batches), 'stream'));
    let p = 0, first = true;
    while (p + 8 <= ipc.length) {
      const len = ipc.readInt32LE(p + 4);
      if (len === 0) break;
      const meta = ipc.subarray(p + 8, p + 8 + len);
      const msg = A.Message.decode(meta);
      const bodyLength = Number(msg.bodyLength);
      const body = ipc.subarray(p + 8 + len, p + 8 + len + bodyLength);
      p += 8 + len + bodyLength;
      const fd = { data_header: meta, data_body: body };
      if (first) { fd.flight_descriptor = { type: 'CMD', cmd }; first = false; }
      bytes += meta.length + body.length;
      if (msg.isRecordBatch()) { sent++; weights += Number(msg.header().length) * weightsPerRow; }
      call.write(fd);
    }
    call.end();
  });
  return { seconds: now() - t0, bytes, weights };
}

const rows = await doGet(['adapters', 'bench']);
const tiles = await doGet(['tiles', 'bench']);
const half = await doGet(JSON.stringify({ adapter: 'bench', form: 'tiles', dtype: 'float16' }));
const putRows = await doPut('bench-node-rows', rows.modules, rows.table, 1);
const putTiles = await doPut('bench-node-tiles', tiles.modules, tiles.table, 512);
client.close();
const strip = r => ({ seconds: r.seconds, bytes: r.bytes, weights: r.weights });
process.stdout.write(JSON.stringify({ get_rows: strip(rows), get_tiles: strip(tiles), get_tiles_f16: strip(half), put_rows: putRows, put_tiles: putTiles }));
