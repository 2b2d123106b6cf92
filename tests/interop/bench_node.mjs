// Throughput of the Node client (apache-arrow + grpc-js) for `hyprstream bench flight`:
// DoGet of adapter "bench" (every batch decoded by apache-arrow), then DoPut of the same batches (re-encoded by
// apache-arrow) into a new adapter "bench-node", waiting for every PutResult (each sent once the batch is on disk).
// Prints {"get": {"seconds", "bytes", "rows"}, "put": {"seconds", "bytes", "rows", "acks"}}.
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

const info = await new Promise((ok, bad) => client.GetFlightInfo({ type: 'PATH', path: ['adapters', 'bench'] }, (e, r) => e ? bad(e) : ok(r)));
const modules = JSON.parse(Buffer.from(info.app_metadata).toString('utf8')).modules.map(m => ({ name: m.name, rows: m.rows, cols: m.cols }));

// DoGet: decode every batch.
let t0 = now(), getBytes = 0, getRows = 0, schema = null;
const tables = [];
await new Promise((ok, bad) => {
  const s = client.DoGet({ ticket: info.endpoint[0].ticket.ticket });
  s.on('data', fd => {
    if (!fd.data_header.length) return;
    getBytes += fd.data_header.length + fd.data_body.length;
    const f = frame(Buffer.from(fd.data_header), Buffer.from(fd.data_body));
    if (!schema) { schema = f; return; }
    const t = A.tableFromIPC(Buffer.concat([schema, f, eos]));
    getRows += t.numRows;
    tables.push(t);
  });
  s.on('end', ok); s.on('error', bad);
});
const get = { seconds: now() - t0, bytes: getBytes, rows: getRows };

// DoPut: encode each table with apache-arrow and send it; count acks.
t0 = now();
let putBytes = 0, putRows = 0;
const acks = await new Promise((ok, bad) => {
  let n = 0;
  const call = client.DoPut();
  call.on('data', () => { n++; });
  call.on('error', bad);
  call.on('end', () => ok(n));
  const cmd = Buffer.from(JSON.stringify({ adapter: 'bench-node', create: true, modules }));
  let first = true;
  for (const t of tables) {
    const bytes = Buffer.from(A.tableToIPC(t, 'stream'));
    let p = 0;
    while (p + 8 <= bytes.length) {
      const len = bytes.readInt32LE(p + 4);
      if (len === 0) break;
      const meta = bytes.subarray(p + 8, p + 8 + len);
      const msg = A.Message.decode(meta);
      const bodyLength = Number(msg.bodyLength);
      const body = bytes.subarray(p + 8 + len, p + 8 + len + bodyLength);
      p += 8 + len + bodyLength;
      if (msg.isSchema()) {
        if (!first) continue;
        call.write({ flight_descriptor: { type: 'CMD', cmd }, data_header: meta, data_body: body });
        first = false;
        continue;
      }
      putBytes += meta.length + body.length;
      putRows += t.numRows;
      call.write({ data_header: meta, data_body: body });
    }
  }
  call.end();
});
const put = { seconds: now() - t0, bytes: putBytes, rows: putRows, acks };
client.close();
process.stdout.write(JSON.stringify({ get, put }));
